/** What the onnxruntime tests share: running a step on TF.js alone, and comparing tensors by scale. */
import { setAcceleration } from '../../../src/engine/accel/ortRuntime';
import { tf } from '../../../src/engine/tf';

/** max |a − b| ÷ max |b|, so gaps read as a fraction of the reference's scale. */
export function relativeGap(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a.sub(b))).dataSync()[0] / Math.max(tf.max(tf.abs(b)).dataSync()[0], 1e-30));
}

/** Runs `run` with onnxruntime switched off (the TF.js reference), then switches it back on. */
export function onTfjs<T>(run: () => T): T {
  setAcceleration('off');
  try {
    return run();
  } finally {
    setAcceleration('auto');
  }
}
