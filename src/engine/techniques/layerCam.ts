/**
 * LayerCAM: Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization",
 * IEEE TIP 2021 (http://mmcheng.net/mftp/Papers/21TIP_LayerCAM.pdf). Σ_k ReLU(g_k) ⊙ A_k element by
 * element: positive gradients weight each location on its own, which keeps early layers' fine detail.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence } from './base';

export class LayerCam extends CamTechnique {
  readonly info = {
    id: 'layercam',
    title: 'LayerCAM',
    summary: 'Positive gradients weight each location of each channel: reliable on early, high-resolution layers too.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override combine({ activations, gradients }: CamEvidence): Tensor2D {
    return tf.sum(activations.mul(tf.relu(gradients!)), -1).squeeze([0]) as Tensor2D;
  }
}
