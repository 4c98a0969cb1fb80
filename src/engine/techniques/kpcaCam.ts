/**
 * KPCA-CAM: Karmani et al., "KPCA-CAM: Visual Explainability of Deep Computer Vision Models using Kernel
 * PCA", MMSP 2024 (https://arxiv.org/abs/2410.00267). Eigen-CAM with kernel PCA: the layer's locations
 * (rows of channel values, centred) are projected on the first principal component in the kernel's feature
 * space, which can follow structure a linear projection misses. Gradient-free and class-agnostic.
 * As pytorch-grad-cam (scikit-learn's KernelPCA): γ defaults to 1 / channels, coef0 = 1, degree 3, and the
 * component's sign is the one that makes its largest entry positive.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';
import { topEigenvector } from './eigenCam';

const KERNELS = ['sigmoid', 'rbf', 'poly', 'linear', 'cosine'];

/** The n×n kernel matrix of the rows of `x` [n, c]. */
function kernelMatrix(x: Tensor2D, kernel: string, gamma: number): tf.Tensor {
  const dot = tf.matMul(x, x, false, true);
  switch (kernel) {
    case 'sigmoid':
      return tf.tanh(dot.mul(gamma).add(1));
    case 'poly':
      return tf.pow(dot.mul(gamma).add(1), 3);
    case 'rbf': {
      const squares = tf.sum(tf.square(x), 1);
      const distances = squares
        .reshape([-1, 1])
        .add(squares.reshape([1, -1]))
        .sub(dot.mul(2));
      return tf.exp(tf.relu(distances).mul(-gamma));
    }
    case 'cosine': {
      const norms = tf.maximum(tf.norm(x, 'euclidean', 1), 1e-12);
      return dot.div(norms.reshape([-1, 1])).div(norms.reshape([1, -1]));
    }
    default:
      return dot;
  }
}

/** K − 1K − K1 + 1K1 (1 = the n×n matrix of 1/n): the kernel of the features centred in feature space. */
function centred(k: tf.Tensor): Tensor2D {
  const rowMeans = tf.mean(k, 1, true);
  const columnMeans = tf.mean(k, 0, true);
  return k.sub(rowMeans).sub(columnMeans).add(tf.mean(k)) as Tensor2D;
}

/** The eigenvector of the largest (algebraic, not absolute) eigenvalue of a symmetric n×n matrix, and that eigenvalue. */
export function largestEigenpair(matrix: Float64Array, n: number): { vector: Float64Array; value: number } {
  const rayleigh = (m: Float64Array, v: Float64Array) => {
    let sum = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sum += v[i] * m[i * n + j] * v[j];
    return sum;
  };
  const vector = topEigenvector(matrix, n);
  const value = rayleigh(matrix, vector);
  if (value >= 0) return { vector, value };
  // The dominant eigenvalue is negative: shift it to 0, so the largest one dominates instead.
  const shifted = Float64Array.from(matrix);
  for (let i = 0; i < n; i++) shifted[i * n + i] -= value;
  const top = topEigenvector(shifted, n);
  return { vector: top, value: rayleigh(matrix, top) };
}

export class KpcaCam extends CamTechnique {
  readonly info = {
    id: 'kpca-cam',
    title: 'KPCA-CAM',
    summary: 'Eigen-CAM with kernel PCA: the first principal component of the activations in a kernel space. No gradients.',
    needsGradients: false,
    needsLayer: true,
    classAgnostic: true,
    parameters: [
      { name: 'kernel', summary: 'Kernel of the PCA', default: 'sigmoid', choices: KERNELS },
      { name: 'gamma', summary: 'Kernel coefficient γ (rbf, sigmoid, poly); 0 = 1 / channels', default: 0, min: 0 },
    ],
  };

  protected override readonly usesGradients = false;

  protected override combine({ activations }: CamEvidence, { parameters }: TechniqueInput): Tensor2D {
    const [, h, w, c] = activations.shape;
    const rows = activations.reshape([h * w, c]);
    const x = rows.sub(tf.mean(rows, 0, true)) as Tensor2D;
    const gamma = Number(parameters.gamma) > 0 ? Number(parameters.gamma) : 1 / c;
    const k = Float64Array.from(centred(kernelMatrix(x, String(parameters.kernel), gamma)).dataSync());
    const { vector, value } = largestEigenpair(k, h * w);
    let largest = 0;
    for (let i = 0; i < vector.length; i++) if (Math.abs(vector[i]) > Math.abs(vector[largest])) largest = i;
    const scale = Math.sqrt(Math.max(value, 0)) * Math.sign(vector[largest] || 1);
    return tf.tensor2d(
      Float32Array.from(vector, (v) => v * scale),
      [h, w],
    );
  }
}
