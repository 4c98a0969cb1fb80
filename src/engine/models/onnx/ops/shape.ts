/**
 * Shape and data-movement ops: Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Split, Shape, Size,
 * Gather, Slice, Pad, Expand, Tile, Identity, Dropout, Constant, ConstantOfShape, Cast. The shape arithmetic that
 * exporters emit (Shape → Gather → Unsqueeze → Concat → Reshape) runs on small int32 tensors whose values
 * are read on the host where an op needs them as numbers.
 */
import type { DataType, Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import type { OnnxNode } from '../onnxFile';
import {
  NHWC_AXIS,
  asNhwc,
  attr,
  logicalShape,
  nhwcValue,
  normaliseAxis,
  numbers,
  plain,
  plainValue,
  required,
  tensorOf,
  type OpFn,
  type Registry,
  type Value,
} from './types';

/** An op's list argument: an attribute before `inputSince`, an (optional) input from it on. */
function listArgument(
  node: OnnxNode,
  inputs: (Value | undefined)[],
  opset: number,
  name: string,
  index: number,
  inputSince: number,
): number[] | null {
  return opset < inputSince ? attr.ints(node, name) : numbers(inputs[index]);
}

const flatten: OpFn = (inputs, node) => {
  const x = plain(required(inputs, 0, node));
  const axis = attr.int(node, 'axis', 1);
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a > x.rank) throw new Error(`Flatten node "${node.name}": axis ${axis} is out of range for rank ${x.rank}.`);
  const rows = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
  return [plainValue(x.reshape([rows, x.size / Math.max(rows, 1) || 0]))];
};

const reshape: OpFn = (inputs, node) => {
  const value = required(inputs, 0, node);
  const x = plain(value);
  const target = numbers(required(inputs, 1, node)) ?? [];
  const allowZero = attr.int(node, 'allowzero', 0) === 1;
  const shape = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
  return [plainValue(x.reshape(shape))];
};

/**
 * tf.transpose with size-1 axes dropped and axes that stay neighbours merged; what is still above rank 4
 * goes as moves of one axis each, every move a rank-4 transpose. wasm's rank-5 transpose is slow (Swin's
 * [windows, tokens, 3, heads, dims] → [3, windows, heads, tokens, dims] took ~90× longer per element than
 * a rank-4 one here).
 */
export function permute(x: Tensor, perm: number[]): Tensor {
  const shape = x.shape;
  const outShape = perm.map((p) => shape[p]);
  const groups: number[][] = [];
  for (const p of perm) {
    if (shape[p] === 1) continue;
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] === p - 1) last.push(p);
    else groups.push([p]);
  }
  if (groups.length <= 1) return x.reshape(outShape);
  const byInput = [...groups].sort((a, b) => a[0] - b[0]);
  let current = byInput.map((g) => g.reduce((n, a) => n * shape[a], 1));
  const order = groups.map((g) => byInput.indexOf(g));
  let y = x.reshape(current);
  if (order.length <= 4) return tf.transpose(y, order).reshape(outShape);
  let at = byInput.map((_, i) => i);
  const product = (dims: number[]) => dims.reduce((n, d) => n * d, 1);
  order.forEach((axis, j) => {
    const i = at.indexOf(axis);
    if (i === j) return;
    // Move the axis at i to j: [before j, j..i, i, after i] → [before j, i, j..i, after i].
    y = tf.transpose(
      y.reshape([product(current.slice(0, j)), product(current.slice(j, i)), current[i], product(current.slice(i + 1))]),
      [0, 2, 1, 3],
    );
    current = [...current.slice(0, j), current[i], ...current.slice(j, i), ...current.slice(i + 1)];
    at = [...at.slice(0, j), at[i], ...at.slice(j, i), ...at.slice(i + 1)];
  });
  return y.reshape(outShape);
}

