/** From scores and raw maps to what users see: top-k predictions and maps normalised at their own resolution. */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from './tfjs/tf';
import type { Heatmap, Prediction, RgbaImage } from './types';

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
 * 0..1 from a raw map: min-max for ordinary maps; for signed maps v / max|v| mapped to 0..1 around 0.5,
 * so that zero stays in the middle of the diverging colormap and both signs share one scale.
 */
export function normalise(map: tf.Tensor, signed: boolean): { normalised: tf.Tensor; flat: boolean } {
  return tf.tidy(() => {
    if (signed) {
      const peak = tf.max(tf.abs(map)).dataSync()[0];
      const flat = !(peak > 1e-12);
      return { normalised: flat ? tf.fill(map.shape, 0.5) : map.div(2 * peak).add(0.5), flat };
    }
    const min = map.min();
    const range = map.max().sub(min);
    const flat = !(range.dataSync()[0] > 1e-12);
    return { normalised: flat ? tf.zerosLike(map) : map.sub(min).div(range), flat };
  });
}

/**
 * A raw [h, w] map normalised at its own resolution. Renderers upsample it (bilinear, half-pixel centres,
 * so each cell covers the image region it came from) only when they draw, at the size they draw.
 */
export function normalisedMap(map: Tensor2D, signed = false): { heatmap: Heatmap; flat: boolean } {
  return tf.tidy(() => {
    const [height, width] = map.shape;
    const { normalised, flat } = normalise(map, signed);
    // A copy: dataSync may hand out the backend's own buffer, which must not be transferred to another thread.
    return { heatmap: { width, height, data: Float32Array.from(normalised.dataSync() as Float32Array) }, flat };
  });
}

/** A [h, w, 3] image in 0..1 as opaque RGBA at its own resolution. */
export function colourToRgba(colour: tf.Tensor3D): RgbaImage {
  const [height, width] = colour.shape;
  return tf.tidy(() => {
    const rgb = colour.mul(255).round().clipByValue(0, 255);
    const rgba = tf.concat([rgb, tf.fill([height, width, 1], 255)], 2).toInt();
    return { width, height, data: Uint8Array.from(rgba.dataSync()) };
  });
}

export function toHeatmap(map: Tensor2D): Heatmap {
  const [height, width] = map.shape;
  return { width, height, data: Float32Array.from(map.dataSync() as Float32Array) };
}
