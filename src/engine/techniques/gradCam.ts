/**
 * Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
 * Localization", ICCV 2017 (https://arxiv.org/abs/1610.02391).
 * Channel weight = spatial mean of the class score's gradient w.r.t. that channel.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { UnsupportedLayerError } from '../accel/layoutWriter';
import { IMAGE, oneHot, reduce, type GraphRecipe } from '../accel/recipes';
import type { ModelAdapter } from '../models/adapter';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';

const SEED = 'cnn_lens_seed';
const CAM = 'cnn_lens_cam';

/**
 * The map before its ReLU, [batch, h, w], in one onnxruntime run: Σ_k mean(d score / d A_k) · A_k in the
 * layer's own layout. The activations and gradients never leave onnxruntime: on the shipped model, copying
 * them out and combining them in TF.js took as long as the forward pass.
 */
const inGraphMap = (layer: string): GraphRecipe => ({
  key: 'gradcam',
  title: "Grad-CAM's map",
  at: layer,
  build({ graph, numClasses, scores, layer, gradients }) {
    graph.input(SEED, [numClasses]);
    const [gradient] = gradients(scores, SEED, [layer!.name]);
    if (graph.shapeOf(layer!.name).length !== 3) throw new UnsupportedLayerError('Grad-CAM needs a spatial layer');
    const [channels, spatial] = layer!.channelsFirst ? [1, [2, 3]] : [3, [1, 2]];
    const weights = reduce(graph, 'ReduceMean', gradient, spatial, true);
    graph.nameOutput(reduce(graph, 'ReduceSum', graph.op('Mul', [layer!.name, weights]), [channels], false), CAM);
  },
});

/** Grad-CAM's map before its ReLU, [batch, h, w], from one onnxruntime run; null where the model has none. */
export function inGraphGradCam(model: ModelAdapter, input: Tensor4D, layer: string, classIndex: number): Tensor | null {
  const seed = oneHot(input.shape[0], model.numClasses, classIndex);
  return model.accelerated()?.run(inGraphMap(layer), { [IMAGE]: input, [SEED]: seed }, [CAM], input)?.[0] ?? null;
}

export class GradCam extends CamTechnique {
  readonly info = {
    id: 'gradcam',
    title: 'Grad-CAM',
    summary: 'Gradient-weighted class activation map of a convolutional layer.',
    needsGradients: true,
    needsLayer: true,
  };

  protected override mapWhereEvidenceIs({ model, input, layer, classIndex }: TechniqueInput): Tensor2D | null {
    const map = inGraphGradCam(model, input, layer, classIndex);
    return map ? (map.squeeze([0]) as Tensor2D) : null;
  }

  protected override channelWeights({ gradients }: CamEvidence): Tensor1D {
    // NHWC: average over height and width; channels are last (one batch image: as rows of [h·w, c]).
    const c = gradients!.shape[3];
    return tf.mean(gradients!.reshape([-1, c]), 0) as Tensor1D;
  }
}
