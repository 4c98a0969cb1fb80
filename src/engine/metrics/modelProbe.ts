/** What the metrics need of a model: the class probability of batches of images given as 0..255 pixels. */
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '../models/adapter';
import { tf } from '../tfjs/tf';

export interface ModelProbe {
  adapter: ModelAdapter;
  preprocess: (pixels: Tensor4D) => Tensor4D;
  classIndex: number;
  /** Throws when the user cancelled; called between batches. */
  checkCancelled: () => void;
}

/** P(class) for each image of a batch of 0..255 pixel images (softmax over logits where the model has them). */
export function classProbability(probe: ModelProbe, pixels: Tensor4D): Tensor1D {
  return tf.tidy(() => classProbabilityOfInputs(probe, probe.preprocess(pixels)));
}

/** P(class) for each of a batch of model inputs (already scaled, as `preprocess` gives them). */
export function classProbabilityOfInputs(probe: ModelProbe, inputs: Tensor4D): Tensor1D {
  return tf.tidy(() => {
    const scores = probe.adapter.scores(inputs);
    const probabilities = probe.adapter.hasLogits ? tf.softmax(scores) : scores;
    return probabilities.slice([0, probe.classIndex], [-1, 1]).reshape([-1]) as Tensor1D;
  });
}
