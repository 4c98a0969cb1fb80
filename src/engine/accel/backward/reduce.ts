/** ReduceSum and ReduceMean over any axes, kept or dropped: the gradient spread back over what was reduced. */
import { UnsupportedLayerError } from '../layoutWriter';
import { DATA_TYPE } from '../onnxGraph';
import { normaliseAxis, range, unsqueezeNode } from './broadcast';
import type { BackwardRule, BackwardRules, BackwardStep } from './types';

/** The axes reduced (all of them when none are listed), or null for an identity (noop_with_empty_axes). */
function reducedAxes({ g, node, x }: BackwardStep): number[] | null {
  const rank = g.shapeOf(x).length + 1;
  const asInput = g.opset >= (node.op === 'ReduceSum' ? 13 : 18);
  const listed = asInput ? (node.inputs[1] ? g.intValues(node.inputs[1]) : []) : ((node.attributes.axes as number[] | undefined) ?? []);
  if (!listed) throw new UnsupportedLayerError(`no gradient rule for a ${node.op} over computed axes`);
  if (listed.length > 0) return [...new Set(listed.map((a) => normaliseAxis(a, rank)))].sort((a, b) => a - b);
  return asInput && node.attributes.noop_with_empty_axes === 1 ? null : range(0, rank);
}

/** 1 / the number of elements each output averages: from the static shape, or at run time where the first axis is among them. */
function meanFactor({ g, x, y }: BackwardStep, axes: number[]): string {
  if (!axes.includes(0)) return g.scalar(1 / axes.reduce((n, a) => n * g.shapeOf(x)[a - 1], 1));
  const count = (t: string) => g.op('Cast', [g.op('Size', [t])], { to: DATA_TYPE.FLOAT });
  return g.op('Div', [count(y), count(x)]);
}

const reduction: BackwardRule = (step) => {
  const { g, node, x, dy, shape, accumulate } = step;
  const axes = reducedAxes(step);
  if (!axes) return accumulate(x, dy);
  // A dropped axis comes back as 1 to broadcast along; with every axis dropped dy is a scalar and broadcasts as it is.
  const dropped = node.attributes.keepdims === 0 && axes.length <= g.shapeOf(x).length ? unsqueezeNode(g, dy, axes) : dy;
  const spread = node.op === 'ReduceMean' ? g.op('Mul', [dropped, meanFactor(step, axes)]) : dropped;
  accumulate(x, g.op('Expand', [spread, g.op('Shape', [x])], {}, shape));
};

export const reduceRules: BackwardRules = { ReduceSum: reduction, ReduceMean: reduction };
