/**
 * XGrad-CAM: Fu et al., "Axiom-based Grad-CAM", BMVC 2020 (https://arxiv.org/abs/2008.02312).
 * Channel weight = Σ_ij (A_ij / Σ_ab A_ab) · g_ij: gradients averaged with the activations as weights.
 */
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence } from './base';

export class XGradCam extends CamTechnique {
  readonly info = {
    id: 'xgradcam',
    title: 'XGrad-CAM',
    summary: 'Grad-CAM with activation-weighted gradient averages, derived from sensitivity and conservation axioms.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override channelWeights({ activations, gradients }: CamEvidence): Tensor1D {
    const share = activations.div(tf.sum(activations, [1, 2], true).add(1e-7));
    return tf.sum(share.mul(gradients!), [0, 1, 2]) as Tensor1D;
  }
}
