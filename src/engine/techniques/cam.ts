/**
 * CAM: Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016
 * (https://arxiv.org/abs/1512.04150). Defined for a global-average-pooling + linear head: the class's
 * weights in that linear layer weight the channels of the layer being pooled. No gradients needed.
 */
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type TechniqueInput } from './base';

export class TechniqueNotApplicableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TechniqueNotApplicableError';
  }
}

export class Cam extends CamTechnique {
  readonly info = {
    id: 'cam',
    title: 'CAM',
    summary: 'Class activation map from the weights of a global-average-pooling classifier head.',
    needsGradients: false,
    needsLayer: false,
  };

  protected override readonly usesGradients = false;

  private head(request: TechniqueInput) {
    const head = request.model.gapHead();
    if (!head) {
      throw new TechniqueNotApplicableError(
        'CAM needs a model that ends in global average pooling followed by one dense (or 1×1 convolution) layer; this model does not. Use Grad-CAM instead.',
      );
    }
    return head;
  }

  protected override targetLayer(request: TechniqueInput): { layer: string; notes: string[] } {
    const { layer } = this.head(request);
    const notes = request.layer !== layer ? [`CAM is defined at the layer feeding the pooling head, so it used "${layer}".`] : [];
    return { layer, notes };
  }

  protected override channelWeights(_evidence: unknown, request: TechniqueInput): Tensor1D {
    const { weights } = this.head(request);
    return tf.slice(weights, [0, request.classIndex], [-1, 1]).reshape([-1]) as Tensor1D;
  }
}
