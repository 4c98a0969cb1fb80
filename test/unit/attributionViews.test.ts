import { strict as assert } from 'node:assert';
import { Engine } from '../../src/engine/engine';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { normalise } from '../../src/engine/postprocess';
import { chooseUnit } from '../../src/engine/techniques/inputGradient';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import type { Preview } from '../../src/engine/types';
import { writeTinyGraphModel } from './helpers/tinyGraphModel';
import { noiseImage, saveModel, setWeights, tempDir } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const quiet = () => undefined;

/** 1×1 ReLU conv (RGB → 3 channels, blue unused) + GAP + dense: every backward pass can be written out by hand. */
function oneByOneModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [2, 2, 3], filters: 3, kernelSize: 1, activation: 'relu', name: 'conv' }));
  model.add(tfl.layers.globalAveragePooling2d({}));
  model.add(tfl.layers.dense({ units: 2, name: 'logits' }));
  setWeights(model.getLayer('conv'), [W.flat(), b]);
  setWeights(model.getLayer('logits'), [V.flat(), [0, 0]]);
  return model;
}
const W = [
  [0.5, -1, 0.25],
  [-0.75, 0.5, 1],
  [0, 0, 0],
]; // [in=RGB][out=3]; blue has no weight
const b = [0.1, -0.2, 0.05];
const V = [
  [1, -0.5],
  [-2, 0.75],
  [0.5, 1],
]; // [channels=3][classes=2]
/** Pixel values in 0..255 whose zero-one scaling gives `xs` (so the test knows the input exactly). */
const xs = [
  [0.9, 0.1],
  [0.2, 0.8],
  [0.6, 0.4],
  [0.05, 0.95],
];
const image = { width: 2, height: 2, data: Uint8Array.from(xs.flatMap(([r, g]) => [Math.round(r * 255), Math.round(g * 255), 0, 255])) };
const pixel = (i: number) => xs[i].map((v) => Math.round(v * 255) / 255);
const preactivation = (i: number) => [0, 1, 2].map((k) => pixel(i)[0] * W[0][k] + pixel(i)[1] * W[1][k] + b[k]);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`attribution views and layer techniques (${backend} backend)`, () => {
    let engine: Engine;
    let loaded: LoadedModel;
    before(async () => {
      engine = await Engine.create({ backend, onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
      loaded = await engine.loadModel(await saveModel(oneByOneModel(), tempDir(), { preprocess: 'zero-one' }));
    });
    after(() => engine.dispose());

    it('views: signed is the channel sum, positive + negative its parts, colour an RGB image', async () => {
      const run = (view: string) => engine.explain(loaded, image, { technique: 'saliency', classTarget: 0, parameters: { view } });
      const signed = await run('signed');
      const positive = await run('positive');
      const negative = await run('negative');
      const sumAbs = await run('sum-abs');
      assert.equal(signed.signed, true);
      assert.equal(positive.signed, false);
      // Hand-written gradient of class 0 per pixel: Σ_k W[i][k] · V[k][0]/4 · [z_k > 0].
      const gradient = (p: number) =>
        [0, 1].map((i) => [0, 1, 2].reduce((sum, k) => sum + (preactivation(p)[k] > 0 ? (W[i][k] * V[k][0]) / 4 : 0), 0));
      for (let p = 0; p < 4; p++) {
        const g = gradient(p);
        const near = (a: number, e: number, what: string) => assert.ok(Math.abs(a - e) < 1e-6, `${what} pixel ${p}: ${a} vs ${e}`);
        near(signed.rawMap.data[p], g[0] + g[1], 'signed');
        near(positive.rawMap.data[p], Math.max(g[0], 0) + Math.max(g[1], 0), 'positive');
        near(negative.rawMap.data[p], Math.max(-g[0], 0) + Math.max(-g[1], 0), 'negative');
        near(sumAbs.rawMap.data[p], Math.abs(g[0] + g[1]), 'sum-abs');
      }
      // Signed heatmaps keep zero at 0.5 and the largest magnitude at 0 or 1.
      const values = Array.from(signed.heatmap.data);
      assert.ok(values.every((v) => v >= 0 && v <= 1));
      assert.ok(
        values.some((v) => Math.abs(v - 0.5) > 0.49),
        'the strongest pixel reaches an end of the scale',
      );
      const colour = (await run('colour')).colour!;
      assert.equal(colour.data.length, 2 * 2 * 4);
      // The third image channel has no weights: its gradient is zero, which the colour view shows as grey.
      for (let p = 0; p < 4; p++) assert.ok(Math.abs(colour.data[p * 4 + 2] - 128) <= 1, `blue of pixel ${p}: ${colour.data[p * 4 + 2]}`);
      assert.ok(
        Array.from({ length: 4 }, (_, p) => colour.data[p * 4]).some((v) => Math.abs(v - 128) > 60),
        'red varies',
      );
    });

    it('guided-layer: guided backprop of one filter equals the hand-written pass; the default filter is the most active', async () => {
      for (const filter of [0, 1, 2]) {
        const result = await engine.explain(loaded, image, {
          technique: 'guided-layer',
          layer: 'conv',
          parameters: { filter, view: 'signed' },
        });
        assert.equal(result.metrics.filter, filter);
        for (let p = 0; p < 4; p++) {
          // d Σ|a_k| / d a_k = 1 where a_k > 0; the guided ReLU passes it where z_k > 0; then W back to pixels.
          const active = preactivation(p)[filter] > 0 ? 1 : 0;
          const expected = active * (W[0][filter] + W[1][filter]);
          assert.ok(
            Math.abs(result.rawMap.data[p] - expected) < 1e-6,
            `filter ${filter} pixel ${p}: ${result.rawMap.data[p]} vs ${expected}`,
          );
        }
      }
      const meanActivation = [0, 1, 2].map((k) => [0, 1, 2, 3].reduce((sum, p) => sum + Math.max(preactivation(p)[k], 0), 0));
      const strongest = meanActivation.indexOf(Math.max(...meanActivation));
      const auto = await engine.explain(loaded, image, { technique: 'guided-layer', layer: 'conv' });
      assert.equal(auto.metrics.filter, strongest);
      await assert.rejects(
        engine.explain(loaded, image, { technique: 'guided-layer', layer: 'conv', parameters: { filter: 3 } }),
        /has 3 filters \(0 to 2\); got filter 3/,
      );
    });

    it('deconvnet, activation target: only the chosen activation maps back, by default the strongest', async () => {
      const result = await engine.explain(loaded, image, {
        technique: 'deconvnet',
        layer: 'conv',
        parameters: { target: 'activation', view: 'signed' },
      });
      let best = { value: -Infinity, p: -1, k: -1 };
      for (let p = 0; p < 4; p++)
        for (let k = 0; k < 3; k++) if (preactivation(p)[k] > best.value) best = { value: preactivation(p)[k], p, k };
      assert.deepEqual([result.metrics.y, result.metrics.x, result.metrics.filter], [Math.floor(best.p / 2), best.p % 2, best.k]);
      for (let p = 0; p < 4; p++) {
        const expected = p === best.p ? W[0][best.k] + W[1][best.k] : 0;
        assert.ok(Math.abs(result.rawMap.data[p] - expected) < 1e-6, `pixel ${p}: ${result.rawMap.data[p]} vs ${expected}`);
      }
      // A fixed filter and row: the strongest column of that row in that filter.
      const fixed = await engine.explain(loaded, image, {
        technique: 'deconvnet',
        layer: 'conv',
        parameters: { target: 'activation', filter: 2, y: 1 },
      });
      const row1 = [2, 3].map((p) => preactivation(p)[2]);
      assert.deepEqual([fixed.metrics.y, fixed.metrics.x, fixed.metrics.filter], [1, row1.indexOf(Math.max(...row1)), 2]);
      await assert.rejects(
        engine.explain(loaded, image, { technique: 'deconvnet', layer: 'conv', parameters: { target: 'activation', y: 2 } }),
        /has 2 rows/,
      );
    });

    it('SmoothGrad variants with σ = 0: SquareGrad is the square of the map, VarGrad is flat', async () => {
      const plain = await engine.explain(loaded, image, { technique: 'saliency', classTarget: 1 });
      const square = await engine.explain(loaded, image, {
        technique: 'smoothgrad',
        classTarget: 1,
        parameters: { noise: 0, samples: 11, variant: 'squaregrad' },
      });
      square.rawMap.data.forEach((v, i) =>
        assert.ok(Math.abs(v - plain.rawMap.data[i] ** 2) < 1e-6, `pixel ${i}: ${v} vs ${plain.rawMap.data[i] ** 2}`),
      );
      const variance = await engine.explain(loaded, image, {
        technique: 'smoothgrad',
        classTarget: 1,
        parameters: { noise: 0, samples: 11, variant: 'vargrad' },
      });
      assert.ok(variance.rawMap.data.every((v) => Math.abs(v) < 1e-9));
      assert.ok(variance.notes.some((note) => /flat/.test(note)));
    });

    it('previews: SmoothGrad and IG report growing fractions with normalised maps at the input size', async () => {
      for (const [technique, parameters] of [
        ['smoothgrad', { samples: 40 }],
        ['integrated-gradients', { steps: 64 }],
      ] as const) {
        const previews: Preview[] = [];
        const start = tf.memory().numTensors;
        await engine.explain(loaded, noiseImage(2, 2, 3), { technique, parameters }, undefined, {
          onPreview: (p) => previews.push(p),
          intervalMs: 0,
        });
        assert.equal(tf.memory().numTensors, start, `${technique} previews leaked`);
        assert.ok(previews.length >= 3, `${technique}: ${previews.length} previews`);
        previews.forEach((p, i) => {
          assert.ok(p.fraction > 0 && p.fraction < 1 && (i === 0 || p.fraction > previews[i - 1].fraction));
          assert.deepEqual([p.map!.width, p.map!.height], [2, 2]);
          assert.ok(Array.from(p.map!.data).every((v) => v >= 0 && v <= 1));
        });
      }
    });
  });
}

