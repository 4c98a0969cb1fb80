/** Data movement: Identity, Dropout, Transpose, Flatten, Reshape, Squeeze, Unsqueeze, Pad, Slice, Concat. */
import { UnsupportedLayerError } from '../layoutWriter';
import type { GraphNode, OnnxGraph } from '../onnxGraph';
import type { BackwardRule, BackwardRules } from './types';

const passThrough: BackwardRule = ({ x, dy, accumulate }) => accumulate(x, dy);

const reshapeBack: BackwardRule = ({ g, x, dy, shape, accumulate }) => accumulate(x, g.op('Reshape', [dy, g.op('Shape', [x])], {}, shape));

const transpose: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  const perm = node.attributes.perm as number[];
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

const concat: BackwardRule = ({ g, node, dy, accumulate }) => {
  const axis = node.attributes.axis as number;
  let start = 0;
  for (const input of node.inputs) {
    const size = g.shapeOf(input)[axis - 1];
    accumulate(input, g.op('Slice', [dy, g.ints([start]), g.ints([start + size]), g.ints([axis])], {}, g.shapes.get(input)));
    start += size;
  }
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
};
