/**
 * Ablation-CAM: Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional Network via
 * Gradient-free Localization", WACV 2020. A channel's weight is the relative drop of the class score when
 * that channel alone is zeroed: (y − y_k) / y. Batched: one copy of the activations per ablated channel; at
 * the layer a linear head pools, the drop is read off the head's weights instead (the same numbers).
 */
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';
import { BATCH_PARAMETER, channelBatches } from './perturbation';

export class AblationCam extends CamTechnique {
  readonly info = {
    id: 'ablationcam',
    title: 'Ablation-CAM',
    summary: 'How much the class score drops when each channel is zeroed weighs that channel. No gradients.',
    needsGradients: false,
    needsLayer: true,
    parameters: [BATCH_PARAMETER],
  };

  protected override readonly usesGradients = false;

  protected override channelWeights({ activations, head }: CamEvidence, request: TechniqueInput): Tensor1D {
    const { classIndex, parameters } = request;
    const c = activations.shape[3];
    const original = head(activations).slice([0, classIndex], [1, 1]).reshape([]);
    // Guard a zero score without flipping its sign.
    const denominator = tf.where(tf.greaterEqual(original, 0), tf.maximum(original, 1e-7), tf.minimum(original, -1e-7));
    const gap = request.model.gapHead();
    if (gap?.layer === request.layer) {
      // The layer feeds a pooled linear head: zeroing channel k lowers the score by exactly W[k, class] ·
      // mean(A_k), which is what its ablated copy would score — no copies to run (MobileNet: 768 of them).
      const column = gap.weights.slice([0, classIndex], [-1, 1]).reshape([c]);
      return tf.mean(activations, [0, 1, 2]).mul(column).div(denominator) as Tensor1D;
    }
    const channels = Array.from({ length: c }, (_, k) => k);
    // The copies run through the layers after this one only (the head), so those bound the batch.
    const { layers } = request.model;
    const after = layers.slice(layers.findIndex((layer) => layer.name === request.layer) + 1);
    const score = (chunk: number[]) => {
      const scored = request.model.ablatedScores?.(request.layer, activations, chunk);
      if (scored) return scored.slice([0, classIndex], [-1, 1]).reshape([-1]) as Tensor1D;
      const keep = tf.sub(1, tf.oneHot(tf.tensor1d(chunk, 'int32'), c)).reshape([chunk.length, 1, 1, c]);
      return head(activations.mul(keep) as Tensor4D)
        .slice([0, classIndex], [-1, 1])
        .reshape([-1]) as Tensor1D;
    };
    const ablated = channelBatches(request, channels, Number(parameters.batch), score, after.length ? after : layers);
    return original.sub(ablated).div(denominator) as Tensor1D;
  }
}
