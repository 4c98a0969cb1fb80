/**
 * Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
 * Localization", ICCV 2017 (https://arxiv.org/abs/1610.02391).
 * Channel weight = spatial mean of the class score's gradient w.r.t. that channel.
 */
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';

export class GradCam extends CamTechnique {
  readonly info = {
    id: 'gradcam',
    title: 'Grad-CAM',
    summary: 'Gradient-weighted class activation map of a convolutional layer.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override mapWhereEvidenceIs({ model, input, layer, classIndex }: TechniqueInput): Tensor2D | null {
    const map = model.gradCamMap?.(input, layer, classIndex);
    return map ? (map.squeeze([0]) as Tensor2D) : null;
  }

  protected override channelWeights({ gradients }: CamEvidence): Tensor1D {
    // NHWC: average over height and width; channels are last (one batch image: as rows of [h·w, c]).
    const c = gradients!.shape[3];
    return tf.mean(gradients!.reshape([-1, c]), 0) as Tensor1D;
  }
}
