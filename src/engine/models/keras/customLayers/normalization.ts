/**
 * Keras's Normalization preprocessing layer (keras/src/layers/preprocessing/normalization.py), which
 * tfjs-layers lacks: (x − mean) / max(√variance, ε), or with `invert` mean + x · max(√variance, ε), where ε is
 * Keras's backend epsilon. The statistics are per position of the kept `axis` (default the channels) and come
 * either from the config (`mean=`, `variance=` given when the layer was made, as Keras's ConvNeXt does) or,
 * after `adapt()`, from the weights `mean` and `variance`.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import { tf, tfl } from '../../../tfjs/tf';
import { knownDims, shapeList, type LayerArgs } from './layerArgs';

/** keras.backend.epsilon(): the floor Keras puts under the standard deviation. */
const KERAS_EPSILON = 1e-7;

/** A rectangular array of numbers, flattened. */
export interface NumberArray {
  data: number[];
  shape: number[];
}

/** A number or a rectangular nested list of numbers as a flat array and its shape; null for anything else. */
export function numberArray(value: unknown): NumberArray | null {
  if (typeof value === 'number') return Number.isFinite(value) ? { data: [value], shape: [] } : null;
  if (!Array.isArray(value) || value.length === 0) return null;
  const items = value.map(numberArray);
  const first = items[0];
  if (!first || items.some((item) => !item || item.shape.join() !== first.shape.join())) return null;
  return { data: items.flatMap((item) => item!.data), shape: [value.length, ...first.shape] };
}

export interface NormalizationArgs extends LayerArgs {
  axis?: number | number[] | null;
  mean?: unknown;
  variance?: unknown;
  invert?: boolean;
}

export class KerasNormalization extends tfl.layers.Layer {
  static readonly className = 'Normalization';
  private readonly axis: number[];
  private readonly given: { mean: NumberArray; variance: NumberArray } | null;
  /** The config's own values, to give back unchanged. */
  private readonly raw: { mean: unknown; variance: unknown };
  private readonly invert: boolean;
  private keep: number[] = [];
  private broadcast: number[] = [];
  private stored: { mean: LayerVariable; variance: LayerVariable } | null = null;

  constructor(args: NormalizationArgs) {
    super(args);
    this.axis = args.axis === null || args.axis === undefined ? [] : Array.isArray(args.axis) ? args.axis : [args.axis];
    const mean = args.mean === null || args.mean === undefined ? null : numberArray(args.mean);
    const variance = args.variance === null || args.variance === undefined ? null : numberArray(args.variance);
    if ((mean === null) !== (variance === null))
      throw new Error(`layer "${this.name}": mean and variance must both be given or both be weights`);
    this.given = mean && variance ? { mean, variance } : null;
    this.raw = { mean: args.mean ?? null, variance: args.variance ?? null };
    this.invert = args.invert === true;
  }

  override build(inputShape: Shape | Shape[]): void {
    const dims = [0, ...knownDims(shapeList(inputShape)[0], this.name)];
    const rank = dims.length;
    this.keep = [...new Set(this.axis.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
    if (this.keep.some((a) => a < 1 || a >= rank))
      throw new Error(`layer "${this.name}": axis ${JSON.stringify(this.axis)} is outside an input of rank ${rank}`);
    this.broadcast = dims.map((d, i) => (this.keep.includes(i) ? d : 1));
    if (this.given) this.checkGiven(this.given.mean);
    else {
      const shape = this.keep.map((a) => dims[a]);
      this.stored = {
        mean: this.addWeight('mean', shape, 'float32', tfl.initializers.zeros(), undefined, false),
        variance: this.addWeight('variance', shape, 'float32', tfl.initializers.ones(), undefined, false),
      };
    }
    this.built = true;
  }

  /** As Keras's build: the given statistics' axes, from the last, must fit the kept axes (or be 1). */
  private checkGiven(value: NumberArray): void {
    const fits =
      value.shape.length <= this.keep.length &&
      value.shape.every((d, i) => d === 1 || d === this.broadcast[this.keep[this.keep.length - value.shape.length + i]]);
    const kept = this.keep.map((a) => this.broadcast[a]);
    if (!fits)
      throw new Error(
        `layer "${this.name}": a mean of shape [${value.shape.join(', ')}] does not fit axis ${JSON.stringify(this.axis)}, of sizes [${kept.join(', ')}]`,
      );
  }

  /** Keras's placement of given statistics: their last axes on the last kept axes, then broadcast. */
  private givenStatistic(value: NumberArray): Tensor {
    const expanded = this.broadcast.map(() => 1);
    value.shape.forEach((d, i) => {
      expanded[this.keep[this.keep.length - value.shape.length + i]] = d;
    });
    return tf.tensor(value.data, expanded, 'float32').broadcastTo(this.broadcast);
  }

  private statistics(): [Tensor, Tensor] {
    if (this.given) return [this.givenStatistic(this.given.mean), this.givenStatistic(this.given.variance)];
    const { mean, variance } = this.stored!;
    return [mean.read().reshape(this.broadcast), variance.read().reshape(this.broadcast)];
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [mean, variance] = this.statistics();
      const deviation = tf.maximum(tf.sqrt(variance), KERAS_EPSILON);
      return this.invert ? mean.add(x.mul(deviation)) : x.sub(mean).div(deviation);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return shapeList(inputShape)[0];
  }

  override getConfig(): ReturnType<tfl.layers.Layer['getConfig']> {
    return { ...super.getConfig(), axis: this.axis, invert: this.invert, ...(this.raw as unknown as Record<string, never>) };
  }
}
