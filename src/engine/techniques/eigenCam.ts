/**
 * Eigen-CAM: Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal Components", IJCNN 2020
 * (https://arxiv.org/abs/2008.00299): the projection of the layer's activations (one row per location,
 * centred) on their first principal component. Class-agnostic and gradient-free. EigenGrad-CAM
 * (pytorch-grad-cam) projects gradient ⊙ activation instead, which makes it class-specific.
 * A principal component's sign is arbitrary: it is fixed so that the map agrees with the mean activation.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { gaussianValues } from '../random';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence } from './base';

/**
 * Top eigenvector of the symmetric c×c matrix (row-major) by power iteration, accumulated in float64.
 * At most 300 iterations (≈ 0.3 s for c = 1024): with nearly equal top eigenvalues the answer is then a
 * mix of their eigenvectors, which is as good a "main direction" as either. The start is a fixed Gaussian
 * draw, not the uniform vector: a Gram matrix of centred rows maps the uniform vector to exactly 0, and
 * only rounding noise would have led the iteration away from it.
 */
export function topEigenvector(matrix: Float64Array, c: number): Float64Array {
  let v = Float64Array.from(gaussianValues(c, 0, 1, 20200731));
  for (let iteration = 0; iteration < 300; iteration++) {
    const next = new Float64Array(c);
    for (let i = 0; i < c; i++) {
      let sum = 0;
      for (let j = 0; j < c; j++) sum += matrix[i * c + j] * v[j];
      next[i] = sum;
    }
    let squares = 0;
    for (let i = 0; i < c; i++) squares += next[i] * next[i];
    const norm = Math.sqrt(squares);
    if (!(norm > 0)) return v;
    let change = 0;
    for (let i = 0; i < c; i++) {
      next[i] /= norm;
      change = Math.max(change, Math.abs(next[i] - v[i]));
    }
    v = next;
    if (change < 1e-10) break;
  }
  return v;
}

/**
 * The unit direction [c, 1] of the centred rows' [n, c] first principal component, from whichever of the
 * c×c covariance and the n×n Gram matrix is smaller: they share their nonzero eigenvalues, and the Gram
 * matrix's top eigenvector u gives the direction as Cᵀu / |Cᵀu|. A deep layer has far more channels than
 * cells (MobileNet's last: 768 against 49), and power iteration on the covariance took ~28 forward passes.
 */
function principalDirection(centred: Tensor2D): Tensor2D {
  const [n, c] = centred.shape;
  if (c <= n) {
    const covariance = Float64Array.from(tf.matMul(centred, centred, true, false).dataSync());
    return tf.tensor2d(Float32Array.from(topEigenvector(covariance, c)), [c, 1]);
  }
  const gram = Float64Array.from(tf.matMul(centred, centred, false, true).dataSync());
  const u = tf.tensor2d(Float32Array.from(topEigenvector(gram, n)), [n, 1]);
  const direction = tf.matMul(centred, u, true, false);
  const norm = tf.norm(direction).dataSync()[0];
  // Rows all equal: no component, the map is 0 everywhere (as the covariance route gives).
  return (norm > 0 ? direction.div(norm) : tf.zerosLike(direction)) as Tensor2D;
}

/** [h, w] projection of the rows of `values` ([1, h, w, c]) on their first principal component. */
export function firstComponentMap(values: Tensor4D, reference: Tensor4D): Tensor2D {
  const [, h, w, c] = values.shape;
  const rows = values.reshape([h * w, c]);
  const centred = rows.sub(tf.mean(rows, 0, true)) as Tensor2D;
  const projection = tf.matMul(centred, principalDirection(centred)).reshape([h, w]) as Tensor2D;
  const agreement = tf.sum(projection.mul(tf.mean(reference, -1).reshape([h, w]))).dataSync()[0];
  return agreement < 0 ? (projection.neg() as Tensor2D) : projection;
}

export class EigenCam extends CamTechnique {
  readonly info = {
    id: 'eigencam',
    title: 'Eigen-CAM',
    summary: 'First principal component of the layer’s activations: what the layer sees most, for any class. No gradients.',
    needsGradients: false,
    needsLayer: true,
    classAgnostic: true,
  };

  protected override readonly usesGradients = false;

  protected override combine({ activations }: CamEvidence): Tensor2D {
    return firstComponentMap(activations, activations);
  }
}

export class EigenGradCam extends CamTechnique {
  readonly info = {
    id: 'eigengradcam',
    title: 'EigenGrad-CAM',
    summary: 'First principal component of gradient × activation: Eigen-CAM made class-specific.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override combine({ activations, gradients }: CamEvidence): Tensor2D {
    const product = activations.mul(gradients!) as Tensor4D;
    return firstComponentMap(product, product);
  }
}