const transpose: OpFn = (inputs, node) => {
  const value = required(inputs, 0, node);
  const rank = value.tensor.rank;
  const perm = attr.ints(node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (value.nhwc) {
    // One transpose from the stored NHWC order straight to the requested one.
    const physical = perm.map((p) => NHWC_AXIS[p]);
    return [plainValue(physical.every((p, i) => p === i) ? value.tensor : permute(value.tensor, physical))];
  }
  // NHWC → NCHW (what converters put after an NHWC input): keep the data, mark it NHWC-stored.
  if (rank === 4 && perm.join() === '0,3,1,2') return [nhwcValue(value.tensor)];
  return [plainValue(permute(value.tensor, perm))];
};

const squeeze: OpFn = (inputs, node, ctx) => {
  const x = plain(required(inputs, 0, node));
  const axes = listArgument(node, inputs, ctx.opset, 'axes', 1, 13);
  const normalised = axes?.map((a) => normaliseAxis(a, x.rank, node));
  return [plainValue(normalised ? x.reshape(x.shape.filter((_, i) => !normalised.includes(i))) : x.squeeze())];
};

const unsqueeze: OpFn = (inputs, node, ctx) => {
  const x = plain(required(inputs, 0, node));
  const axes = listArgument(node, inputs, ctx.opset, 'axes', 1, 13) ?? [];
  const rank = x.rank + axes.length;
  const inserted = new Set(axes.map((a) => normaliseAxis(a, rank, node)));
  const shape: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) shape.push(inserted.has(i) ? 1 : x.shape[next++]);
  return [plainValue(x.reshape(shape))];
};

const concat: OpFn = (inputs, node) => {
  const values = inputs.filter((v): v is Value => !!v);
  const rank = values[0].tensor.rank;
  const axis = normaliseAxis(attr.int(node, 'axis', 0), rank, node);
  if (values.some((v) => v.nhwc) && values.every((v) => v.tensor.rank === 4)) {
    return [
      nhwcValue(
        tf.concat(
          values.map((v) => asNhwc(v, 'Concat')),
          NHWC_AXIS[axis],
        ),
      ),
    ];
  }
  const tensors = values.map(plain).filter((t) => t.size > 0 || values.length === 1);
  return [plainValue(tensors.length === 1 ? tensors[0] : tf.concat(tensors, axis))];
};

const shapeOp: OpFn = (inputs, node) => {
  const shape = logicalShape(required(inputs, 0, node));
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + shape.length : i, 0), shape.length);
  const start = clamp(attr.int(node, 'start', 0));
  const end = clamp(attr.int(node, 'end', shape.length));
  return [plainValue(tf.tensor1d(shape.slice(start, end), 'int32'))];
};

const size: OpFn = (inputs, node) => [
  plainValue(
    tf.scalar(
      logicalShape(required(inputs, 0, node)).reduce((a, b) => a * b, 1),
      'int32',
    ),
  ),
];

/** Split along one axis: sizes from the 'split' attribute (before 13), the input (13 on), or num_outputs (18). */
const split: OpFn = (inputs, node, ctx) => {
  const value = required(inputs, 0, node);
  const shape = logicalShape(value);
  const axis = normaliseAxis(attr.int(node, 'axis', 0), shape.length, node);
  const dim = shape[axis];
  const count = node.outputs.length;
  let sizes = (ctx.opset < 13 ? attr.ints(node, 'split') : numbers(inputs[1])) ?? null;
  if (!sizes || sizes.length === 0) {
    const parts = ctx.opset >= 18 ? attr.int(node, 'num_outputs', count) : count;
    const chunk = ctx.opset >= 18 ? Math.ceil(dim / parts) : dim / parts;
    if (!Number.isInteger(chunk)) throw new Error(`Split node "${node.name}": ${dim} does not split into ${parts} equal parts.`);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(Math.min(chunk, dim - i * chunk), 0));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== dim)
    throw new Error(`Split node "${node.name}": sizes ${JSON.stringify(sizes)} do not add up to ${dim}.`);
  const physical = value.nhwc ? NHWC_AXIS[axis] : axis;
  const pieces = sizes.length === 1 ? [value.tensor] : tf.split(value.tensor, sizes, physical);
  return pieces.map((tensor) => ({ tensor, nhwc: value.nhwc }));
};

