/**
 * ShapleyCAM: Cai, "CAMs as Shapley Value-based Explainers", 2025 (https://arxiv.org/abs/2501.06261).
 * Grad-CAM's weights are a first-order estimate of each channel's Shapley value; ShapleyCAM adds the
 * second-order term: channel weight = spatial mean of g − ½·H·A, where g is the target's gradient w.r.t. the
 * activations A and H·A its Hessian applied to A (two more backward passes through the head).
 * The target is the paper's ReST by default, the logit plus its log-softmax (pytorch-grad-cam's
 * ClassifierOutputReST): with the raw logit and a head that is linear after the layer (global pooling and
 * a dense layer, as most CNNs end), H is 0 and ShapleyCAM is exactly Grad-CAM.
 */
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';

export class ShapleyCam extends CamTechnique {
  readonly info = {
    id: 'shapleycam',
    title: 'ShapleyCAM',
    summary: 'Grad-CAM with a second-order (Hessian) correction: channel weights as Shapley-value estimates.',
    needsGradients: true,
    needsLayer: true,
    parameters: [
      {
        name: 'target',
        summary: 'What is explained: rest = logit + log-softmax (the paper’s), logit = the raw score',
        default: 'rest',
        choices: ['rest', 'logit'],
      },
    ],
  };

  protected override targetScore(scores: Tensor2D, { classIndex, parameters }: TechniqueInput): tf.Scalar {
    const logit = tf.sum(scores.slice([0, classIndex], [-1, 1]));
    if (parameters.target === 'logit') return logit as tf.Scalar;
    return logit.add(tf.sum(tf.logSoftmax(scores).slice([0, classIndex], [-1, 1]))) as tf.Scalar;
  }

  protected override channelWeights({ activations, gradients, head }: CamEvidence, request: TechniqueInput): Tensor1D {
    const c = activations.shape[3];
    return tf.mean(
      gradients!.sub(hessianTimesActivations(this.targetOf(head, request), activations).mul(0.5)).reshape([-1, c]),
      0,
    ) as Tensor1D;
  }
}

/** Relative step of the central difference: float32 gradients keep ~4 significant digits of H·A at this step. */
const STEP = 1e-3;

/**
 * H·A, the Hessian of the target w.r.t. the activations applied to the activations themselves: the directional
 * derivative of the gradient along A, by a central difference of two more backward passes. (TF.js has no
 * gradients of gradients.) Exact up to rounding where the head is linear or quadratic in A; a ReLU in the head
 * whose input changes sign within ±0.1 % of A would add a spurious term, where autograd's second derivative is 0.
 */
function hessianTimesActivations(target: (a: tf.Tensor) => tf.Scalar, activations: Tensor4D): Tensor4D {
  const gradient = tf.grad(target);
  const ahead = gradient(activations.mul(1 + STEP));
  const behind = gradient(activations.mul(1 - STEP));
  return ahead.sub(behind).div(2 * STEP) as Tensor4D;
}
