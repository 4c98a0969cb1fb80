/**
 * Integrated gradients: Sundararajan et al., "Axiomatic Attribution for Deep Networks", 2017
 * (https://arxiv.org/abs/1703.01365). Attribution = (x − x′) · ∫₀¹ ∇f(x′ + α(x − x′)) dα along the straight
 * line from a baseline x′, by a midpoint Riemann sum or Gauss–Legendre quadrature, in batches. The sum
 * of attributions should equal f(x) − f(x′) (completeness); the relative gap is reported.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { oneHot, reduce, replaceInput, vector, type GraphRecipe } from '../accel/recipes';
import type { ModelAdapter } from '../models/adapter';
import { shrinkBlur } from '../preprocess';
import { tf } from '../tfjs/tf';
import { AttributionTechnique, renderAttribution, viewParameter, type Attribution, type AttributionView } from './attribution';
import type { TechniqueInput } from './base';
import { inputGradient } from './inputGradient';
import { memoryBoundBatch } from './batching';

/** Path points per backward pass, at most (memoryBoundBatch lowers it for big models). */
const MAX_BATCH = 16;

/** Nodes and weights on [0, 1]. */
export function quadrature(rule: 'riemann' | 'gauss-legendre', steps: number): { alphas: number[]; weights: number[] } {
  if (rule === 'riemann') {
    return { alphas: Array.from({ length: steps }, (_, i) => (i + 0.5) / steps), weights: Array(steps).fill(1 / steps) };
  }
  // Legendre roots by Newton's method from Chebyshev guesses; weights 2 / ((1 − x²) P′(x)²), mapped to [0, 1].
  const alphas: number[] = [];
  const weights: number[] = [];
  for (let i = 1; i <= steps; i++) {
    let x = Math.cos((Math.PI * (i - 0.25)) / (steps + 0.5));
    let derivative = 1;
    for (let iteration = 0; iteration < 100; iteration++) {
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= steps; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      derivative = (steps * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / derivative;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    alphas.push((1 - x) / 2);
    weights.push(1 / ((1 - x * x) * derivative * derivative));
  }
  return { alphas, weights };
}

export function baselineOf(kind: string, request: TechniqueInput): Tensor4D {
  const { pixels, preprocess } = request;
  if (kind === 'black') return preprocess(tf.zerosLike(pixels));
  if (kind === 'noise') return preprocess(tf.randomUniform(pixels.shape, 0, 255, 'float32', 7) as Tensor4D);
  // A heavy blur: shrink to 1/16 and back, which keeps colours but removes shapes.
  return preprocess(shrinkBlur(pixels, 16));
}

/**
 * The quadrature points in an interleaved order (0, k, 2k, …, then 1, k + 1, …) so that every batch
 * samples the whole path: the running sum is then a fair preview of the final attribution.
 */
function interleaved(steps: number, batch: number): number[] {
  const stride = Math.ceil(steps / batch);
  const order: number[] = [];
  for (let offset = 0; offset < stride; offset++) for (let i = offset; i < steps; i += stride) order.push(i);
  return order;
}

const SEED = 'cnn_lens_seed';
const ORIGIN = 'cnn_lens_origin';
const STEP = 'cnn_lens_step';
const ALPHAS = 'cnn_lens_alphas';
const WEIGHTS = 'cnn_lens_weights';
const SUM = 'cnn_lens_sum';

/**
 * Σᵢ wᵢ · d score / d pointᵢ over a batch of path points ORIGIN + ALPHAS[i]·STEP built inside one
 * onnxruntime run: only the image, the step and the sum cross over instead of a batch of points and one of
 * gradients, and no TF.js op runs per batch (on the shipped model that overhead was a third of the run).
 */
const pathSums: GraphRecipe = {
  key: 'sums:path:stock',
  title: 'the gradients of batched copies',
  build({ graph, input, inputShape: [h, w, c], numClasses, scores, gradients }) {
    graph.input(SEED, [numClasses]);
    const [gradient] = gradients(scores, SEED, [input]);
    replaceInput(graph, input, () => {
      graph.input(ORIGIN, [h, w, c]);
      graph.input(STEP, [h, w, c]);
      graph.input(ALPHAS, []);
      return { op: 'Add', inputs: [ORIGIN, graph.op('Mul', [graph.op('Reshape', [ALPHAS, graph.ints([-1, 1, 1, 1])]), STEP])] };
    });
    graph.input(WEIGHTS, []);
    const weights = graph.op('Reshape', [WEIGHTS, graph.ints([-1, 1, 1, 1])]);
    graph.nameOutput(reduce(graph, 'ReduceSum', graph.op('Mul', [gradient, weights]), [0], true), SUM);
  },
};

/** Σᵢ wᵢ · d score[classIndex] / d (origin + αᵢ·step) from one onnxruntime run; null where the model has none. */
export function inGraphPathSum(
  model: ModelAdapter,
  path: { origin: Tensor4D; step: Tensor4D; alphas: number[]; weights: number[] },
  classIndex: number,
): Tensor4D | null {
  const feeds = {
    [ORIGIN]: path.origin,
    [STEP]: path.step,
    [ALPHAS]: vector(path.alphas),
    [WEIGHTS]: vector(path.weights),
    [SEED]: oneHot(path.alphas.length, model.numClasses, classIndex),
  };
  return (model.accelerated()?.run(pathSums, feeds, [SUM], path.origin)?.[0] as Tensor4D | undefined) ?? null;
}

/** (x − x′) · Σ wᵢ ∇f(x′ + αᵢ(x − x′)), plus the completeness gap. */
export function integratedGradients(
  request: TechniqueInput,
  baseline: Tensor4D,
  steps: number,
  rule: 'riemann' | 'gauss-legendre',
  view: AttributionView = 'sum-abs',
) {
  const { model, input, classIndex, checkCancelled, reportProgress } = request;
  const { alphas, weights } = quadrature(rule, steps);
  const batch = memoryBoundBatch(model.layers, MAX_BATCH, true);
  // Interleaved by the largest batch, whatever memory allows, so each stretch of the order spans the path.
  const order = interleaved(steps, MAX_BATCH);
  const delta = input.sub(baseline) as Tensor4D;
  let weightedGradients = tf.zerosLike(input) as Tensor4D;
  let weightSoFar = 0;
  for (let start = 0; start < steps; start += batch) {
    checkCancelled();
    const chunk = order.slice(start, start + batch);
    const next = tf.tidy(() => {
      const path = { origin: baseline, step: delta, alphas: chunk.map((i) => alphas[i]), weights: chunk.map((i) => weights[i]) };
      const sum = inGraphPathSum(model, path, classIndex);
      if (sum) return weightedGradients.add(sum) as Tensor4D;
      const points = baseline.add(delta.mul(tf.tensor1d(path.alphas).reshape([-1, 1, 1, 1]))) as Tensor4D;
      const grads = inputGradient(model, points, classIndex);
      return weightedGradients.add(tf.sum(grads.mul(tf.tensor1d(path.weights).reshape([-1, 1, 1, 1])), 0, true)) as Tensor4D;
    });
    weightedGradients.dispose();
    weightedGradients = next;
    weightSoFar += chunk.reduce((sum, i) => sum + weights[i], 0);
    const scale = 1 / weightSoFar;
    reportProgress(Math.min(start + batch, steps) / steps, () =>
      renderAttribution(delta.mul(weightedGradients).mul(scale) as Tensor4D, view),
    );
  }
  const attribution = delta.mul(weightedGradients) as Tensor4D;
  const [fx, fBaseline] = model
    .scores(tf.concat([input, baseline]))
    .slice([0, classIndex], [2, 1])
    .dataSync();
  const total = tf.sum(attribution).dataSync()[0];
  const change = fx - fBaseline;
  const completenessError = Math.abs(total - change) / Math.max(Math.abs(change), 1e-12);
  return { attribution, completenessError, change };
}

export class IntegratedGradients extends AttributionTechnique {
  readonly info = {
    id: 'integrated-gradients',
    title: 'Integrated gradients',
    summary: 'Gradients averaged along the path from a baseline image to yours; attributions sum to the score change.',
    needsGradients: true,
    needsLayer: false,
    parameters: [
      { name: 'steps', summary: 'Integration steps', default: 50, min: 1, max: 1000, integer: true },
      { name: 'baseline', summary: 'Baseline image', default: 'black', choices: ['black', 'blur', 'noise'] },
      { name: 'rule', summary: 'Quadrature rule', default: 'riemann', choices: ['riemann', 'gauss-legendre'] },
      viewParameter('sum-abs'),
    ],
  };

  override batchable(): boolean {
    return false;
  }

  attribute(request: TechniqueInput): Attribution {
    const { steps, baseline, rule, view } = request.parameters;
    const result = integratedGradients(
      request,
      baselineOf(String(baseline), request),
      Number(steps),
      rule as 'riemann',
      view as AttributionView,
    );
    const { attribution, completenessError } = result;
    const notes =
      completenessError > 0.05 ? [`Attributions miss the score change by ${(100 * completenessError).toFixed(1)} %; use more steps.`] : [];
    return { attribution, notes, metrics: { completenessError } };
  }
}
