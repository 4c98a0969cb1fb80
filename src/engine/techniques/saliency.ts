/**
 * Vanilla backpropagation / saliency: Simonyan et al., "Deep Inside Convolutional Networks", 2014
 * (https://arxiv.org/abs/1312.6034). The map is max over channels of |d score / d input|.
 */
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { clipOutliers, inputGradient, maxAbsOverChannels } from './inputGradient';

export class Saliency extends Technique {
  readonly info = {
    id: 'saliency',
    title: 'Saliency (vanilla gradient)',
    summary: 'Gradient of the class score w.r.t. the input pixels: which pixels change the score most.',
    needsGradients: true,
    needsLayer: false,
  };

  run({ model, input, classIndex }: TechniqueInput): TechniqueOutput {
    return { map: clipOutliers(maxAbsOverChannels(inputGradient(model, input, classIndex))), layer: '', notes: [] };
  }
}
