import { strict as assert } from 'node:assert';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { CancelledError, Engine } from '../../src/engine/engine';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { findTechnique } from '../../src/engine/techniques/registry';
import { GradientShap } from '../../src/engine/techniques/gradientShap';
import { fitLinear } from '../../src/engine/techniques/linearSurrogate';
import { riseMask } from '../../src/engine/techniques/rise';
import { windowStarts } from '../../src/engine/techniques/occlusion';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import type { Explanation, RgbaImage, TechniqueParameters } from '../../src/engine/types';
import { noiseImage, saveModel, setWeights, tempDir } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

/** Four coloured quadrants with a little noise: SLIC finds them. */
function blockImage(): RgbaImage {
  const noise = noiseImage(SIZE, SIZE, 11).data;
  const data = new Uint8Array(SIZE * SIZE * 4);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const p = (y * SIZE + x) * 4;
      data.set(
        [(x < SIZE / 2 ? 200 : 40) + (noise[p] >> 4), (y < SIZE / 2 ? 180 : 30) + (noise[p + 1] >> 4), 90 + (noise[p + 2] >> 4), 255],
        p,
      );
    }
  }
  return { width: SIZE, height: SIZE, data };
}

const SIZE = 12;
/** Each technique with settings that take several batches. */
const SEVERAL_BATCHES: [string, TechniqueParameters][] = [
  ['occlusion', { window: 3, stride: 2, batch: 4 }],
  ['feature-ablation', { segments: 6, batch: 1 }],
  ['lime', { samples: 20, segments: 6, batch: 4 }],
  ['kernel-shap', { samples: 20, segments: 6, batch: 4 }],
  ['rise', { masks: 20, cells: 3, batch: 4 }],
  ['gradient-shap', { samples: 40 }],
];

/** score_k = Σ W[p, c, k] · x[p, c] + b_k on a SIZE × SIZE RGB input (x = pixels / 255): every answer has a closed form. */
function linearModel(): { model: tfl.Sequential; weights: Float32Array } {
  const model = tfl.sequential();
  model.add(tfl.layers.flatten({ inputShape: [SIZE, SIZE, 3] }));
  model.add(tfl.layers.dense({ units: 2, name: 'logits' }));
  const n = SIZE * SIZE * 3;
  const kernel = Array.from({ length: n * 2 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 5)));
  setWeights(model.getLayer('logits'), [kernel, [0.3, -0.2]]);
  return { model, weights: Float32Array.from({ length: n }, (_, i) => kernel[i * 2]) };
}

/** Σ over channels of W·x per pixel, for class 0. */
function contributions(image: RgbaImage, weights: Float32Array): Float64Array {
  return Float64Array.from({ length: SIZE * SIZE }, (_, p) => {
    let sum = 0;
    for (let c = 0; c < 3; c++) sum += (weights[p * 3 + c] * image.data[p * 4 + c]) / 255;
    return sum;
  });
}

function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const scale = Math.max(...Array.from(expected, Math.abs));
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-4 * scale + 1e-5, `${what}[${i}]: ${actual[i]} ≠ ${expected[i]}`);
  }
}

/** Each segment's total contribution, painted on its pixels. */
function perSegment(explanation: Explanation, perPixel: Float64Array): Float64Array {
  const { labels, count } = explanation.segments!;
  const totals = new Float64Array(count);
  labels.forEach((label, p) => (totals[label] += perPixel[p]));
  return Float64Array.from(labels, (label) => totals[label]);
}

