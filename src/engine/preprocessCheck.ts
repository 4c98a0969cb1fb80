/**
 * "Check preprocessing": the model's top-5 on one image under each input scaling, so a user sees at
 * once which scaling the model was trained with (the right one gives a confident, sensible answer;
 * a wrong one gives the same few classes for every image, or a flat distribution). Then the scaling in
 * use under the other common ways of resizing (stretched with and without antialiasing, torchvision's
 * shorter side + centre crop), which move probabilities less but still by a few points on photos.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { LoadedModel } from './models/loadModel';
import { probabilities, topK } from './postprocess';
import { modelPixels, scalerFor, toModelPixels } from './preprocess';
import { tf } from './tfjs/tf';
import { RESIZE_CHOICES, sameResize, sameScaling, type ScalingCandidate } from '../files/scalingChoices';
import { DEFAULT_RESIZE, SCALING_PRESETS, type Prediction, type RgbaImage } from './types';

export { sameScaling, type ScalingCandidate } from '../files/scalingChoices';

export interface ScalingCheck extends ScalingCandidate {
  predictions: Prediction[];
  /** Smallest and largest value the model was fed. */
  inputRange: [number, number];
  /** The scaling the model is configured with now. */
  inUse: boolean;
}

/**
 * Every preset in RGB (caffe is BGR by definition; for 1-channel models it equals raw, so it is left
 * out), plus the model's own scaling if it is a BGR one.
 */
export function scalingCandidates(model: LoadedModel): ScalingCandidate[] {
  const presets = model.summary.inputShape[2] === 3 ? SCALING_PRESETS : SCALING_PRESETS.filter((p) => p !== 'caffe');
  const candidates: ScalingCandidate[] = presets.map((preset) => ({ preset, channelOrder: preset === 'caffe' ? 'bgr' : 'rgb' }));
  const { preset, channelOrder = 'rgb' } = model.summary.preprocessing;
  if (!candidates.some((c) => c.preset === preset && c.channelOrder === channelOrder)) candidates.push({ preset, channelOrder });
  const inUse = model.summary.preprocessing.resize ?? DEFAULT_RESIZE;
  const inputSide = Math.min(model.summary.inputShape[0], model.summary.inputShape[1]);
  for (const resize of RESIZE_CHOICES) if (!sameResize(resize, inUse, inputSide)) candidates.push({ preset, channelOrder, resize });
  return candidates;
}

/** One batched forward pass over the image scaled every way. */
export function checkScalings(model: LoadedModel, image: RgbaImage, candidates = scalingCandidates(model), k = 5): ScalingCheck[] {
  const { adapter, summary, labels } = model;
  const channels = summary.inputShape[2];
  const { preset: usedPreset, channelOrder: usedOrder = 'rgb' } = summary.preprocessing;
  const { inputs, scores } = tf.tidy(() => {
    const pixels = modelPixels(image, summary);
    const resized = (c: ScalingCandidate) => (c.resize ? toModelPixels(image, summary.inputShape, c.resize) : pixels);
    const scaled = candidates.map((c) => scalerFor(channels, c.preset, c.channelOrder)(resized(c)));
    return { inputs: scaled, scores: adapter.scores(tf.concat(scaled, 0) as Tensor4D) };
  });
  try {
    return candidates.map((candidate, i) => {
      const probs = tf.tidy(() => probabilities(scores.slice([i, 0], [1, -1]), adapter.hasLogits));
      let min = Infinity;
      let max = -Infinity;
      for (const v of inputs[i].dataSync()) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      return {
        ...candidate,
        predictions: topK(probs, labels, k),
        inputRange: [min, max] as [number, number],
        inUse: !candidate.resize && sameScaling(candidate, usedPreset, usedOrder),
      };
    });
  } finally {
    tf.dispose([...inputs, scores]);
  }
}
