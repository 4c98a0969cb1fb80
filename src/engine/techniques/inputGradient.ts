/**
 * Shared plumbing of the input-space gradient techniques (saliency, guided backprop, deconvnet,
 * grad × image, integrated gradients): the gradient of one class score w.r.t. the input batch, and the
 * reductions that turn a [1, h, w, c] attribution into a displayable [h, w] map.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '../models/adapter';
import type { ReluRule } from '../models/reluRules';
import { tf } from '../tf';
import { TechniqueNotApplicableError } from './cam';

/** d score[classIndex] / d input, for every image of the batch at once (scores are independent per image). */
export function inputGradient(model: ModelAdapter, input: Tensor4D, classIndex: number, rule: ReluRule | null = null): Tensor4D {
  if (rule && !model.supportsReluRules) {
    throw new TechniqueNotApplicableError(`This technique changes how ReLUs backpropagate, which CNN Lens supports for TF.js layers models only; use saliency or Grad-CAM here.`);
  }
  const score = (x: tf.Tensor) => tf.sum(model.scores(x as Tensor4D, rule).slice([0, classIndex], [-1, 1]));
  return tf.grad(score)(input) as Tensor4D;
}

/** Grayscale saliency: the largest |attribution| over channels (Simonyan et al.). */
export function maxAbsOverChannels(attribution: Tensor4D): Tensor2D {
  return tf.max(tf.abs(attribution), -1).squeeze([0]) as Tensor2D;
}

/** |Σ over channels|: for attributions whose sign per pixel is meaningful when summed (grad × image, IG). */
export function absSumOverChannels(attribution: Tensor4D): Tensor2D {
  return tf.abs(tf.sum(attribution, -1)).squeeze([0]) as Tensor2D;
}

/**
 * Clips a pixel-space map at its 99th percentile: a handful of extreme pixels would otherwise take the
 * whole colour range and leave the rest of the map dark (the usual practice in Captum's visualiser).
 */
export function clipOutliers(map: Tensor2D, percentile = 0.99): Tensor2D {
  const values = map.dataSync();
  const sorted = Float32Array.from(values).sort();
  const cap = sorted[Math.min(sorted.length - 1, Math.floor(percentile * sorted.length))];
  return cap > 0 ? (tf.minimum(map, cap) as Tensor2D) : map;
}
