/** LayerNormalization (opset 17; the spelled-out form of earlier opsets goes through the elementwise rules). */
import { UnsupportedLayerError } from '../layoutWriter';
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

export const normalizationRules: BackwardRules = { LayerNormalization: layerNormalization };
