/**
 * LayerNormalization (opset 17; the spelled-out form of earlier opsets goes through the elementwise rules) and
 * LRN.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import type { OnnxGraph } from '../onnxGraph';
import type { BackwardRule, BackwardRules, BackwardStep } from './types';
import { normaliseAxis, range, reduceNode } from './broadcast';

/**
 * The forward node's Mean and InvStdDev outputs (named here if the model left them off): onnxruntime
 * computes them with y anyway, so the backward pass need not.
 */
function statistics({ g, node, x }: BackwardStep, axes: number[]): { mean: string; inverse: string } {
  const stats = g.shapeOf(x).map((d, i) => (axes.includes(i + 1) ? 1 : d));
  const named = (i: number, hint: string) => {
    if (node.outputs[i]) return node.outputs[i];
    const name = g.fresh(hint);
    g.shapes.set(name, stats);
    return name;
  };
  const mean = named(1, 'ln_mean');
  const inverse = named(2, 'ln_inverse_std');
  node.outputs = [node.outputs[0], mean, inverse];
  return { mean, inverse };
}

/**
 * y = x̂·γ + β with x̂ = (x − μ)·s, s = 1/√(σ² + ε) over the normalised axes: dx = s·(g − mean(g) − x̂·mean(g·x̂))
 * with g = dy·γ (scale and bias held fixed).
 */
const layerNormalization: BackwardRule = (step) => {
  const { g, node, x, dy, shape, wants, accumulate } = step;
  const [, scale, bias] = node.inputs;
  if (wants(scale) || (bias && wants(bias)))
    throw new UnsupportedLayerError('no gradient rule for a LayerNormalization with a computed scale or bias');
  if (((node.attributes.stash_type as number | undefined) ?? 1) !== 1)
    throw new UnsupportedLayerError('no gradient rule for a LayerNormalization stashed in another type than float');
  const rank = g.shapeOf(x).length + 1;
  const axes = range(normaliseAxis((node.attributes.axis as number | undefined) ?? -1, rank), rank);
  const { mean, inverse } = statistics(step, axes);
  const normalised = g.op('Mul', [g.op('Sub', [x, mean]), inverse]);
  const scaled = g.op('Mul', [dy, scale]);
  const average = (t: string) => reduceNode(g, 'ReduceMean', t, axes, 1);
  const along = g.op('Mul', [normalised, average(g.op('Mul', [scaled, normalised]))]);
  accumulate(x, g.op('Mul', [g.op('Sub', [g.op('Sub', [scaled, average(scaled)]), along]), inverse], {}, shape));
};

/**
 * Σ over a window of channels, from c − `before` to c + `after` (zeros past the ends): the channels as the rows
 * of one image, convolved with a column of ones.
 */
function channelWindowSum(g: OnnxGraph, t: string, dims: number[], before: number, after: number): string {
  const size = before + after + 1;
  const rows = g.op('Reshape', [t, g.ints([0, 1, dims[0], -1])]);
  const ones = g.floats(new Float32Array(size).fill(1), [1, 1, size, 1], 'lrn_window');
  const summed = g.op('Conv', [rows, ones], { kernel_shape: [size, 1], pads: [before, 0, after, 0] });
  return g.op('Reshape', [summed, g.ints([0, ...dims])], {}, dims);
}

/**
 * y = x·d^(−β) with d = bias + α/size · Σ x² over channels c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉. Channel k
 * is in the windows of c = k − ⌈(size−1)/2⌉ … k + ⌊(size−1)/2⌋, so
 * dx = dy·d^(−β) − 2αβ/size · x · Σ_mirrored window (dy·y/d)   (x·d^(−β−1) = y/d).
 */
const lrn: BackwardRule = ({ g, node, x, y, dy, shape, accumulate }) => {
  const float = (name: string, fallback: number) => (node.attributes[name] as { float: number } | undefined)?.float ?? fallback;
  const size = node.attributes.size as number;
  const [alpha, beta, bias] = [float('alpha', 1e-4), float('beta', 0.75), float('bias', 1)];
  const dims = g.shapeOf(x);
  const before = Math.floor((size - 1) / 2);
  const after = size - 1 - before;
  const squares = channelWindowSum(g, g.op('Mul', [x, x]), dims, before, after);
  const d = g.op('Add', [g.op('Mul', [squares, g.scalar(alpha / size)]), g.scalar(bias)]);
  const direct = g.op('Mul', [dy, g.op('Pow', [d, g.scalar(-beta)])]);
  const spread = channelWindowSum(g, g.op('Div', [g.op('Mul', [dy, y]), d]), dims, after, before);
  const through = g.op('Mul', [g.op('Mul', [x, g.scalar((2 * alpha * beta) / size)]), spread]);
  accumulate(x, g.op('Sub', [direct, through], {}, shape));
};

export const normalizationRules: BackwardRules = { LayerNormalization: layerNormalization, LRN: lrn };
