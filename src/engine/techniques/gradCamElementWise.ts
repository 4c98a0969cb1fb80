/**
 * Grad-CAM element-wise (pytorch-grad-cam's GradCAMElementWise): like HiResCAM, gradient times activation
 * element by element, but each product is clipped at 0 before the channels are summed, so a channel that
 * argues against the class at a location cannot cancel one that argues for it there.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence } from './base';

export class GradCamElementWise extends CamTechnique {
  readonly info = {
    id: 'gradcam-elementwise',
    title: 'Grad-CAM element-wise',
    summary: 'Gradient times activation, each product clipped at 0 before summing the channels.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override combine({ activations, gradients }: CamEvidence): Tensor2D {
    return tf.sum(tf.relu(activations.mul(gradients!)), -1).squeeze([0]) as Tensor2D;
  }
}
