import { strict as assert } from 'node:assert';
import { Engine } from '../../src/engine/engine';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { scalerFor, toModelPixels } from '../../src/engine/preprocess';
import { nearestClasses } from '../../src/engine/techniques/finerCam';
import { largestEigenpair } from '../../src/engine/techniques/kpcaCam';
import { tf } from '../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../src/engine/types';
import { loadModel } from '../../src/engine/models/loadModel';
import { gaussian } from '../../src/engine/random';
import { findTechnique } from '../../src/engine/techniques/registry';
import { acceleration, collectLog, onTfjs, relativeGap } from './helpers/acceleration';
import { onnxTestModels } from './helpers/onnxModels';
import { noiseImage, saveModel, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

// The CAMs pytorch-grad-cam added since (test/unit/peerCams.test.ts compares them with its code on MobileNet),
// here against closed forms on a tiny conv → conv → GAP → dense model whose head after conv_b is linear.
const SIZE = 6;
const relu = (v: number) => Math.max(v, 0);

function rows(t: tf.Tensor): number[][] {
  const [, h, w, c] = t.shape;
  const data = t.dataSync();
  return Array.from({ length: h * w }, (_, p) => Array.from({ length: c }, (_, k) => data[p * c + k]));
}

function assertClose(actual: ArrayLike<number>, expected: number[], what: string, tolerance = 1e-4): void {
  const scale = Math.max(1e-6, ...expected.map(Math.abs));
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) <= tolerance * scale, `${what} [${i}]: ${actual[i]} vs ${e}`));
}

