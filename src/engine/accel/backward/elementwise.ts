/**
 * Add, Sub, Sum, Mul, Div, Pow (by a constant exponent) with numpy broadcasting (a gradient is summed over
 * the axes its operand was broadcast along); Neg, Sqrt, Erf; and BatchNormalization at inference.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import type { OnnxGraph } from '../onnxGraph';
import { dimsOf, unbroadcast } from './broadcast';
import type { BackwardRule, BackwardRules } from './types';

const sum: BackwardRule = ({ g, node, y, dy, wants, accumulate }) =>
  node.inputs.forEach((input, i) => {
    if (!wants(input)) return;
    const signed = node.op === 'Sub' && i === 1 ? g.op('Neg', [dy], {}, g.shapes.get(y)) : dy;
    accumulate(input, unbroadcast(g, signed, input, dimsOf(g, y)));
  });

const mul: BackwardRule = ({ g, node, y, dy, wants, accumulate }) => {
  const [a, b] = node.inputs;
  if (wants(a)) accumulate(a, unbroadcast(g, g.op('Mul', [dy, b], {}, g.shapes.get(y)), a, dimsOf(g, y)));
  if (wants(b)) accumulate(b, unbroadcast(g, g.op('Mul', [dy, a], {}, g.shapes.get(y)), b, dimsOf(g, y)));
};

// d(a/b)/db = −a/b² = −y/b: the quotient the forward pass computed serves.
const div: BackwardRule = ({ g, node, y, dy, wants, accumulate }) => {
  const [a, b] = node.inputs;
  const shape = g.shapes.get(y);
  if (wants(a)) accumulate(a, unbroadcast(g, g.op('Div', [dy, b], {}, shape), a, dimsOf(g, y)));
  if (wants(b)) accumulate(b, unbroadcast(g, g.op('Neg', [g.op('Div', [g.op('Mul', [dy, y]), b])], {}, shape), b, dimsOf(g, y)));
};

/** The derivative p·x^(p−1) of a constant power, with the exponent's arithmetic done here (x² → 2x). */
function powerDerivative(g: OnnxGraph, x: string, exponent: string): string {
  const p = g.constantValue(exponent) ?? intConstant(g, exponent);
  if (!p) throw new UnsupportedLayerError('no gradient rule for a Pow with a computed exponent');
  if (p.data.length === 1 && p.dims.length === 0) {
    const [power] = p.data;
    if (power === 2) return g.op('Mul', [x, g.scalar(2)]);
    return g.op('Mul', [g.op('Pow', [x, g.scalar(power - 1)]), g.scalar(power)]);
  }
  const less = g.floats(
    p.data.map((v) => v - 1),
    p.dims,
    'pow_less',
  );
  return g.op('Mul', [g.op('Pow', [x, less]), g.floats(p.data, p.dims, 'pow')]);
}

function intConstant(g: OnnxGraph, name: string): { dims: number[]; data: Float32Array } | undefined {
  const values = g.intValues(name);
  return values && { dims: g.constantDims(name)!, data: Float32Array.from(values) };
}

const pow: BackwardRule = ({ g, node, x, y, dy, wants, accumulate }) => {
  if (wants(node.inputs[1])) throw new UnsupportedLayerError('no gradient rule for a Pow with a computed exponent');
  if (!wants(x)) return;
  accumulate(x, unbroadcast(g, g.op('Mul', [dy, powerDerivative(g, x, node.inputs[1])], {}, g.shapes.get(y)), x, dimsOf(g, y)));
};

const batchNormalization: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  const [, scale, , , variance] = node.inputs.map((name) => g.constantValue(name));
  if (!scale || !variance) throw new UnsupportedLayerError('no gradient rule for a batch norm with computed statistics');
  const epsilon = (node.attributes.epsilon as { float: number } | undefined)?.float ?? 1e-5;
  const factor = scale.data.map((s, c) => s / Math.sqrt(variance.data[c] + epsilon));
  const rank = g.shapeOf(x).length;
  accumulate(x, g.op('Mul', [dy, g.floats(factor, [factor.length, ...Array(rank - 1).fill(1)], 'bn_factor')], {}, shape));
};

export const elementwiseRules: BackwardRules = {
  Add: sum,
  Sub: sum,
  Sum: sum,
  Mul: mul,
  Div: div,
  Pow: pow,
  BatchNormalization: batchNormalization,
  Neg: ({ g, x, dy, shape, accumulate }) => accumulate(x, g.op('Neg', [dy], {}, shape)),
  // d√x = 1 / (2√x), from the root the forward pass computed.
  Sqrt: ({ g, x, y, dy, shape, accumulate }) => accumulate(x, g.op('Div', [dy, g.op('Mul', [y, g.scalar(2)])], {}, shape)),
  // d erf(x) = 2/√π · e^(−x²): exact GELU's x·Φ(x) goes through it.
  Erf: ({ g, x, dy, shape, accumulate }) => {
    const bell = g.op('Exp', [g.op('Neg', [g.op('Mul', [x, x])])]);
    accumulate(x, g.op('Mul', [dy, g.op('Mul', [bell, g.scalar(2 / Math.sqrt(Math.PI))])], {}, shape));
  },
};
