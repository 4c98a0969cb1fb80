/**
 * NaN and infinity: a model whose weights hold them, or whose activations overflow float32, gives scores
 * and maps that mean nothing. The checks are cheap where nothing is wrong — the class scores and the map
 * are read anyway and scanned in JavaScript; weights get one isFinite reduction each at load, read back
 * once — and only a failure walks the model's layers, once, to name the first that produced them.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
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