describe('strongest-unit choice', () => {
  it('picks the largest activation, within a given filter and row when they are fixed', () => {
    // [1, 2, 2, 2]: channel 0 peaks at (1, 0), channel 1 at (0, 1) and holds the global maximum.
    const a = tf.tensor4d([1, 0, 0, 9, 5, 0, 2, 3], [1, 2, 2, 2]);
    assert.deepEqual(chooseUnit(a, 'l', { filter: -1, y: -1, x: -1 }, true), { filter: 1, y: 0, x: 1 });
    assert.deepEqual(chooseUnit(a, 'l', { filter: 0, y: -1, x: -1 }, true), { filter: 0, y: 1, x: 0 });
    assert.deepEqual(chooseUnit(a, 'l', { filter: 1, y: 1, x: -1 }, true), { filter: 1, y: 1, x: 1 });
    assert.deepEqual(chooseUnit(a, 'l', { filter: -1, y: -1, x: -1 }, false), { filter: 1, y: -1, x: -1 });
    assert.throws(() => chooseUnit(a, 'l', { filter: -1, y: -1, x: 2 }, true), /has 2 columns/);
    a.dispose();
  });

  it('signed normalisation keeps zero at 0.5 and shares one scale across signs', () => {
    const { normalised, flat } = normalise(tf.tensor1d([-2, 0, 1]), true);
    assert.deepEqual(Array.from(normalised.dataSync()), [0, 0.5, 0.75]);
    assert.equal(flat, false);
    normalised.dispose();
  });
});

describe('ops without gradients (graph model with StridedSlice)', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
  });
  after(() => engine.dispose());

  it('names the op, offers the gradient-free techniques, and leaks nothing', async () => {
    const loaded = await engine.loadModel(await writeTinyGraphModel(tempDir()));
    const image = noiseImage(8, 8, 2);
    await engine.explain(loaded, image, { technique: 'saliency' }).catch(() => undefined); // warm-up
    const start = tf.memory().numTensors;
    for (const technique of ['saliency', 'gradcam', 'smoothgrad']) {
      await assert.rejects(engine.explain(loaded, image, { technique }), (error: Error) => {
        assert.match(error.message, /uses the op StridedSlice, which has no gradient in TensorFlow\.js/);
        assert.match(error.message, /Gradient-free techniques still work: .*\(cam\)/);
        return true;
      });
      assert.equal(tf.memory().numTensors, start, `${technique} leaked after the failure`);
    }
    const withoutSlice = await engine.loadModel(await writeTinyGraphModel(tempDir(), { withStridedSlice: false }));
    const result = await engine.explain(withoutSlice, image, { technique: 'saliency' });
    assert.ok(result.rawMap.data.some((v) => v > 0));
  });
});
