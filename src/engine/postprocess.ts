/** From scores and raw maps to what users see: top-k predictions and normalised, upsampled maps. */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from './tf';
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

/** Bilinear resize of [h, w, c] with half-pixel centres (align_corners=false, as PyTorch and TF2). */
function resize(map: tf.Tensor3D, width: number, height: number): tf.Tensor3D {
  return tf.image.resizeBilinear(map, [height, width], false, true);
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
 * Upsamples a raw [h, w] map to the image with half-pixel centres (so each map cell covers the image
 * region it came from; without them the map drifts half a cell up and left), then normalises it.
 */
export function upsampleAndNormalise(map: Tensor2D, width: number, height: number, signed = false): { heatmap: Heatmap; flat: boolean } {
  return tf.tidy(() => {
    const [h, w] = map.shape;
    const big = resize(map.reshape([h, w, 1]) as tf.Tensor3D, width, height).reshape([height, width]);
    const { normalised, flat } = normalise(big, signed);
    return { heatmap: { width, height, data: normalised.dataSync() as Float32Array }, flat };
  });
}

/** A [h, w, 3] image in 0..1 upsampled to the image as opaque RGBA. */
export function colourToRgba(colour: tf.Tensor3D, width: number, height: number): RgbaImage {
  return tf.tidy(() => {
    const rgb = resize(colour, width, height).mul(255).round().clipByValue(0, 255);
    const rgba = tf.concat([rgb, tf.fill([height, width, 1], 255)], 2).toInt();
    return { width, height, data: Uint8Array.from(rgba.dataSync()) };
  });
}

export function toHeatmap(map: Tensor2D): Heatmap {
  const [height, width] = map.shape;
  return { width, height, data: map.dataSync() as Float32Array };
}
