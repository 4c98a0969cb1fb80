/**
 * What every ONNX op implementation sees. ONNX graphs are NCHW; tfjs convolves and pools in NHWC on the
 * cpu and wasm backends. Values therefore carry their layout: a 4-D value marked `nhwc` holds the logical
 * NCHW tensor [n, c, h, w] physically as [n, h, w, c]. Convolutions and pools produce such values;
 * element-wise ops keep them; ops that depend on axis order either remap the axis (Concat, Softmax,
 * ReduceMean, BatchNormalization, Pad) or take the NCHW tensor back first (Flatten, Reshape, Transpose,
 * Gather, Slice, …), so flattened orders match PyTorch's and maps are never transposed.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { recordingGradients, tf } from '../../../tfjs/tf';
import type { ReluRule } from '../../reluRules';
import type { AttributeValue, OnnxNode, OnnxTensor } from '../onnxFile';

export interface Value {
  tensor: Tensor;
  /** The tensor is 4-D, logically NCHW, stored as NHWC. */
  nhwc: boolean;
}

export interface OpContext {
  opset: number;
  /** A ReLU backward rule (guided backprop, deconvnet) for rectifiers, or null. */
  rule: ReluRule | null;
  /** Load-time data of this node (prepared convolution weights), if any. */
  prepared: unknown;
}

/** Returns one value per node output ('' outputs may be left undefined). */
export type OpFn = (inputs: (Value | undefined)[], node: OnnxNode, ctx: OpContext) => (Value | undefined)[];

/** Logical NCHW axis → physical axis of an NHWC-stored tensor. */
export const NHWC_AXIS = [0, 3, 1, 2];

export function plainValue(tensor: Tensor): Value {
  return { tensor, nhwc: false };
}

export function nhwcValue(tensor: Tensor): Value {
  return { tensor, nhwc: true };
}

/** The tensor in its logical (ONNX) layout. */
export function plain(value: Value): Tensor {
  return value.nhwc ? tf.transpose(value.tensor, [0, 3, 1, 2]) : value.tensor;
}

/** A logically NCHW 4-D value as a physical NHWC tensor. */
export function asNhwc(value: Value, op: string): Tensor4D {
  if (value.nhwc) return value.tensor as Tensor4D;
  if (value.tensor.rank !== 4)
    throw new Error(
      `${op} needs a 4-D [batch, channels, height, width] input; got shape [${value.tensor.shape.join(', ')}] (only 2-D images are supported).`,
    );
  return tf.transpose(value.tensor, [0, 2, 3, 1]) as Tensor4D;
}

export function logicalShape(value: Value): number[] {
  const s = value.tensor.shape as number[];
  return value.nhwc ? [s[0], s[3], s[1], s[2]] : s;
}

export function required(inputs: (Value | undefined)[], i: number, node: OnnxNode): Value {
  const value = inputs[i];
  if (!value) throw new Error(`${node.opType} node "${node.name}" lacks its input ${i + 1}.`);
  return value;
}

/** Host copies of tensors already read: tensors are immutable, and folded shape values are read every run. */
const READ = new WeakMap<Tensor, number[]>();

/** Values of a small integer (shape-like) or float tensor, read on the host (once per tensor). */
export function numbers(value: Value | undefined): number[] | null {
  if (!value) return null;
  let read = READ.get(value.tensor);
  if (!read) {
    read = Array.from(plainData(value));
    READ.set(value.tensor, read);
  }
  return read;
}

function plainData(value: Value): ArrayLike<number> {
  if (!value.nhwc) return value.tensor.dataSync() as ArrayLike<number>;
  const t = plain(value);
  try {
    return t.dataSync() as ArrayLike<number>;
  } finally {
    t.dispose();
  }
}

export function normaliseAxis(axis: number, rank: number, node: OnnxNode): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1))
    throw new Error(`${node.opType} node "${node.name}": axis ${axis} is out of range for rank ${rank}.`);
  return a;
}

export const attr = {
  int(node: OnnxNode, name: string, fallback: number): number {
    const v = node.attributes.get(name);
    return typeof v === 'number' ? v : fallback;
  },
  float(node: OnnxNode, name: string, fallback: number): number {
    const v = node.attributes.get(name);
    return typeof v === 'number' ? v : fallback;
  },
  ints(node: OnnxNode, name: string): number[] | null {
    const v = node.attributes.get(name);
    return Array.isArray(v) ? (v as number[]) : null;
  },
  string(node: OnnxNode, name: string, fallback: string): string {
    const v = node.attributes.get(name);
    return typeof v === 'string' ? v : fallback;
  },
  tensor(node: OnnxNode, name: string): OnnxTensor | null {
    const v: AttributeValue | undefined = node.attributes.get(name);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  },
};

export function tensorOf(t: OnnxTensor): Tensor {
  return tf.tensor(t.data, t.dims, t.dtype);
}

/**
 * Brings binary-op operands to one layout: if any is NHWC-stored, the others are too (a lower-rank
 * operand is aligned to rank 4 first, numpy-style, then permuted), otherwise all stay logical.
 */
export function sameLayout(values: Value[]): { tensors: Tensor[]; nhwc: boolean } {
  const anyNhwc = values.some((v) => v.nhwc);
  if (!anyNhwc || values.some((v) => v.tensor.rank > 4)) return { tensors: values.map(plain), nhwc: false };
  const tensors = values.map((v) => {
    if (v.nhwc) return v.tensor;
    const t = v.tensor;
    if (t.size === 1) return t.reshape([]);
    const aligned = t.rank === 4 ? t : t.reshape([...Array(4 - t.rank).fill(1), ...t.shape]);
    return tf.transpose(aligned, [0, 2, 3, 1]);
  });
  return { tensors, nhwc: true };
}

export type Registry = Record<string, OpFn>;

/**
 * A result that carries no gradient (a comparison, a logical op, a mask) kept off tfjs's tape: tfjs has no
 * gradient for Equal, Less, Greater, LogicalAnd and the like, and a mask computed from the input and fed to
 * Where would otherwise make tf.grad fail.
 */
export function withoutGradient(inputs: Tensor[], fn: (...inputs: Tensor[]) => Tensor): Tensor {
  if (!recordingGradients()) return fn(...inputs);
  const shielded = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => ({
    value: fn(...(args.slice(0, inputs.length) as Tensor[])),
    // Zeros from shapes (the inputs may be disposed by the time gradients run), float32 as tfjs wants them.
    gradFunc: () => inputs.map((t) => tf.zeros(t.shape)),
  }));
  return shielded(...inputs);
}
