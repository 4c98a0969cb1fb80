/**
 * Vanilla backpropagation / saliency: Simonyan et al., "Deep Inside Convolutional Networks", 2014
 * (https://arxiv.org/abs/1312.6034): d score / d input. Its default view is their grayscale map, max over
 * channels of |gradient|; the colour, signed, positive and negative views are the seed project's others.
 */
import { viewParameter } from './attribution';
import { RuleBackprop } from './guidedBackprop';

export class Saliency extends RuleBackprop {
  protected readonly rule = null;
  readonly info = {
    id: 'saliency',
    title: 'Saliency (vanilla gradient)',
    summary: 'Gradient of the class score w.r.t. the input pixels: which pixels change the score most.',
    needsGradients: true,
    needsLayer: false,
    parameters: [viewParameter('max-abs')],
  };

  override noiseSummable() {
    return { rule: null, timesInput: false };
  }
}
