/**
 * Guided backpropagation (Springenberg et al., "Striving for Simplicity", 2015,
 * https://arxiv.org/abs/1412.6806) and deconvnet (Zeiler & Fergus, "Visualizing and Understanding
 * Convolutional Networks", 2014, https://arxiv.org/abs/1311.2901): the input gradient with the ReLU
 * backward rule of models/reluRules.ts.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '../models/adapter';
import type { ReluRule } from '../models/reluRules';
import { tf } from '../tfjs/tf';
import type { TechniqueParameters } from '../types';
import { AttributionTechnique, viewParameter, type Attribution } from './attribution';
import type { TechniqueInput } from './base';
import { activationGradient, chooseUnit, inputGradient } from './inputGradient';

/** The input gradient of the class score under a ReLU backward rule (null = the stock rule: saliency). */
export abstract class RuleBackprop extends AttributionTechnique {
  protected abstract readonly rule: ReluRule | null;

  attribute({ model, input, classIndex }: TechniqueInput): Attribution {
    return { attribution: inputGradient(model, input, classIndex, this.rule) };
  }
}

export class GuidedBackprop extends RuleBackprop {
  protected readonly rule = 'guided' as const;
  readonly info = {
    id: 'guided-backprop',
    title: 'Guided backpropagation',
    summary: 'Input gradient passing only positive gradients through active ReLUs: sharp, edge-like detail.',
    needsGradients: true,
    needsLayer: false,
    parameters: [viewParameter('max-abs')],
  };

  override noiseSummable(_parameters: TechniqueParameters, model: ModelAdapter) {
    return model.supportsReluRules ? { rule: this.rule, timesInput: false } : null;
  }
}

const UNIT_PARAMETERS = {
  filter: { name: 'filter', summary: 'Filter (channel) of the layer; −1 = the most active', default: -1, min: -1, integer: true },
  y: { name: 'y', summary: 'Row of the activation in the layer; −1 = the strongest', default: -1, min: -1, integer: true },
  x: { name: 'x', summary: 'Column of the activation in the layer; −1 = the strongest', default: -1, min: -1, integer: true },
};

/**
 * Deconvnet. With target "class" it maps the class score back to pixels; with target "activation" it is
 * Zeiler & Fergus's own use (and CNN-Visualization's): one activation of a feature map — by default the
 * strongest — is kept, all others zeroed, and it alone is projected back to pixel space.
 */
export class Deconvnet extends RuleBackprop {
  protected readonly rule = 'deconvnet' as const;
  readonly info = {
    id: 'deconvnet',
    title: 'Deconvnet',
    summary: 'Positive gradients through every ReLU: a class score, or one activation of a layer, projected to pixels.',
    needsGradients: true,
    needsLayer: true,
    classAgnostic: { parameter: 'target', value: 'activation' },
    parameters: [
      { name: 'target', summary: 'What to project back', default: 'class', choices: ['class', 'activation'] },
      UNIT_PARAMETERS.filter,
      UNIT_PARAMETERS.y,
      UNIT_PARAMETERS.x,
      viewParameter('max-abs'),
    ],
  };

  override attribute(request: TechniqueInput): Attribution {
    if (request.parameters.target !== 'activation') return super.attribute(request);
    const { model, input, layer, parameters } = request;
    const wanted = { filter: Number(parameters.filter), y: Number(parameters.y), x: Number(parameters.x) };
    const unit = chooseUnit(model.layerOutput(input, layer), layer, wanted, true);
    const attribution = activationGradient(model, input, layer, this.rule, (a) =>
      tf.sum(a.slice([0, unit.y, unit.x, unit.filter], [-1, 1, 1, 1])),
    ) as Tensor4D;
    return {
      attribution,
      layer,
      notes: [`Projected activation (row ${unit.y}, column ${unit.x}) of filter ${unit.filter} in layer "${layer}".`],
      metrics: { filter: unit.filter, y: unit.y, x: unit.x },
    };
  }
}

/**
 * Layer activation with guided backprop (pytorch-cnn-visualizations): guided backpropagation of one
 * filter's whole activation map (Σ |a|) instead of a class score — what that filter responds to here.
 */
export class GuidedLayer extends AttributionTechnique {
  readonly info = {
    id: 'guided-layer',
    title: 'Layer activation, guided',
    summary: 'Guided backpropagation from one filter of a layer: the pixels that filter responds to.',
    needsGradients: true,
    needsLayer: true,
    classAgnostic: true,
    parameters: [UNIT_PARAMETERS.filter, viewParameter('max-abs')],
  };

  attribute({ model, input, layer, parameters }: TechniqueInput): Attribution {
    const unit = chooseUnit(model.layerOutput(input, layer), layer, { filter: Number(parameters.filter), y: -1, x: -1 }, false);
    const attribution = activationGradient(model, input, layer, 'guided', (a) =>
      tf.sum(tf.abs(a.slice([0, 0, 0, unit.filter], [-1, -1, -1, 1]))),
    );
    return { attribution, layer, notes: [`Filter ${unit.filter} of layer "${layer}".`], metrics: { filter: unit.filter } };
  }
}
