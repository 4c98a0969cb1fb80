/**
 * Gradient-based image optimisation shared by activation maximisation, class images, deep dream and
 * inversion. The image lives in 0..255 pixel space (so clipping and the regularisers mean the same for
 * every model); the objective sees it preprocessed. Adam steps; every step is one tidy, so memory stays
 * flat however many steps run. Regularisers (Yosinski et al. 2015, "Understanding Neural Networks Through
 * Deep Visualization"; jitter and total variation as in Lucid/Lucent and Mahendran & Vedaldi):
 *  - l2: decay towards mid-grey, x ← 128 + (x − 128)(1 − l2), every step;
 *  - blurEvery / blurSigma: a Gaussian blur every k steps;
 *  - jitter: the objective sees the image shifted by up to ±jitter pixels (a new shift each step);
 *  - clipNorm: pixels whose |x − 128| (over channels) is below that percentile go to grey;
 *  - clipContribution: pixels whose |Σ_c (x − 128) · gradient| is below that percentile go to grey;
 *  - tv: weight of the total-variation penalty (mean squared difference of neighbours, image in 0..1).
 */
import type { Scalar, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { NonFiniteError } from '../finite';
import { quantile } from '../quantile';
import { tf } from '../tfjs/tf';
import type { RgbaImage } from '../types';

export interface Regularisers {
  l2: number;
  blurEvery: number;
  blurSigma: number;
  jitter: number;
  clipNorm: number;
  clipContribution: number;
  tv: number;
}

export const NO_REGULARISERS: Regularisers = { l2: 0, blurEvery: 0, blurSigma: 1, jitter: 0, clipNorm: 0, clipContribution: 0, tv: 0 };

export interface AscentOptions {
  steps: number;
  learningRate: number;
  regularisers: Regularisers;
  seed: number;
  /** Throws to stop (cancel); called before every step. */
  checkCancelled: () => void;
  /** Called every `previewEvery` steps (0 = never) with the image so far. */
  previewEvery?: number;
  onPreview?: (image: RgbaImage, step: number, objective: number) => void;
  /** Called after every step with the step's objective (for tests and charts). */
  onStep?: (step: number, objective: number) => void;
  /**
   * The error to stop with when a step's objective or gradient holds NaN or infinity, given the image (0..255
   * pixels) the step started from; default: a NonFiniteError naming the step. Nothing more is drawn.
   */
  nonFinite?: (pixels: Tensor4D, step: number, what: 'objective' | 'gradient') => Error;
}

/** Rolls [1, h, w, c] by (dy, dx) with wrap-around, differentiably (slices and concatenations). */
export function roll(x: Tensor4D, dy: number, dx: number): Tensor4D {
  const [, h, w] = x.shape;
  const along = (t: Tensor4D, shift: number, axis: 1 | 2, size: number): Tensor4D => {
    const s = ((shift % size) + size) % size;
    if (s === 0) return t;
    const begin = [0, 0, 0, 0];
    const cut = [-1, -1, -1, -1];
    cut[axis] = size - s;
    const head = tf.slice(t, begin, cut);
    const tailBegin = [0, 0, 0, 0];
    tailBegin[axis] = size - s;
    const tail = tf.slice(t, tailBegin, [-1, -1, -1, -1]);
    return tf.concat([tail, head], axis) as Tensor4D;
  };
  return along(along(x, dy, 1, h), dx, 2, w);
}

/** Separable Gaussian blur of [1, h, w, c] (edges padded by reflection). */
export function gaussianBlur(x: Tensor4D, sigma: number): Tensor4D {
  const radius = Math.max(1, Math.ceil(2 * sigma));
  const weights = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const total = weights.reduce((a, b) => a + b, 0);
  const channels = x.shape[3];
  return tf.tidy(() => {
    const kernel = tf.tensor1d(weights.map((w) => w / total));
    const horizontal = tf.tile(kernel.reshape([1, -1, 1, 1]), [1, 1, channels, 1]) as Tensor4D;
    const vertical = tf.tile(kernel.reshape([-1, 1, 1, 1]), [1, 1, channels, 1]) as Tensor4D;
    const size = Math.min(radius, x.shape[1] - 1, x.shape[2] - 1);
    const padded =
      size > 0
        ? tf.mirrorPad(
            x,
            [
              [0, 0],
              [size, size],
              [size, size],
              [0, 0],
            ],
            'reflect',
          )
        : x;
    const blurred = tf.depthwiseConv2d(tf.depthwiseConv2d(padded, horizontal, 1, 'same'), vertical, 1, 'same');
    return size > 0 ? (tf.slice(blurred, [0, size, size, 0], x.shape) as Tensor4D) : blurred;
  });
}

/** Mean squared difference between neighbouring pixels of an image in 0..1. */
export function totalVariation(x01: Tensor4D): Scalar {
  const [, h, w] = x01.shape;
  const dy = tf.sub(tf.slice(x01, [0, 1, 0, 0], [-1, h - 1, -1, -1]), tf.slice(x01, [0, 0, 0, 0], [-1, h - 1, -1, -1]));
  const dx = tf.sub(tf.slice(x01, [0, 0, 1, 0], [-1, -1, w - 1, -1]), tf.slice(x01, [0, 0, 0, 0], [-1, -1, w - 1, -1]));
  return tf.add(tf.mean(tf.square(dy)), tf.mean(tf.square(dx))) as Scalar;
}

function percentileMask(score: Tensor3D, percentile: number): tf.Tensor {
  return tf.greaterEqual(score, quantile(score.dataSync(), percentile)).toFloat().expandDims(0).expandDims(-1);
}

/** 0..255 pixels [1, h, w, 3] → RGBA. */
export function toRgba(x: Tensor4D): RgbaImage {
  const [, height, width] = x.shape;
  return tf.tidy(() => {
    const rgb = tf.clipByValue(x, 0, 255).round().squeeze([0]);
    const channels = rgb.shape[2] as number;
    const colour = channels === 1 ? tf.tile(rgb, [1, 1, 3]) : rgb;
    const rgba = tf.concat([colour, tf.fill([height, width, 1], 255)], 2);
    return { width, height, data: Uint8Array.from(rgba.dataSync()) };
  });
}

/** What the optimiser changes, and how that becomes pixels (identity for plain pixel-space optimisation). */
export interface Parameterisation {
  initial: tf.Tensor;
  toPixels: (parameters: tf.Tensor) => Tensor4D;
}

/**
 * Maximises `objective` (a scalar of the image in 0..255) from `start`, which it does not dispose.
 * Returns the final image (caller disposes) and the objective after every step. With a parameterisation
 * other than pixels, the pixel-space regularisers (l2, blur, clipping) do not apply; jitter and tv do.
 */
export function ascend(
  start: Tensor4D | Parameterisation,
  objective: (x: Tensor4D) => Scalar,
  options: AscentOptions,
): { image: Tensor4D; history: number[] } {
  const { steps, learningRate, regularisers: r, seed } = options;
  const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-8];
  const inPixels = start instanceof tf.Tensor;
  const toPixels = inPixels ? (p: tf.Tensor) => p as Tensor4D : start.toPixels;
  let x = tf.clone(inPixels ? start : start.initial) as Tensor4D;
  let m = tf.zerosLike(x);
  let v = tf.zerosLike(x);
  const history: number[] = [];
  let random = seed >>> 0 || 1;
  const nextShift = () => {
    random = (Math.imul(random, 1664525) + 1013904223) >>> 0;
    return Math.round(((random / 2 ** 32) * 2 - 1) * r.jitter);
  };
  try {
    for (let step = 1; step <= steps; step++) {
      options.checkCancelled();
      const [dy, dx] = r.jitter > 0 ? [nextShift(), nextShift()] : [0, 0];
      const next = tf.tidy(() => {
        const penalised = (parameters: tf.Tensor) => {
          const image = toPixels(parameters);
          const shifted = roll(image, dy, dx);
          const value = objective(shifted);
          return r.tv > 0 ? tf.sub(value, tf.mul(r.tv, totalVariation(tf.div(image, 255) as Tensor4D))) : value;
        };
        const { value, grad } = tf.valueAndGrad(penalised as (image: tf.Tensor) => Scalar)(x);
        const g = grad as Tensor4D;
        // The objective is read every step anyway; whether the gradient is finite comes with it in one read.
        const [reached, gradientFinite] = tf.concat([value.reshape([1]), tf.all(tf.isFinite(g)).toFloat().reshape([1])]).dataSync();
        if (!Number.isFinite(reached) || gradientFinite !== 1) {
          const what = Number.isFinite(reached) ? 'gradient' : 'objective';
          throw options.nonFinite
            ? options.nonFinite(toPixels(x), step, what)
            : new NonFiniteError(`The optimisation's ${what} holds NaN or infinity at step ${step}, so nothing is drawn.`);
        }
        const m1 = m.mul(beta1).add(g.mul(1 - beta1));
        const v1 = v.mul(beta2).add(g.square().mul(1 - beta2));
        const mHat = m1.div(1 - beta1 ** step);
        const vHat = v1.div(1 - beta2 ** step);
        let updated = x.add(mHat.mul(learningRate).div(vHat.sqrt().add(epsilon))) as Tensor4D;
        if (!inPixels) return { x: updated, m: m1 as Tensor4D, v: v1 as Tensor4D, value: reached };
        if (r.l2 > 0)
          updated = updated
            .sub(128)
            .mul(1 - r.l2)
            .add(128) as Tensor4D;
        if (r.blurEvery > 0 && step % r.blurEvery === 0) updated = gaussianBlur(updated, r.blurSigma);
        if (r.clipNorm > 0) {
          const norm = tf.sqrt(tf.sum(tf.square(updated.sub(128)), -1)).squeeze([0]) as Tensor3D;
          updated = updated.sub(128).mul(percentileMask(norm, r.clipNorm)).add(128) as Tensor4D;
        }
        if (r.clipContribution > 0) {
          const contribution = tf.abs(tf.sum(updated.sub(128).mul(g), -1)).squeeze([0]) as Tensor3D;
          updated = updated.sub(128).mul(percentileMask(contribution, r.clipContribution)).add(128) as Tensor4D;
        }
        return { x: tf.clipByValue(updated, 0, 255) as Tensor4D, m: m1 as Tensor4D, v: v1 as Tensor4D, value: reached };
      });
      tf.dispose([x, m, v]);
      ({ x, m, v } = next);
      history.push(next.value);
      options.onStep?.(step, next.value);
      if (options.onPreview && options.previewEvery && step % options.previewEvery === 0 && step < steps) {
        if (inPixels) options.onPreview(toRgba(x), step, next.value);
        else {
          const shown = tf.tidy(() => toPixels(x));
          options.onPreview(toRgba(shown), step, next.value);
          shown.dispose();
        }
      }
    }
  } catch (error) {
    x.dispose();
    throw error;
  } finally {
    tf.dispose([m, v]);
  }
  if (inPixels) return { image: x, history };
  const image = tf.tidy(() => toPixels(x));
  x.dispose();
  return { image, history };
}
