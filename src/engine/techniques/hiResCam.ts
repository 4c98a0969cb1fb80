/**
 * HiResCAM: Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of convolutional
 * neural networks", 2020 (https://arxiv.org/abs/2011.08891). The element-wise product g ⊙ A summed over
 * channels, with no spatial averaging of the gradient: provably shows the locations the score used.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence } from './base';

export class HiResCam extends CamTechnique {
  readonly info = {
    id: 'hirescam',
    title: 'HiResCAM',
    summary: 'Gradient times activation element by element: the locations the class score actually used.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override combine({ activations, gradients }: CamEvidence): Tensor2D {
    return tf.sum(activations.mul(gradients!), -1).squeeze([0]) as Tensor2D;
  }
}
