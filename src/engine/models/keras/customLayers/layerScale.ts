/**
 * The LayerScale of Keras's ConvNeXt (keras/src/applications/convnext.py, and tf.keras's before it): the
 * input times a learned per-channel vector `gamma` of length `projection_dim`. Keras applications define it
 * in the application's module and do not export it, so a file names it by class alone; kerasConfig.ts accepts
 * it only from that module (Keras 3) or with exactly that config (Keras 2).
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import { tf, tfl } from '../../../tfjs/tf';
import { knownDims, shapeList, type LayerArgs } from './layerArgs';

export interface LayerScaleArgs extends LayerArgs {
  projectionDim: number;
  initValues?: number;
}

export class KerasLayerScale extends tfl.layers.Layer {
  static readonly className = 'LayerScale';
  private readonly projectionDim: number;
  private readonly initValues: number;
  private gamma: LayerVariable | null = null;

  constructor(args: LayerScaleArgs) {
    super(args);
    this.projectionDim = args.projectionDim;
    this.initValues = args.initValues ?? 0;
  }

  override build(inputShape: Shape | Shape[]): void {
    const channels = knownDims(shapeList(inputShape)[0], this.name).at(-1);
    // Keras would broadcast a mismatch into an error at the first call; say so when building instead.
    if (channels !== this.projectionDim)
      throw new Error(`layer "${this.name}": projection_dim ${this.projectionDim} but the input has ${channels} channels`);
    this.gamma = this.addWeight('gamma', [this.projectionDim], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => (Array.isArray(inputs) ? inputs[0] : inputs).mul(this.gamma!.read()));
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeList(inputShape)[0];
  }

  override getConfig(): ReturnType<tfl.layers.Layer['getConfig']> {
    return { ...super.getConfig(), projectionDim: this.projectionDim, initValues: this.initValues };
  }
}
