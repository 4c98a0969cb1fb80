/**
 * Keras's MultiHeadAttention (keras.layers.MultiHeadAttention, Keras 2 and 3), which tfjs-layers lacks, for
 * inference. Keras writes it with einsums (keras/src/layers/attention/multi_head_attention.py); here the same
 * arithmetic is reshapes and matrix products: query, key and value are projected to [heads, key_dim] (value:
 * [heads, value_dim]) per position, the query is scaled by 1/√key_dim, softmax(Q·Kᵀ)·V is taken per head
 * over the attention axes, and the heads are projected back. Attention over several axes (the default for an
 * image-shaped input) is attention over those axes flattened into one; the other axes act as batch, which is
 * how a Swin-style [batch, windows, tokens, channels] input with attention_axes=[2] attends within windows.
 * Called as Keras calls it: (query, value[, key]), key defaulting to value. Masks, gates and sliding windows
 * are refused before a model is built (kerasLayerConfigs.ts); dropout is the identity at inference.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import { tf, tfl } from '../../../tfjs/tf';
import { knownDims, shapeList, type LayerArgs } from './layerArgs';

export interface MultiHeadAttentionArgs extends LayerArgs {
  numHeads: number;
  keyDim: number;
  valueDim?: number | null;
  useBias?: boolean;
  outputShape?: number | number[] | null;
  attentionAxes?: number | number[] | null;
  dropout?: number;
}

/** One of Keras's EinsumDense projections: a kernel [in..., out...] and its bias [out...]. */
interface Projection {
  kernel: LayerVariable;
  bias: LayerVariable | null;
}

const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

export class KerasMultiHeadAttention extends tfl.layers.Layer {
  static readonly className = 'MultiHeadAttention';
  private readonly heads: number;
  private readonly keyDim: number;
  private readonly valueDim: number;
  private readonly useBias: boolean;
  private readonly projected: number | null;
  private readonly axesArg: number[] | null;
  private readonly dropout: number;
  private axes: number[] = [];
  private weightsOf: Record<'query' | 'key' | 'value' | 'output', Projection> | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    this.heads = args.numHeads;
    this.keyDim = args.keyDim;
    this.valueDim = args.valueDim ?? args.keyDim;
    this.useBias = args.useBias ?? true;
    const out = args.outputShape;
    this.projected = out === null || out === undefined ? null : Array.isArray(out) ? out[0] : out;
    this.axesArg = args.attentionAxes === null || args.attentionAxes === undefined ? null : [args.attentionAxes].flat();
    this.dropout = args.dropout ?? 0;
  }

  private projection(name: string, kernelShape: number[], biasShape: number[]): Projection {
    const zeros = tfl.initializers.zeros();
    return {
      kernel: this.addWeight(`${name}/kernel`, kernelShape, 'float32', zeros),
      bias: this.useBias ? this.addWeight(`${name}/bias`, biasShape, 'float32', zeros) : null,
    };
  }

  override build(inputShape: Shape | Shape[]): void {
    const [query, value = query, key = value] = shapeList(inputShape).map((shape) => knownDims(shape, this.name));
    if (key.length !== query.length || value.length !== query.length)
      throw new Error(`layer "${this.name}": query, key and value of different ranks`);
    // Keras counts negative attention axes on the input's rank (keras: (rank - 1) + axis on the projected rank).
    const rank = query.length + 1;
    this.axes = this.axesArg ? this.axesArg.map((a) => (a < 0 ? rank + a : a)) : Array.from({ length: rank - 2 }, (_, i) => i + 1);
    if (!this.axes.length || this.axes.some((a) => a < 1 || a > rank - 2))
      throw new Error(`layer "${this.name}": attention axes ${JSON.stringify(this.axesArg)} do not fit an input of rank ${rank}`);
    const [h, dk, dv] = [this.heads, this.keyDim, this.valueDim];
    this.weightsOf = {
      query: this.projection('query', [query.at(-1)!, h, dk], [h, dk]),
      key: this.projection('key', [key.at(-1)!, h, dk], [h, dk]),
      value: this.projection('value', [value.at(-1)!, h, dv], [h, dv]),
      output: this.projection('attention_output', [h, dv, this.outputDim(query)], [this.outputDim(query)]),
    };
    this.built = true;
  }

  private outputDim(query: number[]): number {
    return this.projected ?? query.at(-1)!;
  }

  /** [batch, ...positions, channels] → [batch, ...positions, heads, size]. */
  private project(x: Tensor, { kernel, bias }: Projection, size: number): Tensor {
    const channels = x.shape.at(-1)!;
    const flat = x.reshape([-1, channels]).matMul(kernel.read().reshape([channels, this.heads * size]));
    const biased = bias ? flat.add(bias.read().reshape([this.heads * size])) : flat;
    return biased.reshape([...x.shape.slice(0, -1), this.heads, size]);
  }

  /** [batch, ...positions, heads, size] with the attention axes last: the transpose to [batch', heads, tokens, size]. */
  private headOrder(rank: number): number[] {
    const others = Array.from({ length: rank - 2 }, (_, i) => i).filter((a) => !this.axes.includes(a));
    return [...others, rank - 2, ...this.axes, rank - 1];
  }

  private toHeads(t: Tensor, order: number[]): Tensor {
    const moved = t.transpose(order);
    const batch = order.slice(0, order.indexOf(t.rank - 2)).map((a) => t.shape[a]);
    return moved.reshape([product(batch), this.heads, product(this.axes.map((a) => t.shape[a])), t.shape.at(-1)!]);
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tf.tidy(() => {
      const [queryIn, valueIn = queryIn, keyIn = valueIn] = Array.isArray(inputs) ? inputs : [inputs];
      const w = this.weightsOf!;
      const query = this.project(queryIn, w.query, this.keyDim).mul(1 / Math.sqrt(this.keyDim));
      const key = this.project(keyIn, w.key, this.keyDim);
      const value = this.project(valueIn, w.value, this.valueDim);
      const order = this.headOrder(query.rank);
      const scores = tf.softmax(tf.matMul(this.toHeads(query, order), this.toHeads(key, order), false, true));
      const attended = tf.matMul(scores, this.toHeads(value, order));
      // Back to [batch, ...positions, heads, value_dim]: undo the flattening, then the transpose.
      const unflat = attended.reshape(order.map((a) => (a === query.rank - 1 ? this.valueDim : query.shape[a])));
      const inverse = order.map((_, i) => order.indexOf(i));
      const merged = unflat.transpose(inverse).reshape([-1, this.heads * this.valueDim]);
      const out = w.output.kernel.read();
      const units = out.shape[out.rank - 1] as number;
      const projected = merged.matMul(out.reshape([this.heads * this.valueDim, units]));
      const biased = w.output.bias ? projected.add(w.output.bias.read()) : projected;
      return biased.reshape([...queryIn.shape.slice(0, -1), units]);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const query = shapeList(inputShape)[0];
    return [...query.slice(0, -1), this.projected ?? query.at(-1)!];
  }

  override getConfig(): ReturnType<tfl.layers.Layer['getConfig']> {
    return {
      ...super.getConfig(),
      numHeads: this.heads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      useBias: this.useBias,
      outputShape: this.projected,
      attentionAxes: this.axesArg,
      dropout: this.dropout,
    };
  }
}
