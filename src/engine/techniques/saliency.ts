/**
 * Vanilla backpropagation / saliency: Simonyan et al., "Deep Inside Convolutional Networks", 2014
 * (https://arxiv.org/abs/1312.6034). The map is max over channels of |d score / d input|.
 */
import { RuleBackprop } from './guidedBackprop';

export class Saliency extends RuleBackprop {
  protected readonly rule = null;
  readonly info = {
    id: 'saliency',
    title: 'Saliency (vanilla gradient)',
    summary: 'Gradient of the class score w.r.t. the input pixels: which pixels change the score most.',
    needsGradients: true,
    needsLayer: false,
  };
}
