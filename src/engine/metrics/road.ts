/**
 * ROAD, RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution
 * Methods", ICML 2022, https://arxiv.org/abs/2202.00449), as pytorch-grad-cam computes it
 * (pytorch_grad_cam/metrics/road.py, perturbation_confidence.py): at each percentile p the pixels whose map
 * value is at or above the map's p-th percentile (MoRF, most relevant first) — or whose value is at or below
 * the (100 − p)-th (LeRF, least relevant first, the percentile taken of 1 − map) — are removed by noisy
 * linear imputation of the model's input, and the score is P(class | imputed) − P(class | image).
 * So p is the share of pixels kept. A faithful map makes MoRF fall (lower is better) and LeRF stay
 * (higher is better); the combined score, (mean LeRF − mean MoRF) / 2, is higher for better maps.
 *
 * The imputation works on the model's input (after its scaling), as the peer's does: imputation commutes
 * with a per-channel scaling, the noise does not, and this keeps `noise` in the peer's units.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { linearImputation } from './imputation';
import { classProbabilityOfInputs, type ModelProbe } from './modelProbe';

export const ROAD_PERCENTILES = [10, 20, 30, 40, 50, 60, 70, 80, 90];
/** pytorch-grad-cam's NoisyLinearImputer default: the standard deviation of the noise, in model-input units. */
export const ROAD_NOISE = 0.01;

export interface RoadOptions {
  percentiles?: number[];
  noise?: number;
  seed?: number;
  /** Imputed images per forward pass. */
  batch: number;
}

export interface RoadResult {
  percentiles: number[];
  /** P(class) change with the pixels above each percentile imputed: lower is better. */
  mostRelevantFirst: number[];
  /** P(class) change with the pixels below each (100 − p)-th percentile imputed: higher is better. */
  leastRelevantFirst: number[];
  /** (mean of leastRelevantFirst − mean of mostRelevantFirst) / 2: higher is better. */
  combined: number;
  noise: number;
  seed: number;
}

/** NumPy's default (linear) percentile, p in 0..100. */
export function percentileOf(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort();
  const k = (p / 100) * (sorted.length - 1);
  const below = Math.floor(k);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (k - below) * (sorted[above] - sorted[below]);
}

/**
 * 1 for the pixels kept at percentile p: those below the threshold, as the peer keeps them. When ties at
 * the threshold would remove every pixel (a map that is 0 over more than p % of the image, say), the
 * p % least important by rank are kept instead, ties in reading order: imputation needs something to start from.
 */
export function keptPixels(map: Float32Array, p: number, leastRelevantFirst: boolean): Uint8Array {
  const values = leastRelevantFirst ? map.map((v) => 1 - v) : map;
  const threshold = percentileOf(values, p);
  const kept = Uint8Array.from(values, (v) => (v < threshold ? 1 : 0));
  if (kept.some((k) => k === 1)) return kept;
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b] || a - b);
  for (const i of order.slice(0, Math.max(1, Math.floor((p / 100) * values.length)))) kept[i] = 1;
  return kept;
}

/** Refuses settings ROAD cannot use, before any work starts. */
export function checkRoadOptions({ percentiles = ROAD_PERCENTILES, noise = ROAD_NOISE, seed = 0 }: Omit<RoadOptions, 'batch'>): void {
  if (percentiles.length === 0 || percentiles.some((p) => !Number.isFinite(p) || p <= 0 || p >= 100))
    throw new Error(`ROAD's percentiles must lie strictly between 0 and 100; got ${percentiles.join(', ') || 'none'}.`);
  if (!Number.isFinite(noise) || noise < 0) throw new Error(`ROAD's noise must be a number ≥ 0; got ${noise}.`);
  if (!Number.isInteger(seed)) throw new Error(`ROAD's seed must be an integer; got ${seed}.`);
}

/**
 * ROAD for `map` ([h·w] at the model's input size, higher = more important) over `pixels` ([1, h, w, c],
 * 0..255). Every percentile's MoRF and LeRF images go through the model `batch` at a time; cancellable
 * between imputations.
 */
export function road(probe: ModelProbe, pixels: Tensor4D, map: Float32Array, options: RoadOptions): RoadResult {
  const { percentiles = ROAD_PERCENTILES, noise = ROAD_NOISE, seed = 0, batch } = options;
  checkRoadOptions({ percentiles, noise, seed });
  const [, height, width, channels] = pixels.shape;
  if (map.length !== height * width) throw new RangeError(`The map has ${map.length} values for a ${width}×${height} input.`);
  const input = tf.tidy(() => probe.preprocess(pixels));
  const image = { values: input.dataSync() as Float32Array, height, width, channels };
  const jobs = percentiles.flatMap((p, i) => [
    { i, p, leastFirst: false },
    { i, p, leastFirst: true },
  ]);
  const morf = new Array<number>(percentiles.length);
  const lerf = new Array<number>(percentiles.length);
  let original = NaN;
  try {
    original = tf.tidy(() => classProbabilityOfInputs(probe, input).dataSync()[0]);
    // Each imputation starts from the last one in the same direction: at rising percentiles the hole shrinks,
    // and the larger hole's fill is most of the smaller one's.
    const last: { [direction: string]: Float32Array } = {};
    for (let first = 0; first < jobs.length; first += batch) {
      const chunk = jobs.slice(first, first + batch);
      const imputed = chunk.map(({ p, leastFirst }, j) => {
        probe.checkCancelled();
        const direction = leastFirst ? 'lerf' : 'morf';
        // A seed per image, so that a percentile's noise does not depend on the batch size.
        last[direction] = linearImputation(image, keptPixels(map, p, leastFirst), noise, seed + first + j, last[direction]);
        return last[direction];
      });
      probe.checkCancelled();
      const probabilities = tf.tidy(() => {
        const inputs = tf.tensor4d(concatenated(imputed), [chunk.length, height, width, channels]);
        return classProbabilityOfInputs(probe, inputs).dataSync();
      });
      chunk.forEach(({ i, leastFirst }, j) => ((leastFirst ? lerf : morf)[i] = probabilities[j] - original));
    }
  } finally {
    input.dispose();
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return { percentiles, mostRelevantFirst: morf, leastRelevantFirst: lerf, combined: (mean(lerf) - mean(morf)) / 2, noise, seed };
}

function concatenated(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * pytorch-grad-cam's CamMultImageConfidenceChange: P(class | input × map) − P(class | input), the model's
 * input (after its scaling, as the peer multiplies it) times the 0..1 map. Unlike the average drop, which
 * multiplies the 0..255 pixels, a removed pixel here becomes the input's zero (mid-grey for MobileNet's scaling).
 */
export function imageTimesMapChange(
  probe: ModelProbe,
  pixels: Tensor4D,
  map: Float32Array,
): { change: number; original: number; masked: number } {
  const [, h, w] = pixels.shape;
  if (map.length !== h * w) throw new RangeError(`The map has ${map.length} values for a ${w}×${h} input.`);
  const [original, masked] = tf.tidy(() => {
    const input = probe.preprocess(pixels);
    return classProbabilityOfInputs(probe, tf.concat([input, input.mul(tf.tensor4d(map, [1, h, w, 1]))]) as Tensor4D).dataSync();
  });
  return { change: masked - original, original, masked };
}
