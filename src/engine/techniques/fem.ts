/**
 * FEM, the Feature Explanation Method: Fuad et al., "Features understanding in 3D CNNs for actions
 * recognition in video", IPTA 2020 (https://hal.science/hal-02963298). Gradient-free and class-agnostic:
 * a channel's weight is the fraction of locations where it fires unusually strongly, above its own mean plus
 * k standard deviations (over the map), so rare, peaked features count and diffuse ones do not.
 */
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';

export class Fem extends CamTechnique {
  readonly info = {
    id: 'fem',
    title: 'FEM',
    summary: 'Channels weighted by how often they fire above their mean + k·std: peaked features count. No gradients.',
    needsGradients: false,
    needsLayer: true,
    classAgnostic: true,
    parameters: [{ name: 'k', summary: 'Standard deviations above the mean that count as firing', default: 2, min: 0, max: 10 }],
  };

  protected override readonly usesGradients = false;

  protected override channelWeights({ activations }: CamEvidence, { parameters }: TechniqueInput): Tensor1D {
    const c = activations.shape[3];
    const rows = activations.reshape([-1, c]);
    // Population moments over the locations (numpy's std, ddof 0).
    const { mean, variance } = tf.moments(rows, 0);
    const threshold = mean.add(tf.sqrt(variance).mul(Number(parameters.k)));
    return tf.mean(tf.cast(tf.greater(rows, threshold), 'float32'), 0) as Tensor1D;
  }
}
