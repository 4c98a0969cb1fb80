/**
 * What every exporter to ONNX shares: TF.js tensors are channels-last and ONNX's convolutions
 * channels-first, so each tensor is kept in whichever layout its producer made and transposed only where a
 * consumer needs the other (ORT's optimiser removes the pairs that cancel); TF's paddings and kernels in
 * ONNX's terms.
 */
import type { Padding } from '../models/inputGradOps';
import { OnnxGraph } from './onnxGraph';

export class UnsupportedLayerError extends Error {}

/** A tensor of the model inside the graph. `shape` is TF.js's (channels-last), without the batch. */
export interface GraphValue {
  name: string;
  layout: 'nchw' | 'plain';
  shape: number[];
}

/** Leading and trailing padding TF's 'same' adds along one axis. */
export function samePads(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * A TF kernel [kh, kw, in, out] (depthwise: [kh, kw, in, multiplier]) as ONNX's [out, in / group, kh, kw]
 * (depthwise: output channel i · multiplier + m, as TF orders them).
 */
export function onnxKernel(source: Float32Array, [kh, kw, cin, last]: number[], depthwise: boolean): Float32Array {
  const weights = new Float32Array(source.length);
  for (let y = 0; y < kh; y++)
    for (let xx = 0; xx < kw; xx++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < last; o++) {
          const from = ((y * kw + xx) * cin + i) * last + o;
          const to = depthwise ? ((i * last + o) * kh + y) * kw + xx : ((o * cin + i) * kh + y) * kw + xx;
          weights[to] = source[from];
        }
  return weights;
}

export class LayoutWriter {
  readonly graph = new OnnxGraph();
  private readonly transposed = new Map<string, string>();

  /** The tensor in TF.js's own layout (what callers feed and read). */
  plain(value: GraphValue): string {
    if (value.layout === 'plain') return value.name;
    return this.transpose(value.name, [0, 2, 3, 1], value.shape);
  }

  nchw(value: GraphValue): string {
    if (value.layout === 'nchw') return value.name;
    if (value.shape.length !== 3) throw new UnsupportedLayerError(`a ${value.shape.length}-D tensor where an image-shaped one is needed`);
    const [h, w, c] = value.shape;
    return this.transpose(value.name, [0, 3, 1, 2], [c, h, w]);
  }

  private transpose(name: string, perm: number[], shape: number[]): string {
    const key = `${name}:${perm.join('')}`;
    let out = this.transposed.get(key);
    if (!out) {
      out = this.graph.op('Transpose', [name], { perm }, shape);
      this.transposed.set(key, out);
    }
    return out;
  }

  /** ONNX pads [top, left, bottom, right] for TF's padding of an [h, w] input. */
  protected padsFor(
    padding: Padding,
    [h, w]: number[],
    [kh, kw]: number[],
    strides: [number, number],
    dilations: [number, number],
  ): number[] {
    if (Array.isArray(padding)) return [padding[1][0], padding[2][0], padding[1][1], padding[2][1]];
    if (padding === 'valid') return [0, 0, 0, 0];
    const [top, bottom] = samePads(h, kh, strides[0], dilations[0]);
    const [left, right] = samePads(w, kw, strides[1], dilations[1]);
    return [top, left, bottom, right];
  }
}
