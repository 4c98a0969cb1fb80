/**
 * What several rules share: tensor shapes with their first axis unknown (it holds the batch, or the batch
 * folded with heads or windows), numpy broadcasting undone, and reductions and axis insertions written in
 * the graph's opset.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import type { OnnxGraph } from '../onnxGraph';

/** A full shape; null where the size is only known at run time (a computed tensor's first axis). */
export type Dims = (number | null)[];

/** A tensor's full shape: a constant's own dims, a computed tensor's static shape after an unknown first axis. */
export function dimsOf(g: OnnxGraph, name: string): Dims {
  return g.constantDims(name) ?? [null, ...g.shapeOf(name)];
}

/** An axis attribute in [0, rank). */
export function normaliseAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(to - from, 0) }, (_, i) => from + i);
}

/** A reduction over `axes`: the axes are an input from opset 13 for ReduceSum and from 18 for the others. */
export function reduceNode(g: OnnxGraph, op: string, x: string, axes: number[], keepdims: number, shape?: number[]): string {
  const axesAsInput = g.opset >= (op === 'ReduceSum' ? 13 : 18);
  return axesAsInput ? g.op(op, [x, g.ints(axes)], { keepdims }, shape) : g.op(op, [x], { axes, keepdims }, shape);
}

/** Unsqueeze at `axes` (an input from opset 13). */
export function unsqueezeNode(g: OnnxGraph, x: string, axes: number[], shape?: number[]): string {
  return g.opset >= 13 ? g.op('Unsqueeze', [x, g.ints(axes)], {}, shape) : g.op('Unsqueeze', [x], { axes }, shape);
}

/**
 * A gradient of shape `from` (the broadcast result) summed back to `operand`'s shape: over the leading axes
 * the operand lacks and over those where it has size 1. Sizes known only at run time must match: an
 * operand's unknown first axis against a known size above 1 could be either, and is not guessed.
 */
export function unbroadcast(g: OnnxGraph, gradient: string, operand: string, from: Dims): string {
  const to = dimsOf(g, operand);
  const lead = from.length - to.length;
  if (lead < 0) throw new Error(`internal: a gradient of rank ${from.length} for a tensor of rank ${to.length}`);
  const ones: number[] = [];
  to.forEach((size, i) => {
    const wide = from[i + lead];
    if (size === wide || (size === null && wide === 1)) return;
    if (size !== 1 || wide === null)
      throw new UnsupportedLayerError(`no gradient rule for broadcasting [${to.join(', ')}] to [${from.join(', ')}]`);
    ones.push(i + lead);
  });
  const shape = g.shapes.get(operand);
  if (ones.length === 0 && lead === 0) {
    if (shape && !g.shapes.has(gradient)) g.shapes.set(gradient, shape);
    return gradient;
  }
  const kept = ones.length ? reduceNode(g, 'ReduceSum', gradient, ones, 1, lead ? undefined : shape) : gradient;
  return lead ? reduceNode(g, 'ReduceSum', kept, range(0, lead), 0, shape) : kept;
}
