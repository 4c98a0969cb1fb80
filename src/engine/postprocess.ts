/** From scores and raw maps to what users see: top-k predictions and normalised, upsampled maps. */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from './tf';
import type { Heatmap, Prediction } from './types';

/** Class probabilities for a batch of one: softmax of logits, or the scores as they are. */
export function probabilities(scores: Tensor2D, areLogits: boolean): Float32Array {
  return tf.tidy(() => (areLogits ? tf.softmax(scores) : scores).dataSync() as Float32Array);
}

export function topK(probs: Float32Array, labels: string[], k: number): Prediction[] {
  return Array.from(probs, (score, index) => ({ index, score }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k)
    .map(({ index, score }) => ({ index, label: labels[index] ?? `class ${index}`, score }));
}

/**
 * Upsamples a raw [h, w] map to the image with half-pixel centres (so each map cell covers the image
 * region it came from; without them the map drifts half a cell up and left), then min-max normalises.
 */
export function upsampleAndNormalise(map: Tensor2D, width: number, height: number): { heatmap: Heatmap; flat: boolean } {
  return tf.tidy(() => {
    const [h, w] = map.shape;
    const big = tf.image.resizeBilinear(map.reshape([1, h, w, 1]) as tf.Tensor4D, [height, width], false, true).reshape([height, width]);
    const min = big.min();
    const range = big.max().sub(min);
    const flat = range.dataSync()[0] <= 1e-12;
    const normalised = flat ? tf.zerosLike(big) : big.sub(min).div(range);
    return { heatmap: { width, height, data: normalised.dataSync() as Float32Array }, flat };
  });
}

export function toHeatmap(map: Tensor2D): Heatmap {
  const [height, width] = map.shape;
  return { width, height, data: map.dataSync() as Float32Array };
}