const softmax = (values: number[]) => {
  const top = Math.max(...values);
  const e = values.map((v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
};

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`pytorch-grad-cam's newer CAMs, closed forms (${backend} backend)`, () => {
    let engine: Engine;
    let loaded: LoadedModel;
    const image: RgbaImage = noiseImage(SIZE, SIZE, 5);
    const classIndex = 1;
    /** At conv_b (whose head is GAP + dense): activations, the logit's gradient, the scores, the dense kernel [c, classes]. */
    let A: number[][];
    let g: number[][];
    let scores: number[];
    let kernel: number[][];

    before(async () => {
      engine = await Engine.create({ backend, onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
      loaded = await engine.loadModel(await saveModel(twoConvGapModel(7, SIZE), tempDir(), { preprocess: 'zero-one' }));
      const input = scalerFor(3, 'zero-one')(toModelPixels(image, loaded.summary.inputShape));
      tf.tidy(() => {
        const { activations, head, scores: s } = loaded.adapter.split(input, 'conv_b');
        A = rows(activations);
        g = rows(tf.grad((a: tf.Tensor) => tf.sum(head(a as tf.Tensor4D).slice([0, classIndex], [1, 1])))(activations));
        scores = Array.from(s.dataSync());
      });
      const [weights] = loaded.adapter.layerWeights('logits');
      kernel = weights.arraySync() as number[][];
      input.dispose();
    });
    after(() => engine.dispose());

    const run = (technique: string, parameters = {}, layer = 'conv_b') =>
      engine.explain(loaded, image, { technique, classTarget: classIndex, layer, parameters });
    const weightedMap = (weights: number[]) => A.map((a) => relu(a.reduce((sum, v, k) => sum + v * weights[k], 0)));
    const gradCamWeights = () => A[0].map((_, k) => g.reduce((s, gp) => s + gp[k], 0) / g.length);

    it('Grad-CAM element-wise: Σ_k max(0, g·A) per location', async () => {
      assertClose(
        (await run('gradcam-elementwise')).rawMap.data,
        A.map((a, p) => a.reduce((s, v, k) => s + relu(v * g[p][k]), 0)),
        'elementwise',
      );
    });

    it('FEM: a channel weighs the fraction of locations above its mean + k·std', async () => {
      for (const k of [0, 1]) {
        const weights = A[0].map((_, c) => {
          const values = A.map((a) => a[c]);
          const mean = values.reduce((s, v) => s + v, 0) / values.length;
          const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
          return values.filter((v) => v > mean + k * std).length / values.length;
        });
        assertClose((await run('fem', { k })).rawMap.data, weightedMap(weights), `fem k=${k}`);
      }
    });

    it('ShapleyCAM: with the logit and a linear head it is Grad-CAM; with ReST its Hessian term is the softmax curvature', async () => {
      assertClose((await run('shapleycam', { target: 'logit' })).rawMap.data, weightedMap(gradCamWeights()), 'logit');
      // T = y_c + log p_c, y = Wᵀ mean(A) + b: ∇_A T = W (e_c + e_c − p) / n at every location, and
      // H·A = W H_y (Wᵀ mean A) / n with H_y = −(diag p − p pᵀ).
      const n = A.length;
      const p = softmax(scores);
      const meanA = A[0].map((_, k) => A.reduce((s, a) => s + a[k], 0) / n);
      const direction = scores.map((_, j) => kernel.reduce((s, row, k) => s + row[j] * meanA[k], 0));
      const pv = p.reduce((s, pj, j) => s + pj * direction[j], 0);
      const curvature = p.map((pj, j) => -(pj * direction[j] - pj * pv));
      const seed = p.map((pj, j) => (j === classIndex ? 2 : 0) - pj);
      const weights = kernel.map((row) => {
        const gradient = row.reduce((s, w, j) => s + w * seed[j], 0) / n;
        const hessian = row.reduce((s, w, j) => s + w * curvature[j], 0) / n;
        return gradient - 0.5 * hessian;
      });
      assertClose((await run('shapleycam', { target: 'rest' })).rawMap.data, weightedMap(weights), 'rest', 2e-3);
    });

    it('Finer-CAM: α = 0 is Grad-CAM; α > 0 weighs the gradient of the contrast with the nearest classes', async () => {
      assertClose((await run('finercam', { alpha: 0 })).rawMap.data, weightedMap(gradCamWeights()), 'alpha 0');
      const others = nearestClasses(scores, classIndex, 2);
      const p = softmax(scores);
      const alpha = 0.5;
      // T(y) = Σ_j p_j (y_c − α y_j) / Σ_j p_j, differentiated through p = softmax(y) too, then through the linear head.
      const total = others.reduce((s, j) => s + p[j], 0);
      const differences = others.map((j) => scores[classIndex] - alpha * scores[j]);
      const value = others.reduce((s, j, i) => s + p[j] * differences[i], 0) / total;
      const dT = scores.map((_, m) => {
        let d = 0;
        if (m === classIndex) d += 1;
        others.forEach((j, i) => {
          if (m === j) d -= (alpha * p[j]) / total;
          const dpj = p[j] * ((m === j ? 1 : 0) - p[m]);
          d += (dpj * (differences[i] - value)) / total;
        });
        return d;
      });
      const weights = kernel.map((row) => row.reduce((s, w, j) => s + w * dT[j], 0) / A.length);
      assertClose((await run('finercam', { alpha, comparisons: 2 })).rawMap.data, weightedMap(weights), 'alpha 0.5', 1e-3);
    });

    it('KPCA-CAM with a linear kernel is Eigen-CAM up to scale (PCA in the input space)', async () => {
      const linear = (await run('kpca-cam', { kernel: 'linear' })).rawMap.data;
      const eigen = (await run('eigencam')).rawMap.data;
      const top = Math.max(...eigen);
      const topLinear = Math.max(...linear);
      if (top > 0 && topLinear > 0)
        assertClose(
          linear.map((v) => v / topLinear),
          Array.from(eigen, (v) => v / top),
          'linear kpca',
          1e-3,
        );
    });

    it('the largest eigenpair is the largest algebraic one, also when a negative eigenvalue dominates', () => {
      // eigenvalues 1 and -3 (rotated): the answer is 1 and its vector.
      const [c, s] = [Math.cos(0.3), Math.sin(0.3)];
      const m = Float64Array.from([c * c * 1 + s * s * -3, c * s * (1 + 3), c * s * (1 + 3), s * s * 1 + c * c * -3]);
      const { vector, value } = largestEigenpair(m, 2);
      assert.ok(Math.abs(value - 1) < 1e-9, `λ = ${value}`);
      assert.ok(Math.abs(Math.abs(vector[0] * c + vector[1] * s) - 1) < 1e-6, `v = ${vector}`);
    });

    it('RandomCAM: the same seed gives the same map, another seed another; it does not depend on the class', async () => {
      const first = (await run('randomcam', { seed: 3 })).rawMap.data;
      assert.deepEqual(Array.from((await run('randomcam', { seed: 3 })).rawMap.data), Array.from(first));
      assert.notDeepEqual(Array.from((await run('randomcam', { seed: 4 })).rawMap.data), Array.from(first));
      const other = await engine.explain(loaded, image, {
        technique: 'randomcam',
        classTarget: 0,
        layer: 'conv_b',
        parameters: { seed: 3 },
      });
      assert.deepEqual(Array.from(other.rawMap.data), Array.from(first));
    });

    it('FullGrad: |x·∂y/∂x| per channel plus |b·∂y/∂z| of both biased convolutions, each channel scaled to 0..1', async () => {
      const channelScaledSum = (values: number[][]) => {
        const scaled = values[0].map((_, k) => {
          const column = values.map((v) => v[k]);
          const low = Math.min(...column);
          const high = Math.max(...column.map((v) => v - low));
          return column.map((v) => (v - low) / (high + 1e-7));
        });
        return values.map((_, p) => scaled.reduce((s, column) => s + column[p], 0));
      };
      const expected = tf.tidy(() => {
        const input = scalerFor(3, 'zero-one')(toModelPixels(image, loaded.summary.inputShape));
        const score = (x: tf.Tensor) => tf.sum(loaded.adapter.scores(x as tf.Tensor4D).slice([0, classIndex], [1, 1]));
        const inputTerm = channelScaledSum(rows(tf.abs(tf.grad(score)(input).mul(input))));
        const layerTerm = (layer: string) => {
          const { activations, head } = loaded.adapter.split(input, layer);
          const gradient = tf.grad((a: tf.Tensor) => tf.sum(head(a as tf.Tensor4D).slice([0, classIndex], [1, 1])))(activations);
          const bias = loaded.adapter.layerWeights(layer)[1];
          // Both convolutions end in a fused ReLU: the bias's gradient is the output's where the output is positive.
          return channelScaledSum(rows(tf.abs(gradient.mul(tf.greater(activations, 0)).mul(bias))));
        };
        const [a, b] = [layerTerm('conv_a'), layerTerm('conv_b')];
        return inputTerm.map((v, p) => v + a[p] + b[p]);
      });
      const before = tf.memory().numTensors;
      const result = await engine.explain(loaded, image, { technique: 'fullgrad', classTarget: classIndex });
      assert.equal(tf.memory().numTensors, before);
      assertClose(result.rawMap.data, expected, 'fullgrad');
    });
  });
}

describe('FullGrad on onnxruntime: every biased layer in one run, as TF.js layer by layer', () => {
  // Checked by hand on resnet18 (skip connections) and mobilenet_v2_bn too (same test, 2 and 4 minutes here: the
  // TF.js reference is one forward and backward pass per layer).
  for (const name of ['gapnet', 'samepadnet']) {
    it(`${name}: the same map`, async function () {
      if (SUITE_ONNXRUNTIME === 'off') this.skip();
      const models = onnxTestModels([name]);
      if ('skip' in models) this.skip();
      const lines: string[] = [];
      collectLog(lines);
      const model = await loadModel((models as { paths: Record<string, string> }).paths[name], {}, {}, acceleration);
      const [h, w, c] = model.summary.inputShape;
      const input = gaussian<tf.Tensor4D>([1, h, w, c], 0, 1, 3);
      const technique = findTechnique('fullgrad');
      const run = () =>
        tf.tidy(
          () =>
            technique.run({
              model: model.adapter,
              input,
              pixels: input,
              preprocess: (x) => x,
              classIndex: 1,
              layer: '',
              parameters: {},
              checkCancelled: () => undefined,
              reportProgress: () => undefined,
            }).map,
        );
      const before = tf.memory().numTensors;
      const fast = run();
      const reference = onTfjs(run);
      assert.ok(!lines.some((line) => line.includes('biased layer')), lines.join('\n'));
      const gap = relativeGap(fast, reference);
      tf.dispose([fast, reference]);
      assert.equal(tf.memory().numTensors, before);
      assert.ok(gap < 1e-3, `${name}: max gap ${gap} of the map's largest value`);
      input.dispose();
      model.adapter.dispose();
    });
  }
});
