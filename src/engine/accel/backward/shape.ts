/**
 * Data movement: Identity, Dropout, Transpose, Flatten, Reshape, Squeeze, Unsqueeze, Pad, Slice, Concat,
 * Split, Gather (constant indices), Expand, Tile.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import type { GraphNode, OnnxGraph } from '../onnxGraph';
import { dimsOf, normaliseAxis, range, reduceNode, unbroadcast, unsqueezeNode } from './broadcast';
import type { BackwardRule, BackwardRules } from './types';

const passThrough: BackwardRule = ({ x, dy, accumulate }) => accumulate(x, dy);

const reshapeBack: BackwardRule = ({ g, x, dy, shape, accumulate }) => accumulate(x, g.op('Reshape', [dy, g.op('Shape', [x])], {}, shape));

const transpose: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  // Without a perm, Transpose reverses the axes.
  const perm = (node.attributes.perm as number[] | undefined) ?? range(0, g.shapeOf(x).length + 1).reverse();
  const inverse = perm.map((_, i) => perm.indexOf(i));
  accumulate(x, g.op('Transpose', [dy], { perm: inverse }, shape));
};

/** A Slice node in the graph's opset (attributes before 10). */
function sliceNode(g: OnnxGraph, x: string, starts: number[], ends: number[], axes: number[], shape?: number[], steps?: number[]): string {
  if (g.opset < 10) {
    if (steps?.some((s) => s !== 1)) throw new UnsupportedLayerError(`no strided Slice before opset 10 (the model's is ${g.opset})`);
    return g.op('Slice', [x], { starts, ends, axes }, shape);
  }
  const inputs = [x, g.ints(starts), g.ints(ends), g.ints(axes), ...(steps ? [g.ints(steps)] : [])];
  return g.op('Slice', inputs, {}, shape);
}

/** A zero-filling Pad node in the graph's opset (pads an attribute before 11). */
function padNode(g: OnnxGraph, x: string, pads: number[], shape?: number[]): string {
  return g.opset < 11 ? g.op('Pad', [x], { pads }, shape) : g.op('Pad', [x, g.ints(pads)], {}, shape);
}

/** A node's list argument: an attribute before `since`, a constant input from it on (undefined if computed or absent). */
function listArgument(g: OnnxGraph, node: GraphNode, name: string, index: number, since: number): number[] | undefined {
  if (g.opset < since) return node.attributes[name] as number[] | undefined;
  return node.inputs[index] ? g.intValues(node.inputs[index]) : undefined;
}

function nonBatchAxis(axis: number, op: string): number {
  // The batch is dynamic in the exported graph: no static pad or slice can undo an op across it.
  if (axis === 0) throw new UnsupportedLayerError(`no gradient rule for a ${op} across the batch axis`);
  return axis;
}

/** The gradient of a zero Pad: dy cut back to x's extent. */
const pad: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  const mode = (node.attributes.mode as string | undefined) ?? 'constant';
  if (mode !== 'constant') throw new UnsupportedLayerError(`no gradient rule for a Pad in ${mode} mode`);
  const pads = listArgument(g, node, 'pads', 1, 11);
  if (!pads) throw new UnsupportedLayerError('no gradient rule for a computed Pad');
  const dims = g.shapeOf(x);
  const rank = dims.length + 1;
  const listed = g.opset >= 18 && node.inputs[3] ? g.intValues(node.inputs[3]) : Array.from({ length: rank }, (_, i) => i);
  if (!listed) throw new UnsupportedLayerError('no gradient rule for a Pad with computed axes');
  const axes = listed.map((a) => (a < 0 ? a + rank : a));
  const padded = axes.filter((_, i) => pads[i] !== 0 || pads[i + axes.length] !== 0).map((a) => nonBatchAxis(a, 'Pad'));
  if (pads.some((p) => p < 0)) throw new UnsupportedLayerError('no gradient rule for a cropping Pad');
  if (padded.length === 0) return accumulate(x, dy);
  const before = padded.map((a) => pads[axes.indexOf(a)]);
  const ends = padded.map((a, i) => before[i] + dims[a - 1]);
  accumulate(x, sliceNode(g, dy, before, ends, padded, shape));
};

/** Where a Slice reads along an axis of `size`: its first index and how many it takes (ONNX's clamping rules). */
function sliceExtent(size: number, start: number, end: number, step: number): { first: number; count: number } {
  const clamp = (v: number, low: number, high: number) => Math.min(Math.max(v < 0 ? v + size : v, low), high);
  if (step > 0) {
    const first = clamp(start, 0, size);
    return { first, count: Math.max(0, Math.ceil((clamp(end, 0, size) - first) / step)) };
  }
  const first = clamp(start, 0, size - 1);
  return { first, count: Math.max(0, Math.ceil((clamp(end, -1, size - 1) - first) / step)) };
}