describe('perturbation techniques on a linear model', () => {
  let engine: Engine;
  let loaded: LoadedModel;
  let weights: Float32Array;
  const image = blockImage();
  const explain = (technique: string, parameters: TechniqueParameters = {}, checkCancelled?: () => void) =>
    engine.explain(loaded, image, { technique, classTarget: 0, parameters }, checkCancelled);

  before(async () => {
    engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    const linear = linearModel();
    weights = linear.weights;
    loaded = await engine.loadModel(await saveModel(linear.model, tempDir(), { preprocess: 'zero-one' }));
  });
  after(() => engine.dispose());

  it('occlusion: each pixel gets the mean over its windows of the window’s Σ W·x (Captum’s windows)', async () => {
    const window = 5;
    const stride = 3;
    const result = await explain('occlusion', { window, stride, baseline: 'zero' });
    const own = contributions(image, weights);
    const starts = windowStarts(SIZE, window, stride);
    assert.deepEqual(starts, [0, 3, 6, 9]); // ceil((12 − 5) / 3) + 1 positions, the last cut at the edge
    const total = new Float64Array(SIZE * SIZE);
    const count = new Float64Array(SIZE * SIZE);
    for (const top of starts) {
      for (const left of starts) {
        const inside: number[] = [];
        for (let y = top; y < Math.min(top + window, SIZE); y++)
          for (let x = left; x < Math.min(left + window, SIZE); x++) inside.push(y * SIZE + x);
        const drop = inside.reduce((sum, p) => sum + own[p], 0);
        for (const p of inside) {
          total[p] += drop;
          count[p] += 1;
        }
      }
    }
    assert.equal(result.signed, true);
    closeTo(
      result.rawMap.data,
      Float64Array.from(total, (sum, p) => sum / count[p]),
      'occlusion',
    );
  });

  for (const [technique, parameters] of [
    ['feature-ablation', {}],
    ['kernel-shap', { samples: 60 }],
    ['lime', { samples: 60, alpha: 0 }],
  ] as const) {
    it(`${technique}: each superpixel gets its exact Shapley value, Σ W·x over its pixels`, async () => {
      const result = await explain(technique, { segments: 6, compactness: 10, ...parameters });
      assert.ok(result.segments && result.segments.count >= 3, 'too few segments to mean anything');
      closeTo(result.rawMap.data, perSegment(result, contributions(image, weights)), technique);
    });
  }

  it('gradient-shap: with the zero baseline and no noise, W·x exactly (the gradient is W everywhere)', async () => {
    const technique = findTechnique('gradient-shap') as GradientShap;
    const pixels = tf.tensor4d(
      Float32Array.from({ length: SIZE * SIZE * 3 }, (_, i) => image.data[Math.floor(i / 3) * 4 + (i % 3)]),
      [1, SIZE, SIZE, 3],
    );
    const start = tf.memory().numTensors;
    const attribution = tf.tidy(() => {
      const request = {
        model: loaded.adapter,
        input: pixels.div(255) as Tensor4D,
        pixels,
        preprocess: (p: Tensor4D) => p.div(255) as Tensor4D,
        classIndex: 0,
        layer: '',
        parameters: { samples: 7, baselines: 'zero', noise: 0, seed: 1, view: 'signed' },
        checkCancelled: () => undefined,
        reportProgress: () => undefined,
      };
      return technique.attribute(request).attribution.dataSync();
    });
    assert.equal(tf.memory().numTensors, start);
    pixels.dispose();
    const expected = Float64Array.from(
      { length: SIZE * SIZE * 3 },
      (_, i) => (weights[i] * image.data[Math.floor(i / 3) * 4 + (i % 3)]) / 255,
    );
    closeTo(attribution, expected, 'gradient-shap');
  });

  it('rise: the masks are the upsampled grid; an all-kept grid keeps everything; the map is finite and non-negative', async () => {
    const ones = new Float32Array(SIZE * SIZE);
    riseMask({ grid: new Uint8Array(16).fill(1), shift: [2, 1] }, 4, SIZE, SIZE, ones);
    assert.ok(ones.every((v) => Math.abs(v - 1) < 1e-6));
    const half = new Float32Array(SIZE * SIZE);
    // Left half of the cells kept: values fall from 1 to 0 across the middle, the same on every row.
    riseMask({ grid: Uint8Array.from({ length: 16 }, (_, i) => (i % 4 < 2 ? 1 : 0)), shift: [0, 0] }, 4, SIZE, SIZE, half);
    assert.ok(half[0] > 0.99 && half[SIZE - 1] < 0.01);
    for (let y = 1; y < SIZE; y++) assert.deepEqual(half.slice(y * SIZE, (y + 1) * SIZE), half.slice(0, SIZE));
    const result = await explain('rise', { masks: 64, cells: 3 });
    assert.ok(result.rawMap.data.every((v) => Number.isFinite(v) && v >= 0));
    assert.equal(result.signed, false);
  });

  it('the fit is sklearn’s: a Lasso shrinks, least squares recovers, the intercept is not penalised', () => {
    const rows = [
      [1, 0],
      [0, 1],
      [1, 1],
      [0, 0],
      [1, 0],
    ];
    const y = rows.map(([a, b]) => 2 * a - 3 * b + 5);
    const w = [1, 2, 1, 3, 1];
    const exact = fitLinear(rows, y, w, 0);
    closeTo(exact.coefficients, [2, -3], 'least squares');
    assert.ok(Math.abs(exact.intercept - 5) < 1e-9);
    const shrunk = fitLinear(rows, y, w, 0.1);
    assert.ok(Math.abs(shrunk.coefficients[0]) < 2 && Math.abs(shrunk.coefficients[1]) < 3);
  });

  it('the same seed draws the same map, another seed another', async () => {
    for (const [technique, parameters] of [
      ['rise', { masks: 40, cells: 3 }],
      ['lime', { samples: 30, segments: 6 }],
      ['kernel-shap', { samples: 30, segments: 6 }],
      ['gradient-shap', { samples: 5, noise: 0.2 }],
    ] as const) {
      const [a, b, c] = await Promise.all([1, 1, 2].map((seed) => explain(technique, { ...parameters, seed })));
      assert.deepEqual(a.rawMap.data, b.rawMap.data, `${technique}: seed 1 twice`);
      assert.notDeepEqual(a.rawMap.data, c.rawMap.data, `${technique}: seeds 1 and 2`);
    }
  });

  it('cancel between batches, report progress with a preview, and leave no tensors behind', async () => {
    for (const [technique, parameters] of SEVERAL_BATCHES) {
      const start = tf.memory().numTensors;
      const previews: boolean[] = [];
      await engine.explain(loaded, image, { technique, parameters }, undefined, {
        onPreview: (preview) => previews.push(preview.map !== null),
        intervalMs: 0,
      });
      assert.equal(tf.memory().numTensors, start, `${technique} leaked`);
      assert.ok(previews.length > 0 && previews.every(Boolean), `${technique} reported no progress or no preview map`);
      let checks = 0;
      const cancelLater = () => {
        if (++checks > 3) throw new CancelledError();
      };
      await assert.rejects(explain(technique, parameters, cancelLater), CancelledError, `${technique} did not cancel`);
      assert.equal(tf.memory().numTensors, start, `${technique} leaked when cancelled`);
    }
  });
});
