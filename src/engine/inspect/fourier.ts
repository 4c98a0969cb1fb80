/**
 * Lucid's decorrelated Fourier parameterisation (Olah et al., "Feature Visualization", Distill 2017):
 * the optimised variables are a spectrum scaled by 1/frequency, turned into pixels by an inverse 2-D DFT,
 * then mixed across colour channels by ImageNet's colour-correlation square root and squashed into
 * 0..255 by a sigmoid. Gradient steps then favour low frequencies and natural colours: cleaner pictures
 * without blur or clipping. The inverse DFT is written as matrix products (separable cos/sin bases),
 * which every backend runs and differentiates.
 */
import type { Tensor, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';

/** Lucid's color_correlation_svd_sqrt, each column scaled so the largest has norm 1. */
const COLOUR_CORRELATION = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];
const MAX_NORM = Math.max(...[0, 1, 2].map((j) => Math.hypot(...COLOUR_CORRELATION.map((row) => row[j]))));

export interface FourierImage {
  /** The variables: real and imaginary half-spectrum (as a real FFT keeps it), [2, 3, h, w/2 + 1]. */
  initial: Tensor4D;
  /** Variables → pixels [1, h, w, 3] in 0..255 (differentiable). Call inside a tidy. */
  toPixels: (spectrum: Tensor) => Tensor4D;
  /** The constant bases and scales; dispose when done. */
  dispose: () => void;
}

/** cos and sin of 2π·i·k/n for rows i < rows, columns k < columns. */
function bases(rows: number, columns: number, n: number): { cos: Tensor2D; sin: Tensor2D } {
  const cos = new Float32Array(rows * columns);
  const sin = new Float32Array(rows * columns);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < columns; k++) {
      cos[i * columns + k] = Math.cos((2 * Math.PI * i * k) / n);
      sin[i * columns + k] = Math.sin((2 * Math.PI * i * k) / n);
    }
  }
  return { cos: tf.tensor2d(cos, [rows, columns]), sin: tf.tensor2d(sin, [rows, columns]) };
}

/**
 * 1 / max(|f|, 1/max(h, w))^decay over the half-spectrum (signed row frequencies, as Lucid's
 * rfft2d_freqs), doubled for the columns whose mirror image the half-spectrum leaves out.
 */
function frequencyScale(h: number, w: number, k: number, decay: number): Tensor2D {
  const scale = new Float32Array(h * k);
  const floor = 1 / Math.max(h, w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < k; x++) {
      const fy = (y <= h / 2 ? y : y - h) / h;
      const mirrored = x > 0 && x < w / 2 ? 2 : 1;
      scale[y * k + x] = mirrored / Math.max(Math.hypot(fy, x / w), floor) ** decay;
    }
  }
  return tf.tensor2d(scale, [h, k]);
}

export function fourierImage(height: number, width: number, seed: number, decay = 1): FourierImage {
  const k = Math.floor(width / 2) + 1;
  const columns = bases(k, width, width); // [k, w]
  const rows = bases(height, height, height); // [h, h]
  const scale = tf.tidy(() => frequencyScale(height, width, k, decay).div(Math.sqrt(height * width)) as Tensor2D);
  const mixing = tf.tensor2d(
    COLOUR_CORRELATION.flat().map((v) => v / MAX_NORM),
    [3, 3],
  );
  const constants = [columns.cos, columns.sin, rows.cos, rows.sin, scale, mixing];
  const initial = tf.randomNormal([2, 3, height, k], 0, 0.05, 'float32', seed) as Tensor4D;
  const toPixels = (spectrum: Tensor): Tensor4D => {
    // Channels folded into rows, so each product is one large matrix multiplication.
    const [a, b] = tf.unstack(spectrum as Tensor4D).map((part) => tf.mul(part as Tensor3D, scale).reshape([3 * height, k]) as Tensor2D);
    // Along columns: T = (A + iB)(Cx + iSx).
    const real = tf.sub(tf.matMul(a, columns.cos), tf.matMul(b, columns.sin));
    const imaginary = tf.add(tf.matMul(a, columns.sin), tf.matMul(b, columns.cos));
    // Along rows: Re((Cy + iSy) T) = Cy Tr − Sy Ti, with [3, h, w] regrouped as [h, 3·w].
    const byRow = (t: Tensor) => tf.transpose(t.reshape([3, height, width]), [1, 0, 2]).reshape([height, 3 * width]) as Tensor2D;
    const image = tf.sub(tf.matMul(rows.cos, byRow(real)), tf.matMul(rows.sin, byRow(imaginary)));
    // [h, 3, w] → [h, w, 3], mixed across colours, squashed into 0..255.
    const rgb = tf.transpose(image.reshape([height, 3, width]), [0, 2, 1]).reshape([height * width, 3]);
    return tf
      .sigmoid(tf.matMul(rgb, mixing, false, true))
      .mul(255)
      .reshape([1, height, width, 3]) as Tensor4D;
  };
  return { initial, toPixels, dispose: () => tf.dispose([...constants, initial]) };
}
