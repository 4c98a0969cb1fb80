/**
 * Average drop and increase in confidence (Chattopadhyay et al., Grad-CAM++, 2018): the image is multiplied
 * by the map (0..1), keeping only what the map points at. Drop = max(0, y − o) / y, where y is the class
 * probability on the image and o on the masked image; "increase" when o > y. Averaged over images by callers.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { classProbability, type ModelProbe } from './modelProbe';

export function confidenceChange(
  probe: ModelProbe,
  pixels: Tensor4D,
  map: Float32Array,
): { drop: number; increase: boolean; original: number; masked: number } {
  const [, h, w] = pixels.shape;
  const [original, masked] = tf.tidy(() => {
    const mask = tf.tensor4d(map, [1, h, w, 1]);
    return classProbability(probe, tf.concat([pixels, pixels.mul(mask)]) as Tensor4D).dataSync();
  });
  return { drop: Math.max(0, original - masked) / Math.max(original, 1e-12), increase: masked > original, original, masked };
}
