/**
 * Finer-CAM: Zhang et al., "Finer-CAM: Spotting the Difference Reveals Finer Details for Visual
 * Explanation", CVPR 2025 (https://arxiv.org/abs/2501.11309). For fine-grained classes (dog breeds, bird
 * species) Grad-CAM lights up what the similar classes share; Finer-CAM explains the difference instead: the
 * target is the class's logit minus α times each of the k classes whose logits are nearest to it, averaged
 * with their softmax probabilities as weights (differentiated through the softmax too), and Grad-CAM's weights
 * are taken of that. α = 0 is Grad-CAM; α = 1 (the default) compares fully.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import type { TechniqueInput } from './base';
import { GradCam } from './gradCam';

/** The k classes whose scores are nearest to the class's own (not the class itself), nearest first. */
export function nearestClasses(scores: ArrayLike<number>, classIndex: number, k: number): number[] {
  const own = scores[classIndex];
  return Array.from({ length: scores.length }, (_, i) => i)
    .filter((i) => i !== classIndex)
    .sort((a, b) => Math.abs(scores[a] - own) - Math.abs(scores[b] - own) || a - b)
    .slice(0, k);
}

export class FinerCam extends GradCam {
  override readonly info = {
    id: 'finercam',
    title: 'Finer-CAM',
    summary: 'Grad-CAM of the class against its nearest look-alike classes: what tells them apart.',
    needsGradients: true,
    needsLayer: true,
    parameters: [
      { name: 'alpha', summary: 'How strongly the look-alike classes are subtracted (0 = Grad-CAM)', default: 1, min: 0, max: 10 },
      {
        name: 'comparisons',
        summary: 'Look-alike classes compared with: those whose scores are nearest',
        default: 3,
        min: 1,
        max: 20,
        integer: true,
      },
    ],
  };

  protected override mapWhereEvidenceIs(): Tensor2D | null {
    return null;
  }

  protected override targetScore(scores: Tensor2D, { classIndex, parameters }: TechniqueInput): tf.Scalar {
    const values = scores.dataSync();
    const others = nearestClasses(values, classIndex, Math.min(Number(parameters.comparisons), scores.shape[1] - 1));
    const own = scores.slice([0, classIndex], [1, 1]);
    // A 0/1 row marks the compared classes (gather's gradient needs a kernel wasm lacks).
    const marked = new Float32Array(scores.shape[1]);
    for (const other of others) marked[other] = 1;
    const weights = tf.softmax(scores).mul(tf.tensor2d(marked, [1, marked.length]));
    const contrast = tf.sum(weights.mul(own.sub(scores.mul(Number(parameters.alpha)))));
    return contrast.div(tf.sum(weights).add(1e-9)) as tf.Scalar;
  }
}
