/**
 * Grad-CAM++: Chattopadhyay et al., "Grad-CAM++: Improved Visual Explanations for Deep Convolutional
 * Networks", WACV 2018 (https://arxiv.org/abs/1710.11063). Channel weight = Σ_ij α_ij · ReLU(g_ij) with
 * α = g² / (2g² + Σ_ab A_ab · g³) (the exponential-score closed form, as pytorch-grad-cam uses), α = 0 where g = 0.
 */
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence } from './base';

export class GradCamPlusPlus extends CamTechnique {
  readonly info = {
    id: 'gradcam++',
    title: 'Grad-CAM++',
    summary: 'Grad-CAM with pixel-wise weighting of positive gradients: better with several instances of a class.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override channelWeights({ activations, gradients }: CamEvidence): Tensor1D {
    const g = gradients!;
    const g2 = g.square();
    const g3 = g2.mul(g);
    const activationSum = tf.sum(activations, [1, 2], true);
    const alpha = tf.where(tf.notEqual(g, 0), g2.div(g2.mul(2).add(activationSum.mul(g3)).add(1e-7)), tf.zerosLike(g));
    return tf.sum(tf.relu(g).mul(alpha), [0, 1, 2]) as Tensor1D;
  }
}
