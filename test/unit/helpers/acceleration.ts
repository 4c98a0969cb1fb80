/** What the onnxruntime tests share: one acceleration whose log they read, TF.js-only reference runs, and gaps by scale. */
import { Acceleration } from '../../../src/engine/accel/ortRuntime';
import { tf } from '../../../src/engine/tfjs/tf';

let sink: string[] = [];

/** onnxruntime on (the tests assert it loads), its log lines going to the array given to `collectLog`. */
export const acceleration = new Acceleration('auto', (line) => sink.push(line));

/** From now on, `acceleration`'s log lines are pushed to `lines`. */
export function collectLog(lines: string[]): void {
  sink = lines;
}

/** max |a − b| ÷ max |b|, so gaps read as a fraction of the reference's scale. */
export function relativeGap(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a.sub(b))).dataSync()[0] / Math.max(tf.max(tf.abs(b)).dataSync()[0], 1e-30));
}

/** Runs `run` with `acceleration`'s models on TF.js alone (the reference). */
export function onTfjs<T>(run: () => T): T {
  return acceleration.withoutRuntime(run);
}
