/** What the Keras layer tests share: a chain of layers as a Keras 3 model, loading with a leak check, predicting, comparing. */
import { strict as assert } from 'node:assert';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { LoadedModel } from '../../../src/engine/models/loadModel';
import { tf } from '../../../src/engine/tfjs/tf';
import { functional, inputLayer, layer, type Json } from './kerasArchive';
import { loadModel } from './suiteAcceleration';

/**
 * Input → each entry (made from the previous layer's name) → Flatten, as a Keras 3 Functional config: the
 * model's scores are then the last entry's output, flattened (`flatten: false` when it is a vector already).
 */
export function chain(inputShape: number[], entries: ((previous: string) => Json)[], flatten = true): Json {
  const layers = [inputLayer('image', inputShape)];
  for (const entry of entries) layers.push(entry(layers.at(-1)!.name as string));
  if (flatten) layers.push(layer('Flatten', 'flat', { data_format: 'channels_last' }, [layers.at(-1)!.name]));
  return functional('chain', layers, 'image', layers.at(-1)!.name as string);
}

/** Loads `file`, runs `check`, disposes, and asserts no tensor is left behind. */
export async function loadChecked(file: string, check: (loaded: LoadedModel) => void | Promise<void>): Promise<void> {
  const before = tf.memory().numTensors;
  const loaded = await loadModel(file);
  try {
    await check(loaded);
  } finally {
    loaded.adapter.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'loading and running leave no tensor behind');
}

/** The model's scores for one image given as its flat values. */
export function predict(loaded: LoadedModel, image: ArrayLike<number>): Float32Array {
  return tf.tidy(
    () => loaded.adapter.scores(tf.tensor(Array.from(image), [1, ...loaded.adapter.inputShape]) as Tensor4D).dataSync() as Float32Array,
  );
}

export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const gap = Math.abs(got[i] - want[i]);
    assert.ok(gap <= tolerance * Math.max(1, Math.abs(want[i])), `${what}: value ${i} is ${got[i]}, expected ${want[i]} (gap ${gap})`);
  }
}
