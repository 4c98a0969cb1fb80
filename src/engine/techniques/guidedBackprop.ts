/**
 * Guided backpropagation (Springenberg et al., "Striving for Simplicity", 2015,
 * https://arxiv.org/abs/1412.6806) and deconvnet (Zeiler & Fergus, "Visualizing and Understanding
 * Convolutional Networks", 2014, https://arxiv.org/abs/1311.2901): the input gradient with the ReLU
 * backward rule of models/reluRules.ts.
 */
import type { ReluRule } from '../models/reluRules';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { clipOutliers, inputGradient, maxAbsOverChannels } from './inputGradient';

/** The input gradient under a ReLU backward rule (null = the stock rule: plain saliency). */
export abstract class RuleBackprop extends Technique {
  protected abstract readonly rule: ReluRule | null;

  run({ model, input, classIndex }: TechniqueInput): TechniqueOutput {
    return { map: clipOutliers(maxAbsOverChannels(inputGradient(model, input, classIndex, this.rule))), layer: '', notes: [] };
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
  };
}

export class Deconvnet extends RuleBackprop {
  protected readonly rule = 'deconvnet' as const;
  readonly info = {
    id: 'deconvnet',
    title: 'Deconvnet',
    summary: 'Input gradient passing positive gradients through every ReLU, regardless of its input.',
    needsGradients: true,
    needsLayer: false,
  };
}
