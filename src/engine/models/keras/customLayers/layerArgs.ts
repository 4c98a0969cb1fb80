/** What the custom Keras layers share: their constructor arguments' base and how a layer's input shapes arrive. */
import type { Shape } from '@tensorflow/tfjs-layers';
import type { tfl } from '../../../tfjs/tf';

export type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** tfjs passes one shape for one input and a list for several; the layers here take either. */
export function shapeList(inputShape: Shape | Shape[]): Shape[] {
  return (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as Shape[];
}

/** A shape's dimensions that must be known to build weights (all but the batch). */
export function knownDims(shape: Shape, layer: string): number[] {
  const dims = shape.slice(1);
  if (dims.some((d) => d === null))
    throw new Error(`layer "${layer}" needs a fixed input shape, got [${shape.map((d) => d ?? '?').join(', ')}]`);
  return dims as number[];
}
