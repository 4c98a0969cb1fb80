/** What the onnxruntime tests share: one acceleration whose log they read, TF.js-only reference runs, and gaps by scale. */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { Acceleration } from '../../../src/engine/accel/ortRuntime';
import type { ModelAdapter } from '../../../src/engine/models/adapter';
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

/** max |a − b| ÷ the range of b. */
export function rangeGap(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a.sub(b))).dataSync()[0] / Math.max(tf.max(b).sub(tf.min(b)).dataSync()[0], 1e-30));
}

interface Scoring {
  adapter: { scores(x: Tensor4D): tf.Tensor };
}

/** TF.js's gradient of one class score w.r.t. the input, summed over the batch (the reference). */
export function tfjsGradient(model: Scoring, x: Tensor4D, classIndex: number): tf.Tensor {
  return onTfjs(() =>
    tf.grad((v: tf.Tensor) =>
      model.adapter
        .scores(v as Tensor4D)
        .slice([0, classIndex], [-1, 1])
        .sum(),
    )(x),
  );
}

/** TF.js's gradient of one class score w.r.t. a layer's activations (Grad-CAM's evidence), and those activations. */
export function tfjsLayerGradient(
  adapter: ModelAdapter,
  x: Tensor4D,
  layer: string,
  classIndex: number,
): { activations: tf.Tensor; gradients: tf.Tensor } {
  const split = onTfjs(() => adapter.split(x, layer));
  const gradients = onTfjs(() =>
    tf.grad((a: tf.Tensor) =>
      split
        .head(a as Tensor4D)
        .slice([0, classIndex], [-1, 1])
        .sum(),
    )(split.activations),
  );
  return { activations: split.activations, gradients };
}

/** Central differences of TF.js's class score for one NHWC image of `shape` [h, w, c], cell by cell. */
export function finiteDifferences(
  model: Scoring,
  image: Float32Array,
  shape: [number, number, number],
  classIndex: number,
  eps: number,
): number[] {
  const score = (values: Float32Array) =>
    onTfjs(() => tf.tidy(() => model.adapter.scores(tf.tensor4d(values, [1, ...shape])).dataSync()[classIndex]));
  return Array.from(image, (_, i) => {
    const up = Float32Array.from(image);
    const down = Float32Array.from(image);
    up[i] += eps;
    down[i] -= eps;
    return (score(up) - score(down)) / (2 * eps);
  });
}

/**
 * Mocha hooks for a suite that needs onnxruntime and reads its log: skipped (with the reason) where the
 * runtime is absent or off; the returned array holds the log lines of the running test.
 */
export function runtimeLogPerTest(): string[] {
  const lines: string[] = [];
  before(function () {
    if (!acceleration.state.runtime) {
      console.log('      skipped: onnxruntime-node is not installed or switched off');
      this.skip();
    }
  });
  beforeEach(() => {
    lines.length = 0;
    collectLog(lines);
  });
  return lines;
}
