/**
 * Gradient × input (Shrikumar et al. 2016; Captum's InputXGradient): the input gradient of the chosen
 * base technique times the preprocessed input. For integrated gradients the attribution already is
 * (x − x′) × the path-averaged gradient, so it is used as it is.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { AttributionTechnique, viewParameter, type Attribution } from './attribution';
import type { TechniqueInput } from './base';
import { inputGradient } from './inputGradient';
import { baselineOf, integratedGradients } from './integratedGradients';

export class GradXImage extends AttributionTechnique {
  readonly info = {
    id: 'grad-x-image',
    title: 'Gradient × image',
    summary: 'Input gradient times the input: attributions weighted by how much of each pixel is there.',
    needsGradients: true,
    needsLayer: false,
    parameters: [
      {
        name: 'base',
        summary: 'Gradient to multiply',
        default: 'saliency',
        choices: ['saliency', 'guided-backprop', 'integrated-gradients'],
      },
      viewParameter('sum-abs'),
    ],
  };

  override batchable(parameters: TechniqueInput['parameters']): boolean {
    return parameters.base !== 'integrated-gradients';
  }

  override noiseSummable(parameters: TechniqueInput['parameters']) {
    return parameters.base === 'saliency' ? { rule: null, timesInput: true } : null;
  }

  attribute(request: TechniqueInput): Attribution {
    const { model, input, classIndex, parameters } = request;
    if (parameters.base === 'integrated-gradients') {
      const result = integratedGradients(request, baselineOf('black', request), 50, 'riemann');
      return { attribution: result.attribution, metrics: { completenessError: result.completenessError } };
    }
    const rule = parameters.base === 'guided-backprop' ? 'guided' : null;
    return { attribution: inputGradient(model, input, classIndex, rule).mul(input) as Tensor4D };
  }
}
