/**
 * FullGrad: Srinivas & Fleuret, "Full-Gradient Representation for Neural-Network Visualization", NeurIPS
 * 2019 (https://arxiv.org/abs/1905.00780). The class score is (nearly) the sum of input × input-gradient and,
 * for every bias in the network, bias × bias-gradient; FullGrad draws all of it: |x ⊙ ∂y/∂x| per input
 * channel, and per convolution or batch norm |b ⊙ ∂y/∂z| (z the layer's output), each channel min-max scaled
 * to 0..1, summed over channels, upsampled to the input and added. Every biased layer counts, so there is no
 * target layer. As pytorch-grad-cam: each channel is scaled at its layer's resolution, then upsampled
 * (bilinear, half-pixel centres), so the sum over channels can be upsampled once.
 */
import type { Tensor, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import type { LayerBias } from '../models/adapter';
import { tf } from '../tfjs/tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';

/** Σ over channels of each channel of [1, h, w, c] min-max scaled on its own (pytorch-grad-cam's scale_cam_image): [h, w]. */
function scaledChannelSum(values: Tensor): Tensor2D {
  const [, h, w, c] = values.shape;
  const rows = values.reshape([h * w, c]);
  const shifted = rows.sub(tf.min(rows, 0, true));
  return tf.sum(shifted.div(tf.max(shifted, 0, true).add(1e-7)), 1).reshape([h, w]) as Tensor2D;
}

export class FullGrad extends Technique {
  readonly info = {
    id: 'fullgrad',
    title: 'FullGrad',
    summary: 'Input gradient plus the gradient of every bias in the network, layer by layer: no target layer.',
    needsGradients: true,
    needsLayer: false,
  };

  run(request: TechniqueInput): TechniqueOutput {
    const { model, input, classIndex } = request;
    const [, height, width] = input.shape;
    const biases = new Map<string, LayerBias>();
    for (const layer of model.layers) {
      const found = layer.outputShape.length === 3 ? model.layerBias?.(layer.name) : null;
      if (found) biases.set(layer.name, found);
    }
    if (biases.size === 0) {
      throw new Error(
        'FullGrad needs the biases of the convolutions or batch norms, and this model exposes none (TF.js graph models do not).',
      );
    }
    const names = [...biases.keys()];
    const inputGradient =
      model.accelerated()?.inputGradient(input, classIndex, null) ??
      (tf.grad((x: Tensor) => tf.sum(model.scores(x as Tensor4D).slice([0, classIndex], [-1, 1])))(input) as Tensor4D);
    let total = scaledChannelSum(tf.abs(inputGradient.mul(input)));
    const all = model.accelerated()?.layerGradients(input, names, classIndex) ?? null;
    names.forEach((name, i) => {
      request.checkCancelled();
      const { activations, gradients } = all
        ? { activations: all.activations[i], gradients: all.gradients[i] }
        : this.evidenceAt(request, name);
      const { bias, rectifiedBelow } = biases.get(name)!;
      // Where a fused rectifier follows the bias, the bias's gradient is the output's where the rectifier passes it.
      const atBias =
        rectifiedBelow === null
          ? gradients
          : gradients.mul(tf.logicalAnd(tf.greater(activations, 0), tf.less(activations, rectifiedBelow)));
      total = total.add(upsampled(scaledChannelSum(tf.abs(atBias.mul(bias))), height, width)) as Tensor2D;
      request.reportProgress((i + 1) / names.length, undefined, `layer ${i + 1} of ${names.length}`);
    });
    return {
      map: total,
      layer: '',
      notes: [`FullGrad summed the input gradient and the bias gradients of ${names.length} layers.`],
    };
  }

  /** The layer's output and d score / d it, by TF.js (one backward pass per layer). */
  private evidenceAt({ model, input, classIndex }: TechniqueInput, layer: string): { activations: Tensor; gradients: Tensor } {
    const { activations, head } = model.split(input, layer);
    const gradients = tf.grad((a: Tensor) => tf.sum(head(a as Tensor4D).slice([0, classIndex], [-1, 1])))(activations);
    return { activations, gradients };
  }
}

function upsampled(map: Tensor2D, height: number, width: number): Tensor2D {
  const [h, w] = map.shape;
  if (h === height && w === width) return map;
  return tf.image.resizeBilinear(map.reshape([h, w, 1]) as Tensor3D, [height, width], false, true).reshape([height, width]) as Tensor2D;
}
