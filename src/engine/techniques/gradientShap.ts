/**
 * GradientSHAP: Lundberg & Lee's expected gradients as captum.attr.GradientShap computes them: for each of n
 * samples, a baseline b drawn from a set, the input with Gaussian noise x + ε, and α ~ U(0, 1); the
 * attribution is the mean of ∇f(b + α (x + ε − b)) · (x + ε − b) — integrated gradients with the path point
 * and the baseline drawn at random, which approximates SHAP values over the baselines' distribution.
 *
 * Captum takes the baselines from the user; here they are a choice of images: black and a heavy blur by
 * default (no colour and no shape, two different "absences"), or black and white. Noise defaults to Captum's
 * 0; its σ is a fraction of the input's value range, as in SmoothGrad.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { gaussianValues, uniformStream } from '../random';
import { shrinkBlur } from '../preprocess';
import { tf } from '../tfjs/tf';
import { AttributionTechnique, renderAttribution, viewParameter, type Attribution, type AttributionView } from './attribution';
import type { TechniqueInput } from './base';
import { memoryBoundBatch } from './batching';
import { inputGradient } from './inputGradient';
import { SEED_PARAMETER } from './masking';

/** Samples per backward pass, at most (memoryBoundBatch lowers it for big models). */
const MAX_BATCH = 16;

/** Each sample's baseline (an index into the set) and its point α on the path, the same for the same seed. */
export function gradientShapDraws(samples: number, baselines: number, seed: number): { baseline: number[]; alpha: number[] } {
  const random = uniformStream(seed);
  const baseline: number[] = [];
  const alpha: number[] = [];
  for (let i = 0; i < samples; i++) {
    baseline.push(Math.min(Math.floor(random() * baselines), baselines - 1));
    alpha.push(random());
  }
  return { baseline, alpha };
}

/** The baseline set [k, h, w, c] in the model's input scaling. */
function baselineSet(kind: string, { input, pixels, preprocess }: TechniqueInput): Tensor4D {
  const black = () => preprocess(tf.zerosLike(pixels));
  const images: Record<string, () => Tensor4D[]> = {
    'black+blur': () => [black(), preprocess(shrinkBlur(pixels, 16))],
    'black+white': () => [black(), preprocess(tf.fill(pixels.shape, 255) as Tensor4D)],
    black: () => [black()],
    zero: () => [tf.zerosLike(input)],
  };
  return tf.concat(images[kind]()) as Tensor4D;
}

export class GradientShap extends AttributionTechnique {
  readonly info = {
    id: 'gradient-shap',
    title: 'GradientSHAP',
    summary: 'Gradients at random points between random baselines and the (noisy) image, times their difference: expected gradients.',
    needsGradients: true,
    needsLayer: false,
    parameters: [
      { name: 'samples', summary: 'Random samples (n)', default: 50, min: 1, max: 10000, integer: true },
      {
        name: 'baselines',
        summary: 'Baselines drawn from',
        default: 'black+blur',
        choices: ['black+blur', 'black+white', 'black', 'zero'],
      },
      { name: 'noise', summary: 'Noise σ on the input, as a fraction of its range (Captum: 0)', default: 0, min: 0, max: 1 },
      SEED_PARAMETER,
      viewParameter('signed'),
    ],
  };

  override batchable(): boolean {
    return false;
  }

  attribute(request: TechniqueInput): Attribution {
    const { model, input, classIndex, parameters } = request;
    const n = Number(parameters.samples);
    const seed = Number(parameters.seed);
    const view = String(parameters.view) as AttributionView;
    const baselines = baselineSet(String(parameters.baselines), request);
    const draws = gradientShapDraws(n, baselines.shape[0], seed);
    const sigma = tf.tidy(() => Number(parameters.noise) * (input.max().dataSync()[0] - input.min().dataSync()[0]));
    const batch = memoryBoundBatch(model.layers, MAX_BATCH, true);
    let sum = tf.zerosLike(input) as Tensor4D;
    try {
      for (let start = 0; start < n; start += batch) {
        request.checkCancelled();
        const size = Math.min(batch, n - start);
        const next = tf.tidy(() => {
          const chosen = tf.gather(baselines, draws.baseline.slice(start, start + size)) as Tensor4D;
          const dims = [size, ...input.shape.slice(1)];
          const noisy =
            sigma > 0
              ? input.add(
                  tf.tensor(
                    gaussianValues(
                      dims.reduce((a, b) => a * b, 1),
                      0,
                      sigma,
                      seed + 7919 * (start + 1),
                    ),
                    dims,
                  ),
                )
              : input;
          const step = noisy.sub(chosen) as Tensor4D;
          const alphas = tf.tensor1d(draws.alpha.slice(start, start + size)).reshape([-1, 1, 1, 1]);
          const gradients = inputGradient(model, chosen.add(step.mul(alphas)) as Tensor4D, classIndex);
          return sum.add(tf.sum(gradients.mul(step), 0, true)) as Tensor4D;
        });
        sum.dispose();
        sum = next;
        const done = start + size;
        request.reportProgress(done / n, () => renderAttribution(sum.div(done) as Tensor4D, view), `sample ${done} of ${n}`);
      }
      return { attribution: sum.div(n) as Tensor4D };
    } finally {
      tf.dispose([sum, baselines]);
    }
  }
}
