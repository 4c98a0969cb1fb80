/**
 * NaN and infinity: a model whose weights hold them, or whose activations overflow float32, gives scores
 * and maps that mean nothing. The checks are cheap where nothing is wrong — the class scores and the map
 * are read anyway and scanned in JavaScript; weights get one isFinite reduction each at load, read back
 * once — and only a failure walks the model's layers, once, to name the first that produced them. Every
 * view that draws what a model computes (explain, evaluate, feature maps, the look-inside optimisations)
 * reports a find through `nonFiniteError`, so the message is the same wherever it is met.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { LoadedModel } from './models/loadModel';
import { tf } from './tfjs/tf';

/** Scores or a map with NaN or infinity in them: shown by the CLI and the panel as it is; nothing is drawn. */
export class NonFiniteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

export function hasNonFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return true;
  return false;
}

export interface NonFiniteFind {
  /** Index in the list given. */
  index: number;
  /** 'NaN' when any value is NaN, else 'infinity'. */
  what: 'NaN' | 'infinity';
}

/**
 * The first float tensor of the list holding NaN or infinity, or null: one reduction per tensor, one read
 * back for them all (and one more on a find, to say which). Tensors other than float32 are skipped.
 */
export function firstNonFinite(tensors: readonly Tensor[]): NonFiniteFind | null {
  const floats = tensors.map((t, index) => ({ t, index })).filter(({ t }) => t.dtype === 'float32' && t.size > 0);
  if (!floats.length) return null;
  const bad = tf.tidy(() => tf.stack(floats.map(({ t }) => tf.logicalNot(tf.all(tf.isFinite(t))))).dataSync());
  const at = bad.findIndex((flag) => flag !== 0);
  if (at < 0) return null;
  const tensor = floats[at].t;
  const nan = tf.tidy(() => tf.any(tf.isNaN(tensor)).dataSync()[0] !== 0);
  return { index: floats[at].index, what: nan ? 'NaN' : 'infinity' };
}

export interface NonFiniteWording {
  /** Whose values: "for this image" (default), "for the image being optimised", … */
  subject?: string;
  /** The explanation when every layer's output the walk reads is finite (default: the technique's gradients overflowed). */
  otherwise?: string;
}

/**
 * NaN or infinity in `what` (the class scores, a map, a layer's feature maps, an optimisation's objective)
 * computed from `input` (the preprocessed image): walks the model once (the failure path only) to name the
 * first layer that produced them, or says the preprocessed image or the computation after the model did.
 */
export function nonFiniteError(model: LoadedModel, input: Tensor4D, what: string, wording: NonFiniteWording = {}): NonFiniteError {
  const { adapter, summary } = model;
  const subject = wording.subject ?? 'for this image';
  const intro = `Model "${summary.name}" gives non-finite values (NaN or infinity) in the ${what} ${subject}, so nothing is drawn`;
  const inputBad = tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(input))).dataSync()[0] !== 0);
  if (inputBad) {
    return new NonFiniteError(
      `${intro}: the preprocessed image already holds them; check the preprocessing's mean and std (cnnlens.json).`,
    );
  }
  const layer = adapter.firstNonFiniteLayer(input);
  if (layer) {
    const kind = summary.layers.find((info) => info.name === layer)?.kind;
    return new NonFiniteError(
      `${intro}: layer "${layer}"${kind ? ` (${kind})` : ''} is the first to produce them; its weights or its input overflow float32's range.`,
    );
  }
  const otherwise = wording.otherwise ?? "every layer's output is finite, so the technique's own computation (its gradients) overflowed";
  return new NonFiniteError(`${intro}: ${otherwise}.`);
}
