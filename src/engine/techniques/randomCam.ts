/**
 * RandomCAM (pytorch-grad-cam's baseline): the layer's channels weighted by random numbers, uniform in
 * [-1, 1]. Not an explanation: a floor for the faithfulness metrics (a technique that scores no better
 * than this on deletion, insertion or ROAD explains nothing). Seeded, so a comparison can be repeated.
 */
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { uniformStream } from '../random';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';

export class RandomCam extends CamTechnique {
  readonly info = {
    id: 'randomcam',
    title: 'RandomCAM',
    summary: 'Channels weighted at random: the baseline any explanation should beat on the metrics.',
    needsGradients: false,
    needsLayer: true,
    classAgnostic: true,
    parameters: [{ name: 'seed', summary: 'Seed of the random weights', default: 0, min: 0, max: 2 ** 31 - 1, integer: true }],
  };

  protected override readonly usesGradients = false;

  protected override channelWeights({ activations }: CamEvidence, { parameters }: TechniqueInput): Tensor1D {
    const next = uniformStream(Number(parameters.seed));
    return tf.tensor1d(Float32Array.from({ length: activations.shape[3] }, () => 2 * next() - 1));
  }
}
