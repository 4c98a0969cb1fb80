/** What the perturbation CAMs (Score-CAM, Ablation-CAM) share: scoring channels in batches, with progress. */
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import type { ParameterSpec } from '../types';
import type { TechniqueInput } from './base';
import { memoryBoundBatch } from './batching';

export const BATCH_PARAMETER: ParameterSpec = {
  name: 'batch',
  summary: 'Perturbed copies per forward pass (at most; fewer for big models, to bound memory)',
  default: 32,
  min: 1,
  max: 512,
  integer: true,
};

/**
 * Runs `score` over `channels` in batches and concatenates the per-channel scores, checking for cancel
 * before each batch and reporting "channel i of n" after it. Batches hold at most `requested` copies, fewer
 * where the activations of `through` (the layers the copies run through: default, the whole model) would
 * take more memory than batching.ts allows.
 */
export function channelBatches(
  request: TechniqueInput,
  channels: number[],
  requested: number,
  score: (channels: number[]) => Tensor1D,
  through = request.model.layers,
): Tensor1D {
  const batch = memoryBoundBatch(through, requested, false);
  const parts: Tensor1D[] = [];
  try {
    for (let start = 0; start < channels.length; start += batch) {
      request.checkCancelled();
      const chunk = channels.slice(start, start + batch);
      parts.push(tf.tidy(() => score(chunk)));
      const done = start + chunk.length;
      request.reportProgress(done / channels.length, undefined, `channel ${done} of ${channels.length}`);
    }
    return tf.concat(parts);
  } finally {
    tf.dispose(parts);
  }
}