/** Slice bounds that keep every image, whatever the batch size (axes left out list the batch too). */
function keepsWholeBatch(start: number, end: number, step: number): boolean {
  return step === 1 && start === 0 && end >= 2 ** 31 - 1;
}

/** dy's cells spread `step` apart along `axis` (zeros between), for a strided Slice's gradient. */
function spread(g: OnnxGraph, dy: string, dims: number[], axis: number, step: number): { grad: string; dims: number[] } {
  const count = dims[axis - 1];
  // A new axis of 1 after `axis`, padded to `step` at its end, then merged into `axis`.
  const split = [...dims.slice(0, axis - 1), count, 1, ...dims.slice(axis)];
  const rank = split.length + 1;
  const pads = Array<number>(2 * rank).fill(0);
  pads[rank + axis + 1] = step - 1;
  const gapped = padNode(g, g.op('Reshape', [dy, g.ints([0, ...split])]), pads);
  const merged = dims.map((d, i) => (i === axis - 1 ? count * step : d));
  const flat = g.op('Reshape', [gapped, g.ints([0, ...merged])]);
  const kept = dims.map((d, i) => (i === axis - 1 ? (count - 1) * step + 1 : d));
  return { grad: sliceNode(g, flat, [0], [(count - 1) * step + 1], [axis], [...kept]), dims: kept };
}

/** The gradient of a Slice: dy put back where the slice read it (reversed, spread out, padded with zeros). */
const slice: BackwardRule = ({ g, node, x, y, dy, shape, accumulate }) => {
  const starts = listArgument(g, node, 'starts', 1, 10);
  const ends = listArgument(g, node, 'ends', 2, 10);
  if (!starts || !ends) throw new UnsupportedLayerError('no gradient rule for a Slice with computed bounds');
  const dims = g.shapeOf(x);
  const rank = dims.length + 1;
  const axes = (listArgument(g, node, 'axes', 3, 10) ?? starts.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a));
  const steps = (g.opset >= 10 && node.inputs[4] ? g.intValues(node.inputs[4]) : undefined) ?? starts.map(() => 1);
  let grad = dy;
  let current = [...g.shapeOf(y)];
  const pads = Array<number>(2 * rank).fill(0);
  for (let i = 0; i < axes.length; i++) {
    if (axes[i] === 0 && keepsWholeBatch(starts[i], ends[i], steps[i])) continue;
    const axis = nonBatchAxis(axes[i], 'Slice');
    const { first, count } = sliceExtent(dims[axis - 1], starts[i], ends[i], steps[i]);
    if (count === 0) return; // nothing read: no gradient reaches x
    const stride = Math.abs(steps[i]);
    if (steps[i] < 0) grad = sliceNode(g, grad, [-1], [-(2 ** 53)], [axis], [...current], [-1]);
    if (stride > 1) ({ grad, dims: current } = spread(g, grad, current, axis, stride));
    const lowest = steps[i] < 0 ? first - (count - 1) * stride : first;
    pads[axis] = lowest;
    pads[axis + rank] = dims[axis - 1] - lowest - current[axis - 1];
  }
  accumulate(x, padNode(g, grad, pads, shape));
};

/** Split along an axis: sizes an input from opset 13, an attribute before. */
function splitNode(g: OnnxGraph, x: string, axis: number, sizes: string | number[], shapes: (number[] | undefined)[]): string[] {
  const outputs =
    typeof sizes === 'string' || g.opset >= 13
      ? g.node('Split', [x, typeof sizes === 'string' ? sizes : g.ints(sizes)], { axis }, undefined, shapes.length)
      : g.node('Split', [x], { axis, split: sizes }, undefined, shapes.length);
  outputs.forEach((name, i) => shapes[i] && g.shapes.set(name, shapes[i]!));
  return outputs;
}

/** The sizes of the inputs along the axis: static past the first axis, read at run time on it. */
function sizesAlong(g: OnnxGraph, inputs: string[], axis: number): string | number[] {
  if (axis > 0) return inputs.map((input) => dimsOf(g, input)[axis]!);
  if (g.opset < 13)
    throw new UnsupportedLayerError(`no gradient rule for a Concat along the first axis before opset 13 (the model's is ${g.opset})`);
  const first = g.ints([0]);
  return g.op(
    'Concat',
    inputs.map((input) => g.op('Gather', [g.op('Shape', [input]), first], { axis: 0 })),
    { axis: 0 },
  );
}

