/**
 * Gradient × input (Shrikumar et al. 2016; Captum's InputXGradient): the input gradient of the chosen
 * base technique times the preprocessed input, summed over channels. For integrated gradients the
 * attribution already is (x − x′) × the path-averaged gradient, so it is used as it is.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { absSumOverChannels, clipOutliers, inputGradient } from './inputGradient';
import { baselineOf, integratedGradients } from './integratedGradients';

export class GradXImage extends Technique {
  readonly info = {
    id: 'grad-x-image',
    title: 'Gradient × image',
    summary: 'Input gradient times the input: attributions weighted by how much of each pixel is there.',
    needsGradients: true,
    needsLayer: false,
    parameters: [{ name: 'base', summary: 'Gradient to multiply', default: 'saliency', choices: ['saliency', 'guided-backprop', 'integrated-gradients'] }],
  };

  run(request: TechniqueInput): TechniqueOutput {
    const { model, input, classIndex, parameters } = request;
    let attribution: Tensor4D;
    const metrics: Record<string, number> = {};
    if (parameters.base === 'integrated-gradients') {
      const result = integratedGradients(request, baselineOf('black', request), 50, 'riemann');
      attribution = result.attribution;
      metrics.completenessError = result.completenessError;
    } else {
      const rule = parameters.base === 'guided-backprop' ? 'guided' : null;
      attribution = inputGradient(model, input, classIndex, rule).mul(input) as Tensor4D;
    }
    return { map: clipOutliers(absSumOverChannels(attribution)), layer: '', notes: [], metrics };
  }
}
