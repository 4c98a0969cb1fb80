/**
 * Deletion and insertion curves: Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of
 * Black-box Models", BMVC 2018 (https://arxiv.org/abs/1806.07421). Pixels are taken in the map's order of
 * importance, k steps of 1/k of the image each: deletion replaces them with black, insertion copies them
 * from the image into a blurred copy. The class probability after each step gives the curve; its area
 * (trapezoids over the fraction 0..1) summarises it — lower is better for deletion, higher for insertion.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { shrinkBlur } from '../preprocess';
import { tf } from '../tfjs/tf';
import { classProbability, type ModelProbe } from './modelProbe';

export interface Curve {
  /** Class probability after 0, 1/k, …, k/k of the pixels were deleted / inserted. */
  probabilities: number[];
  auc: number;
}

export function areaUnderCurve(values: number[]): number {
  const k = values.length - 1;
  if (k < 1) return values[0] ?? 0;
  let area = 0;
  for (let i = 0; i < k; i++) area += (values[i] + values[i + 1]) / 2;
  return area / k;
}

/** Each pixel's place in the order of importance (0 = most important); ties keep reading order. */
export function importanceRanks(map: Float32Array): Int32Array {
  const order = Array.from({ length: map.length }, (_, i) => i).sort((a, b) => map[b] - map[a] || a - b);
  const ranks = new Int32Array(map.length);
  order.forEach((pixel, rank) => (ranks[pixel] = rank));
  return ranks;
}

/** Insertion's starting image: the image blurred to 1/8 (colours without shapes). */
export function blurred(pixels: Tensor4D): Tensor4D {
  return shrinkBlur(pixels, 8);
}

/**
 * Both curves for `map` ([h·w] at the model's input size, higher = more important) over `pixels`
 * ([1, h, w, c], 0..255), with `steps` steps, `batch` images per forward pass.
 */
export function deletionInsertion(
  probe: ModelProbe,
  pixels: Tensor4D,
  map: Float32Array,
  steps: number,
  batch: number,
  onBatch: (done: number, total: number) => void = () => undefined,
): { deletion: Curve; insertion: Curve } {
  const [, h, w] = pixels.shape;
  if (map.length !== h * w) throw new RangeError(`The map has ${map.length} values for a ${w}×${h} input.`);
  const rankTensor = tf.tensor(importanceRanks(map), [1, h, w, 1], 'int32');
  const start = blurred(pixels);
  const black = tf.zerosLike(pixels);
  // Both curves go through the same batches: step i of deletion and of insertion share a mask.
  const jobs = Array.from({ length: steps + 1 }, (_, i) => i).flatMap((i) => [
    { i, kind: 'deletion' as const },
    { i, kind: 'insertion' as const },
  ]);
  const deletion = new Array<number>(steps + 1);
  const insertion = new Array<number>(steps + 1);
  try {
    for (let first = 0; first < jobs.length; first += batch) {
      probe.checkCancelled();
      const chunk = jobs.slice(first, first + batch);
      const probabilities = tf.tidy(() => {
        const images = chunk.map(({ i, kind }) => {
          const taken = tf.less(rankTensor, Math.round((i / steps) * h * w)).toFloat();
          const [from, to] = kind === 'deletion' ? [pixels, black] : [start, pixels];
          return from.mul(tf.sub(1, taken)).add(to.mul(taken));
        });
        return classProbability(probe, tf.concat(images) as Tensor4D).dataSync();
      });
      chunk.forEach(({ i, kind }, j) => ((kind === 'deletion' ? deletion : insertion)[i] = probabilities[j]));
      onBatch(Math.min(first + batch, jobs.length), jobs.length);
    }
  } finally {
    tf.dispose([rankTensor, start, black]);
  }
  return {
    deletion: { probabilities: deletion, auc: areaUnderCurve(deletion) },
    insertion: { probabilities: insertion, auc: areaUnderCurve(insertion) },
  };
}
