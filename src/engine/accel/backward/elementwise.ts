/** Add, Sub, Sum, Mul, Div (constants held fixed), and BatchNormalization at inference. */
import { UnsupportedLayerError } from '../layoutWriter';
import type { BackwardRule, BackwardRules } from './types';

const sum: BackwardRule = ({ g, node, y, dy, shape, accumulate }) =>
  node.inputs.forEach((input, i) => {
    if (g.isConstant(input)) return;
    if (g.shapes.get(input)?.join() !== g.shapes.get(y)?.join())
      throw new UnsupportedLayerError(`no gradient rule for a broadcasting ${node.op}`);
    accumulate(input, node.op === 'Sub' && i === 1 ? g.op('Neg', [dy], {}, shape) : dy);
  });

const mul: BackwardRule = ({ g, node, y, dy, shape, accumulate }) => {
  const [a, b] = node.inputs;
  if (g.isConstant(b)) return accumulate(a, g.op('Mul', [dy, b], {}, shape));
  if (g.isConstant(a)) return accumulate(b, g.op('Mul', [dy, a], {}, g.shapes.get(b)));
  // A factor broadcast over others' axes (a squeeze-excitation gate [c, 1, 1]) gets its gradient summed over them.
  const unbroadcast = (gradient: string, of: string) => {
    const target = g.shapeOf(of);
    const full = g.shapeOf(y);
    if (target.join() === full.join()) return gradient;
    if (target.length !== full.length || target.some((d, i) => d !== 1 && d !== full[i]))
      throw new UnsupportedLayerError('no gradient rule for this broadcasting Mul');
    const axes = target.flatMap((d, i) => (d === 1 && full[i] !== 1 ? [i + 1] : []));
    return g.opset >= 13
      ? g.op('ReduceSum', [gradient, g.ints(axes)], { keepdims: 1 }, target)
      : g.op('ReduceSum', [gradient], { axes, keepdims: 1 }, target);
  };
  accumulate(a, unbroadcast(g.op('Mul', [dy, b]), a));
  accumulate(b, unbroadcast(g.op('Mul', [dy, a]), b));
};

const div: BackwardRule = ({ g, node, dy, shape, accumulate }) => {
  const [a, b] = node.inputs;
  if (!g.isConstant(b)) throw new UnsupportedLayerError('no gradient rule for a division by a computed tensor');
  accumulate(a, g.op('Div', [dy, b], {}, shape));
};

const batchNormalization: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  const [, scale, , , variance] = node.inputs.map((name) => g.constantValue(name));
  if (!scale || !variance) throw new UnsupportedLayerError('no gradient rule for a batch norm with computed statistics');
  const epsilon = (node.attributes.epsilon as { float: number } | undefined)?.float ?? 1e-5;
  const factor = scale.data.map((s, c) => s / Math.sqrt(variance.data[c] + epsilon));
  const rank = g.shapeOf(x).length;
  accumulate(x, g.op('Mul', [dy, g.floats(factor, [factor.length, ...Array(rank - 1).fill(1)], 'bn_factor')], {}, shape));
};

export const elementwiseRules: BackwardRules = { Add: sum, Sub: sum, Sum: sum, Mul: mul, Div: div, BatchNormalization: batchNormalization };