/** numpy broadcasting of two shapes, or null where they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Expand: broadcast to the shape (numpy rules both ways: the input's larger dimensions stay). */
const expand: OpFn = (inputs, node) => {
  const value = required(inputs, 0, node);
  const target = broadcastShapes(logicalShape(value), numbers(required(inputs, 1, node)) ?? []);
  if (!target)
    throw new Error(
      `Expand node "${node.name}": shape [${logicalShape(value).join(', ')}] does not broadcast to [${numbers(inputs[1])!.join(', ')}].`,
    );
  if (value.nhwc && target.length === 4)
    return [
      nhwcValue(
        broadcastTo(
          value.tensor,
          NHWC_AXIS.map((a) => target[a]),
        ),
      ),
    ];
  return [plainValue(broadcastTo(plain(value), target))];
};

function broadcastTo(x: Tensor, shape: number[]): Tensor {
  return x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i]) ? x : tf.broadcastTo(x, shape);
}

/** Tile: repeats per logical axis (permuted for an NHWC-stored value). */
const tile: OpFn = (inputs, node) => {
  const value = required(inputs, 0, node);
  const repeats = numbers(required(inputs, 1, node)) ?? [];
  if (repeats.length !== value.tensor.rank)
    throw new Error(`Tile node "${node.name}" has ${repeats.length} repeats for rank ${value.tensor.rank}.`);
  if (repeats.every((r) => r === 1)) return [value];
  const reps = value.nhwc ? NHWC_AXIS.map((a) => repeats[a]) : repeats;
  return [{ tensor: tf.tile(value.tensor, reps), nhwc: value.nhwc }];
};

/** Indices Gather takes as a slice (one index, or consecutive ones in a vector): its gradient then runs on wasm. */
export function gathersSlice(indices: Value | undefined): boolean {
  const raw = numbers(indices);
  return !!indices && !!raw && raw.length > 0 && indices.tensor.rank <= 1 && raw.every((i, k) => i - raw[0] === k);
}

/**
 * Gather. A scalar index or a run of consecutive indices (a class token, x[:, 0]) is a slice: its
 * gradient is a pad, where tf.gather's needs UnsortedSegmentSum, which wasm lacks.
 */
const gather: OpFn = (inputs, node) => {
  const x = plain(required(inputs, 0, node));
  const indicesValue = required(inputs, 1, node);
  const axis = normaliseAxis(attr.int(node, 'axis', 0), x.rank, node);
  const size = x.shape[axis];
  const raw = numbers(indicesValue) ?? [];
  if (raw.some((i) => i < -size || i >= size)) throw new Error(`Gather node "${node.name}": an index is out of range for size ${size}.`);
  const indices = raw.map((i) => (i < 0 ? i + size : i));
  const shape = indicesValue.tensor.shape;
  const consecutive = indices.length > 0 && indices.every((i, k) => i === indices[0] + k) && shape.length <= 1;
  if (consecutive) {
    const begin = x.shape.map((_, i) => (i === axis ? indices[0] : 0));
    const extent = x.shape.map((d, i) => (i === axis ? indices.length : d));
    const part = tf.slice(x, begin, extent);
    const outShape = [...x.shape.slice(0, axis), ...shape, ...x.shape.slice(axis + 1)];
    return [plainValue(shape.length === 1 ? part : part.reshape(outShape))];
  }
  return [plainValue(tf.gather(x, tf.tensor(indices, shape, 'int32'), axis))];
};

