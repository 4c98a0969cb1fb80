/**
 * What the input-space perturbation techniques (occlusion, RISE, feature ablation, LIME, KernelSHAP) share:
 * copies of the image in which a keep-mask blends each pixel with a baseline,
 *   copy = baseline + keep · (image − baseline),
 * scored in batches (inside one onnxruntime run where the model has one), with cancel checks and progress.
 * The masks are plain arrays: every technique here builds them (windows, grids, segments) in JavaScript, where
 * they cost less than the tensor ops that would make them.
 */
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { replaceInput, SCORES, type GraphRecipe } from '../accel/recipes';
import type { ModelAdapter } from '../models/adapter';
import { shrinkBlur } from '../preprocess';
import { tf } from '../tfjs/tf';
import type { ParameterSpec } from '../types';
import type { PreviewMap, TechniqueInput } from './base';
import { memoryBoundBatch } from './batching';

export const SEED_PARAMETER: ParameterSpec = {
  name: 'seed',
  summary: 'Random seed (the same seed draws the same masks)',
  default: 0,
  min: 0,
  max: 2 ** 31 - 1,
  integer: true,
};

/**
 * What hidden pixels become. `zero`: the model input 0, Captum's default baseline (mid-grey under MobileNet's
 * and Inception's scaling, the mean colour under Caffe's, black under 0..1 scaling); `black`, `grey`: those
 * colours whatever the scaling; `blur`: the image shrunk to 1/16 and back (colours kept, shapes gone).
 */
export function baselineParameter(defaultKind: string): ParameterSpec {
  return { name: 'baseline', summary: 'What hidden pixels become', default: defaultKind, choices: ['zero', 'black', 'grey', 'blur'] };
}

/** The [1, h, w, c] baseline in the model's input scaling. */
export function perturbationBaseline(kind: string, { input, pixels, preprocess }: TechniqueInput): Tensor4D {
  if (kind === 'zero') return tf.zerosLike(input);
  if (kind === 'black') return preprocess(tf.zerosLike(pixels));
  if (kind === 'grey') return preprocess(tf.fill(pixels.shape, 127.5) as Tensor4D);
  return preprocess(shrinkBlur(pixels, 16));
}

const CHANGE = 'cnn_lens_change';
const BASELINE = 'cnn_lens_baseline';
const KEEP = 'cnn_lens_keep';

/**
 * The blended copies BASELINE + KEEP[i] · CHANGE (CHANGE = image − baseline, made once outside), built inside the
 * graph from b masks (the difference is taken once, outside, rather than per run).
 */
const blendedCopies: GraphRecipe = {
  key: 'blend',
  title: 'the perturbed copies',
  build({ graph, input, inputShape: [h, w, c] }) {
    replaceInput(graph, input, () => {
      graph.input(CHANGE, [h, w, c]);
      graph.input(BASELINE, [h, w, c]);
      graph.input(KEEP, [h, w, 1]);
      return { op: 'Add', inputs: [graph.op('Mul', [KEEP, CHANGE]), BASELINE] };
    });
  },
};

/** Scores [b, classes] of the copies that `keep` ([b·h·w] values, 0 hides a pixel, 1 keeps it) makes. */
function blendedScores(model: ModelAdapter, input: Tensor4D, baseline: Tensor4D, keep: Float32Array): Tensor2D {
  const [, h, w] = input.shape;
  const dims = [keep.length / (h * w), h, w, 1];
  const change = input.sub(baseline);
  const fast = model
    .accelerated()
    ?.run(blendedCopies, { [CHANGE]: change, [BASELINE]: baseline, [KEEP]: { data: keep, dims } }, [SCORES], input);
  if (fast) return fast[0] as Tensor2D;
  const masks = tf.tensor4d(keep, dims as [number, number, number, number]);
  return model.scores(baseline.add(masks.mul(change)) as Tensor4D);
}

export interface MaskedRun {
  /** How many copies. */
  count: number;
  /** Copies per forward pass, at most. */
  batch: number;
  /** The keep-masks of copies start … start + size − 1, [size · h · w] in 0..1. */
  masks: (start: number, size: number) => Float32Array;
  /** Takes the class scores of those copies (with their masks). */
  take: (start: number, scores: Float32Array, masks: Float32Array) => void;
  /** Scores the class by its probability (RISE) instead of the model's score (logit where it has one). */
  probability?: boolean;
  /** The map so far, for the progress preview. */
  preview?: () => PreviewMap;
  /** What a copy is called in the progress line, e.g. "window". */
  noun: string;
}

/** Scores every copy of `run` in batches, checking for cancel before each and reporting after it. */
export function scoreMaskedCopies(request: TechniqueInput, baseline: Tensor4D, run: MaskedRun): void {
  const { model, input, classIndex } = request;
  const batch = memoryBoundBatch(model.layers, run.batch, false);
  for (let start = 0; start < run.count; start += batch) {
    request.checkCancelled();
    const size = Math.min(batch, run.count - start);
    const masks = run.masks(start, size);
    const scores = tf.tidy(() => {
      const all = blendedScores(model, input, baseline, masks);
      const scaled = run.probability && model.hasLogits ? tf.softmax(all) : all;
      return scaled.slice([0, classIndex], [-1, 1]).reshape([-1]) as Tensor1D;
    });
    const values = scores.dataSync() as Float32Array;
    scores.dispose();
    run.take(start, values, masks);
    const done = start + size;
    request.reportProgress(done / run.count, run.preview, `${run.noun} ${done} of ${run.count}`);
  }
}

/** The class score of the image itself (what the perturbations are measured against). */
export function originalScore(request: TechniqueInput, probability = false): number {
  return tf.tidy(() => {
    const all = request.model.scores(request.input);
    const scaled = probability && request.model.hasLogits ? tf.softmax(all) : all;
    return scaled.slice([0, request.classIndex], [1, 1]).dataSync()[0];
  });
}

/** A [h, w] map tensor from a plain array. */
export function mapTensor(values: Float32Array | Float64Array, h: number, w: number): Tensor2D {
  return tf.tensor2d(Float32Array.from(values), [h, w]);
}
