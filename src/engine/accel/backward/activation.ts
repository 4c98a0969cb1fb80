/**
 * Relu, Clip, LeakyRelu (rectifiers: they follow the ReLU rule asked for), PRelu (not one, as in the
 * executor), HardSigmoid, HardSwish, Elu, Sigmoid, Tanh, Softmax, LogSoftmax.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import { DATA_TYPE, type OnnxGraph } from '../onnxGraph';
import { dimsOf, normaliseAxis, range, reduceNode, unbroadcast } from './broadcast';
import type { BackwardRule, BackwardRules, BackwardStep } from './types';

const positive = (g: OnnxGraph, t: string) => g.op('Greater', [t, g.scalar(0)]);

// Multiplying by the mask cast to floats: onnxruntime's Where took 2–3× as long (measured on the bundled
// model's activations, and it was a tenth of its input gradient).
function masked({ g, dy, shape, reluRule }: BackwardStep, mask: string): string {
  return g.op('Mul', [reluRule ? g.op('Relu', [dy]) : dy, g.op('Cast', [mask], { to: DATA_TYPE.FLOAT })], {}, shape);
}

/** Deconvnet passes the positive gradients whatever the rectifier's input was. */
function deconvnet({ g, x, dy, shape, accumulate }: BackwardStep): void {
  accumulate(x, g.op('Relu', [dy], {}, shape));
}

const relu: BackwardRule = (step) => {
  if (step.reluRule === 'deconvnet') return deconvnet(step);
  step.accumulate(step.x, masked(step, positive(step.g, step.y)));
};

const clip: BackwardRule = (step) => {
  const { g, node, y } = step;
  const [, min, max] = node.inputs.map((name) => g.constantValue(name)?.data[0]);
  if (min !== 0 || max === undefined) throw new UnsupportedLayerError(`no gradient rule for Clip(${min}, ${max})`);
  if (step.reluRule === 'deconvnet') return deconvnet(step);
  step.accumulate(step.x, masked(step, g.op('And', [positive(g, y), g.op('Less', [y, g.scalar(max)])])));
};

const leakyRelu: BackwardRule = (step) => {
  if (step.reluRule === 'deconvnet') return deconvnet(step);
  const { g, node, x, y, dy, shape, reluRule, accumulate } = step;
  const alpha = (node.attributes.alpha as { float: number }).float;
  const incoming = reluRule ? g.op('Relu', [dy]) : dy;
  accumulate(x, g.op('Where', [g.op('Greater', [y, g.scalar(0)]), incoming, g.op('Mul', [incoming, g.scalar(alpha)])], {}, shape));
};

// The slope where x ≤ 0 (at 0 too, as tfjs differentiates prelu), 1 elsewhere; a computed slope gets Σ dy·x
// where x ≤ 0 over the axes it was broadcast along.
const prelu: BackwardRule = ({ g, node, x, y, dy, shape, wants, accumulate }) => {
  const slope = node.inputs[1];
  // Before opset 7 a 1-D slope was per channel, not broadcast numpy-style.
  if (g.opset < 7) throw new UnsupportedLayerError(`no gradient rule for a PRelu before opset 7 (the model's is ${g.opset})`);
  const positive = g.op('Greater', [x, g.scalar(0)]);
  if (wants(x)) accumulate(x, g.op('Where', [positive, dy, g.op('Mul', [dy, slope])], {}, shape));
  if (wants(slope)) accumulate(slope, unbroadcast(g, g.op('Where', [positive, g.scalar(0), g.op('Mul', [dy, x])]), slope, dimsOf(g, y)));
};

// y = x·h (HardSwish) or h, with h = clip(αx + β, 0, 1); its slope α counts where αx + β is within
// [0, 1], edges included (as tfjs differentiates clipByValue).
const hard: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  const alpha = node.op === 'HardSwish' ? 1 / 6 : ((node.attributes.alpha as { float: number } | undefined)?.float ?? 0.2);
  const beta = node.op === 'HardSwish' ? 0.5 : ((node.attributes.beta as { float: number } | undefined)?.float ?? 0.5);
  const linear = g.op('Add', [g.op('Mul', [x, g.scalar(alpha)]), g.scalar(beta)]);
  const inside = g.op('Cast', [g.op('And', [g.op('GreaterOrEqual', [linear, g.scalar(0)]), g.op('LessOrEqual', [linear, g.scalar(1)])])], {
    to: DATA_TYPE.FLOAT,
  });
  const slope = g.op('Mul', [inside, g.scalar(alpha)]);
  const derivative =
    node.op === 'HardSwish' ? g.op('Add', [g.op('Clip', [linear, g.scalar(0), g.scalar(1)]), g.op('Mul', [x, slope])]) : slope;
  accumulate(x, g.op('Mul', [dy, derivative], {}, shape));
};

// 1 where the output is ≥ 0, else y + α (= α·eˣ), as tfjs differentiates elu.
const elu: BackwardRule = ({ g, node, x, y, dy, shape, accumulate }) => {
  const alpha = (node.attributes.alpha as { float: number } | undefined)?.float ?? 1;
  const slope = g.op('Where', [g.op('GreaterOrEqual', [y, g.scalar(0)]), g.scalar(1), g.op('Add', [y, g.scalar(alpha)])]);
  accumulate(x, g.op('Mul', [dy, slope], {}, shape));
};

/** The axes a softmax normalises over: its axis, or from it on before opset 13 (which flattened to 2-D there). */
function softmaxAxes({ g, node, x }: BackwardStep): number[] {
  const rank = g.shapeOf(x).length + 1;
  const axis = normaliseAxis((node.attributes.axis as number | undefined) ?? (g.opset < 13 ? 1 : -1), rank);
  return g.opset < 13 ? range(axis, rank) : [axis];
}

// dx = y ⊙ dy − y · Σ(y ⊙ dy), as tfjs computes it.
const softmax: BackwardRule = (step) => {
  const { g, x, y, dy, shape, accumulate } = step;
  const weighted = g.op('Mul', [dy, y]);
  const total = reduceNode(g, 'ReduceSum', weighted, softmaxAxes(step), 1);
  accumulate(x, g.op('Sub', [weighted, g.op('Mul', [total, y])], {}, shape));
};

// y = x − log Σ eˣ: dx = dy − softmax(x) · Σ dy.
const logSoftmax: BackwardRule = (step) => {
  const { g, x, y, dy, shape, accumulate } = step;
  const total = reduceNode(g, 'ReduceSum', dy, softmaxAxes(step), 1);
  accumulate(x, g.op('Sub', [dy, g.op('Mul', [total, g.op('Exp', [y])])], {}, shape));
};

export const activationRules: BackwardRules = {
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  Relu: relu,
  Clip: clip,
  LeakyRelu: leakyRelu,
  PRelu: prelu,
  HardSigmoid: hard,
  HardSwish: hard,
  Elu: elu,
  Sigmoid: ({ g, x, y, dy, shape, accumulate }) =>
    accumulate(x, g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [g.scalar(1), y])])], {}, shape)),
  Tanh: ({ g, x, y, dy, shape, accumulate }) =>
    accumulate(x, g.op('Mul', [dy, g.op('Sub', [g.scalar(1), g.op('Mul', [y, y])])], {}, shape)),
};