const slice: OpFn = (inputs, node, ctx) => {
  const x = plain(required(inputs, 0, node));
  const starts = listArgument(node, inputs, ctx.opset, 'starts', 1, 10) ?? [];
  const ends = listArgument(node, inputs, ctx.opset, 'ends', 2, 10) ?? [];
  const axes = (listArgument(node, inputs, ctx.opset, 'axes', 3, 10) ?? starts.map((_, i) => i)).map((a) => normaliseAxis(a, x.rank, node));
  const steps = (ctx.opset < 10 ? null : numbers(inputs[4])) ?? starts.map(() => 1);
  const begin = x.shape.map(() => 0);
  const end = [...x.shape];
  const stride = x.shape.map(() => 1);
  axes.forEach((axis, i) => {
    const dim = x.shape[axis];
    const step = steps[i];
    if (step === 0) throw new Error(`Slice node "${node.name}" has step 0.`);
    let s = starts[i] < 0 ? starts[i] + dim : starts[i];
    let e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (step > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1); // -1: through the first element
    }
    begin[axis] = s;
    end[axis] = e;
    stride[axis] = step;
  });
  if (stride.every((s) => s === 1)) {
    return [
      plainValue(
        tf.slice(
          x,
          begin,
          end.map((e, i) => Math.max(e - begin[i], 0)),
        ),
      ),
    ];
  }
  // Steps other than 1 by reverse, slice and reshape, all differentiable (tfjs's StridedSlice has no gradient).
  const unit = (i: number) => stride[i] === 1;
  let y = tf.slice(
    x,
    begin.map((b, i) => (unit(i) ? b : 0)),
    x.shape.map((d, i) => (unit(i) ? Math.max(end[i] - begin[i], 0) : d)),
  );
  stride.forEach((step, axis) => {
    if (step === 1) return;
    const dim = y.shape[axis];
    // A negative step reads the reversed axis forwards.
    const [from, to, k] = step > 0 ? [begin[axis], end[axis], step] : [dim - 1 - begin[axis], dim - 1 - end[axis], -step];
    if (step < 0) y = tf.reverse(y, axis);
    y = stepped(y, axis, from, to, k);
  });
  return [plainValue(y)];
};

/** Every k-th element of [from, to) along one axis: a slice padded to whole groups of k, viewed as [n, k], its first column. */
function stepped(x: Tensor, axis: number, from: number, to: number, k: number): Tensor {
  const dim = x.shape[axis];
  const count = Math.max(Math.ceil((to - from) / k), 0);
  const before = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const after = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outShape = x.shape.map((d, i) => (i === axis ? count : d));
  if (count === 0) return tf.zeros(outShape, x.dtype);
  const available = Math.min(count * k, dim - from);
  let part = tf.slice(x.reshape([before, dim, after]), [0, from, 0], [before, available, after]);
  if (available < count * k)
    part = tf.pad(part, [
      [0, 0],
      [0, count * k - available],
      [0, 0],
    ]);
  return tf.slice(part.reshape([before, count, k, after]), [0, 0, 0, 0], [before, count, 1, after]).reshape(outShape);
}

function edgePad(x: Tensor, pads: [number, number][]): Tensor {
  let y = x;
  pads.forEach(([before, after], axis) => {
    if (!before && !after) return;
    const size = y.shape[axis];
    const parts: Tensor[] = [];
    const edge = (at: number, count: number) => {
      const begin = y.shape.map((_, i) => (i === axis ? at : 0));
      const extent = y.shape.map((d, i) => (i === axis ? 1 : d));
      const reps = y.shape.map((_, i) => (i === axis ? count : 1));
      return tf.tile(tf.slice(y, begin, extent), reps);
    };
    if (before) parts.push(edge(0, before));
    parts.push(y);
    if (after) parts.push(edge(size - 1, after));
    y = tf.concat(parts, axis);
  });
  return y;
}

const pad: OpFn = (inputs, node, ctx) => {
  const value = required(inputs, 0, node);
  const rank = value.tensor.rank;
  const raw = (ctx.opset < 11 ? attr.ints(node, 'pads') : numbers(inputs[1])) ?? [];
  const fill = ctx.opset < 11 ? attr.float(node, 'value', 0) : (numbers(inputs[2])?.[0] ?? 0);
  const axes =
    ctx.opset >= 18 && inputs[3]
      ? (numbers(inputs[3]) ?? []).map((a) => normaliseAxis(a, rank, node))
      : Array.from({ length: rank }, (_, i) => i);
  const logical: [number, number][] = Array.from({ length: rank }, () => [0, 0]);
  axes.forEach((axis, i) => (logical[axis] = [raw[i], raw[i + axes.length]]));
  if (raw.length !== 2 * axes.length) throw new Error(`Pad node "${node.name}" has ${raw.length} pads for ${axes.length} axes.`);
  if (logical.some(([a, b]) => a < 0 || b < 0))
    throw new Error(`Pad node "${node.name}" has negative pads (cropping), which CNN Lens does not support yet.`);
  const mode = attr.string(node, 'mode', 'constant');
  const x = value.tensor;
  const pairs = value.nhwc ? [0, 2, 3, 1].map((axis) => logical[axis]) : logical;
  let y: Tensor;
  if (mode === 'constant') y = tf.pad(x, pairs, fill);
  else if (mode === 'reflect') y = tf.mirrorPad(x, pairs, 'reflect');
  else if (mode === 'edge') y = edgePad(x, pairs);
  else throw new Error(`Pad node "${node.name}" has mode "${mode}"; CNN Lens supports constant, reflect and edge.`);
  return [{ tensor: y, nhwc: value.nhwc }];
};

