/**
 * Deep Feature Factorization: Collins, Achanta & Süsstrunk, "Deep Feature Factorization for Concept
 * Discovery", ECCV 2018 (https://arxiv.org/abs/1806.10206), as pytorch-grad-cam implements it
 * (feature_factorization/deep_feature_factorization.py): the layer's activations as a [c, h·w] matrix,
 * each channel shifted by its minimum, factorised by NMF into k concepts, W [c, k] (channel vectors) and
 * H [k, h·w] (where each concept is). A concept's classes are its channel vector (plus the shift) run through
 * the model's head, as pytorch-grad-cam's `computation_on_concepts=classifier`: here the vector fills every
 * cell of the layer, which a global-average-pooling head reduces back to the vector itself.
 * Class-agnostic and gradient-free. The plain map is, per cell, the strongest concept's scaled map.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import type { Heatmap } from '../types';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { nmf, type Matrix } from './nmf';

/** pytorch-grad-cam's NMF(random_state=0). */
const SEED = 0;
/** scikit-learn's max_iter default. */
const MAX_ITERATIONS = 200;

/** Activations [1, h, w, c] as pytorch-grad-cam's matrix [c, h·w], NaN → 0, each channel minus its minimum; and the minima. */
export function channelMatrix(activations: Float32Array, cells: number, channels: number): { x: Matrix; offsets: Float32Array } {
  const data = new Float32Array(channels * cells);
  const offsets = new Float32Array(channels).fill(Infinity);
  for (let p = 0; p < cells; p++)
    for (let ch = 0; ch < channels; ch++) {
      const v = activations[p * channels + ch];
      const value = Number.isNaN(v) ? 0 : v;
      data[ch * cells + p] = value;
      offsets[ch] = Math.min(offsets[ch], value);
    }
  for (let ch = 0; ch < channels; ch++) for (let p = 0; p < cells; p++) data[ch * cells + p] -= offsets[ch];
  return { x: { rows: channels, columns: cells, data }, offsets };
}

/** Row t of H as an [h, w] map scaled to 0..1 (minus its minimum, over its maximum + 1e-7, as scale_cam_image). */
function scaledMap(h: Matrix, t: number, height: number, width: number): Heatmap {
  const row = h.data.subarray(t * h.columns, (t + 1) * h.columns);
  let min = Infinity;
  for (const v of row) min = Math.min(min, v);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v - min);
  return { width, height, data: Float32Array.from(row, (v) => (v - min) / (1e-7 + max)) };
}

export class DeepFeatureFactorization extends Technique {
  readonly info = {
    id: 'dff',
    title: 'Deep Feature Factorization',
    summary: 'Splits the layer’s activations into a few concepts (NMF), each with its region and the classes it scores. No gradients.',
    needsGradients: false,
    needsLayer: true,
    classAgnostic: true,
    parameters: [
      { name: 'concepts', summary: 'Number of concepts (NMF components)', default: 5, min: 2, max: 12, integer: true },
      { name: 'labels', summary: 'Top classes listed per concept', default: 2, min: 1, max: 5, integer: true },
    ],
  };

  run(request: TechniqueInput): TechniqueOutput {
    const k = Number(request.parameters.concepts);
    const top = Number(request.parameters.labels);
    const { activations, head } = request.model.split(request.input, request.layer);
    const [, height, width, channels] = activations.shape;
    const cells = height * width;
    const { x, offsets } = channelMatrix(activations.dataSync() as Float32Array, cells, channels);
    request.checkCancelled();
    const checkCancelled = (done: number) => {
      request.checkCancelled();
      request.reportProgress(done / MAX_ITERATIONS, undefined, `NMF iteration ${done} of at most ${MAX_ITERATIONS}`);
    };
    // The factorisation's one costly product on the backend's matMul (float32 sums, as scikit-learn's BLAS);
    // each in its own tidy, so 400 iterations leave no tensors waiting for the run's. (Read outside the
    // tidy: a typed array returned from one is walked element by element.)
    const matrix = tf.tensor2d(x.data, [channels, cells]);
    const multiply = (transposed: boolean, factor: Float32Array) => {
      const result = tf.tidy(() => tf.matMul(matrix, tf.tensor2d(factor, [transposed ? channels : cells, k]), transposed, false));
      const values = result.dataSync();
      result.dispose();
      return values;
    };
    let factors;
    try {
      factors = nmf(x, { components: k, seed: SEED, maxIterations: MAX_ITERATIONS, checkCancelled, multiply });
    } finally {
      matrix.dispose();
    }
    const { w, h, iterations } = factors;
    const maps = Array.from({ length: k }, (_, t) => scaledMap(h, t, height, width));

    // Each concept's channel vector (W's column plus the shift) in every cell: a batch of k through the head.
    const embeddings = new Float32Array(k * channels);
    for (let t = 0; t < k; t++) for (let ch = 0; ch < channels; ch++) embeddings[t * channels + ch] = w.data[ch * k + t] + offsets[ch];
    const filled = tf.tile(tf.tensor4d(embeddings, [k, 1, 1, channels]), [1, height, width, 1]) as Tensor4D;
    const scores = head(filled);
    const probabilities = (request.model.hasLogits ? tf.softmax(scores) : scores).arraySync() as number[][];
    const classes = probabilities.map((row) =>
      row
        .map((score, index) => ({ index, score }))
        .sort((a, b) => b.score - a.score)
        .slice(0, top),
    );

    const strongest = new Float32Array(cells);
    for (let p = 0; p < cells; p++) strongest[p] = Math.max(...maps.map((map) => map.data[p]));
    const converged = iterations < MAX_ITERATIONS ? `converged after ${iterations} iterations` : `stopped at ${MAX_ITERATIONS} iterations`;
    return {
      map: tf.tensor2d(strongest, [height, width]) as Tensor2D,
      layer: request.layer,
      notes: [`${k} concepts at layer "${request.layer}" (NMF ${converged}).`],
      concepts: { maps, classes },
    };
  }
}