/** dy cut back into the inputs' parts along the axis. */
const concat: BackwardRule = ({ g, node, dy, wants, accumulate }) => {
  const { inputs } = node;
  if (!inputs.some(wants)) return;
  const axis = normaliseAxis(node.attributes.axis as number, g.shapeOf(node.outputs[0]).length + 1);
  const parts = splitNode(
    g,
    dy,
    axis,
    sizesAlong(g, inputs, axis),
    inputs.map((input) => g.shapes.get(input)),
  );
  inputs.forEach((input, i) => accumulate(input, parts[i]));
};

/** The outputs' gradients put back side by side (zeros for outputs no gradient reached). */
const split: BackwardRule = ({ g, node, x, dys, shape, accumulate }) => {
  const axis = normaliseAxis((node.attributes.axis as number | undefined) ?? 0, g.shapeOf(x).length + 1);
  accumulate(x, dys.length === 1 ? dys[0] : g.op('Concat', dys, { axis }, shape));
};

/**
 * dy padded back to x's extent along `axis`, from `first` on: the pads are static past the first axis
 * and computed from x's size on it.
 */
function padAlong(g: OnnxGraph, dy: string, x: string, axis: number, first: number, count: number, shape?: number[]): string {
  const rank = g.shapeOf(x).length + 1;
  const pads = Array<number>(2 * rank).fill(0);
  pads[axis] = first;
  if (axis > 0) {
    pads[rank + axis] = g.shapeOf(x)[axis - 1] - first - count;
    return padNode(g, dy, pads, shape);
  }
  if (g.opset < 11)
    throw new UnsupportedLayerError(`no gradient rule for a Gather along the first axis before opset 11 (the model's is ${g.opset})`);
  const size = g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([1])]);
  const after = g.op('Sub', [size, g.ints([first + count])]);
  const computed = g.op('Concat', [g.ints(pads.slice(0, rank)), after, g.ints(pads.slice(rank + 1))], { axis: 0 });
  return g.op('Pad', [dy, computed], {}, shape);
}

/**
 * A constant scalar index or run of consecutive indices (a class token, x[:, 0]; q, k and v picked from
 * one tensor) reads a slice: its gradient is dy padded back to x's extent.
 */
const gather: BackwardRule = ({ g, node, x, dy, shape, wants, accumulate }) => {
  if (!wants(x)) return;
  const [, indicesName] = node.inputs;
  const raw = g.intValues(indicesName);
  const dims = g.constantDims(indicesName) ?? [];
  const rank = g.shapeOf(x).length + 1;
  const axis = normaliseAxis((node.attributes.axis as number | undefined) ?? 0, rank);
  const size = axis > 0 ? g.shapeOf(x)[axis - 1] : null;
  const indices = raw?.map((i) => (i < 0 && size !== null ? i + size : i));
  const consecutive = indices && indices.length > 0 && dims.length <= 1 && indices.every((i, k) => i === indices[0] + k && i >= 0);
  if (!consecutive) throw new UnsupportedLayerError('no gradient rule for a Gather of other indices than a constant run');
  const kept = dims.length === 0 ? unsqueezeNode(g, dy, [axis]) : dy;
  accumulate(x, padAlong(g, kept, x, axis, indices[0], indices.length, shape));
};

const expand: BackwardRule = ({ g, x, y, dy, wants, accumulate }) => {
  if (wants(x)) accumulate(x, unbroadcast(g, dy, x, dimsOf(g, y)));
};

/**
 * Each axis of y holds its repeats one after another: split into [repeats, size] and summed over the
 * repeats. The first axis, of unknown size, is split as [repeats, −1].
 */
const tile: BackwardRule = ({ g, node, x, dy, shape, wants, accumulate }) => {
  if (!wants(x)) return;
  const repeats = g.intValues(node.inputs[1]);
  if (!repeats) throw new UnsupportedLayerError('no gradient rule for a Tile with computed repeats');
  if (repeats.every((r) => r === 1)) return accumulate(x, dy);
  const sizes = [repeats[0] > 1 ? -1 : 0, ...g.shapeOf(x)];
  const split = repeats.flatMap((r, i) => (r > 1 ? [r, sizes[i]] : [sizes[i]]));
  const repeatAxes = repeats.flatMap((r, i) => (r > 1 ? [repeats.slice(0, i).filter((q) => q > 1).length + i] : []));
  accumulate(x, reduceNode(g, 'ReduceSum', g.op('Reshape', [dy, g.ints(split)]), repeatAxes, 0, shape));
};

export const shapeRules: BackwardRules = {
  Identity: passThrough,
  Dropout: passThrough,
  Transpose: transpose,
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Pad: pad,
  Slice: slice,
  Concat: concat,
  Split: split,
  Gather: gather,
  Expand: expand,
  Tile: tile,
};