const passThrough: OpFn = (inputs, node, ctx) => {
  const x = required(inputs, 0, node);
  const training =
    node.opType === 'Dropout' &&
    (attr.int(node, 'is_test', 1) === 0 && !node.attributes.has('is_test') ? false : attr.int(node, 'is_test', 1) === 0);
  // A ratio of 0 drops nothing, in training mode too (torchvision's Swin exports its attention dropout so).
  const ratio = ctx.opset < 12 ? attr.float(node, 'ratio', 0.5) : (numbers(inputs[1])?.[0] ?? 0.5);
  if ((training || (node.opType === 'Dropout' && numbers(inputs[2])?.[0])) && ratio !== 0) {
    throw new Error(`Dropout node "${node.name}" is in training mode; CNN Lens runs models for inference (export in eval mode).`);
  }
  const outputs: (Value | undefined)[] = [x];
  // Dropout's optional mask: all kept at inference.
  if (node.opType === 'Dropout' && node.outputs[1]) outputs.push(plainValue(tf.onesLike(plain(x)).cast('bool')));
  return outputs;
};

const constant: OpFn = (_inputs, node) => {
  const t = attr.tensor(node, 'value');
  if (t) return [plainValue(tensorOf(t))];
  const a = node.attributes;
  if (typeof a.get('value_float') === 'number') return [plainValue(tf.scalar(a.get('value_float') as number))];
  if (Array.isArray(a.get('value_floats'))) return [plainValue(tf.tensor1d(a.get('value_floats') as number[]))];
  if (typeof a.get('value_int') === 'number') return [plainValue(tf.scalar(a.get('value_int') as number, 'int32'))];
  if (Array.isArray(a.get('value_ints'))) return [plainValue(tf.tensor1d(a.get('value_ints') as number[], 'int32'))];
  throw new Error(`Constant node "${node.name}" has no value CNN Lens can read (sparse or string constants are not supported).`);
};

const constantOfShape: OpFn = (inputs, node) => {
  const shape = numbers(required(inputs, 0, node)) ?? [];
  const t = attr.tensor(node, 'value');
  const fill = t ? t.data[0] : 0;
  return [plainValue(tf.fill(shape, fill, t?.dtype ?? 'float32'))];
};

/** TensorProto.DataType → tfjs dtype (float16/double compute as float32, integer types as int32). */
const CAST_TARGETS: Record<number, DataType> = {
  1: 'float32',
  10: 'float32',
  11: 'float32',
  9: 'bool',
  2: 'int32',
  3: 'int32',
  4: 'int32',
  5: 'int32',
  6: 'int32',
  7: 'int32',
  12: 'int32',
  13: 'int32',
};

const cast: OpFn = (inputs, node) => {
  const x = required(inputs, 0, node);
  const to = CAST_TARGETS[attr.int(node, 'to', 1)];
  if (!to) throw new Error(`Cast node "${node.name}" casts to data type ${attr.int(node, 'to', 0)}, which CNN Lens does not support.`);
  return [{ tensor: x.tensor.dtype === to ? x.tensor : x.tensor.cast(to), nhwc: x.nhwc }];
};

export const shapeOps: Registry = {
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Shape: shapeOp,
  Size: size,
  Split: split,
  Expand: expand,
  Tile: tile,
  Gather: gather,
  Slice: slice,
  Pad: pad,
  Identity: passThrough,
  Dropout: passThrough,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Cast: cast,
};
