import { strict as assert } from 'node:assert';
import { CancelledError, Engine } from '../../src/engine/engine';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { inputGradient } from '../../src/engine/techniques/inputGradient';
import { quadrature } from '../../src/engine/techniques/integratedGradients';
import { techniqueInfos } from '../../src/engine/techniques/registry';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { noiseImage, redGreenModel, saveModel, setWeights, tempDir } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const quiet = () => undefined;

/** A smooth (tanh) tiny CNN: finite differences are accurate on it. */
function smoothModel(): tfl.Sequential {
  const init = (seed: number) => tfl.initializers.randomNormal({ mean: 0, stddev: 0.4, seed });
  const model = tfl.sequential();
  model.add(
    tfl.layers.conv2d({
      inputShape: [5, 5, 3],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'tanh',
      kernelInitializer: init(1),
      biasInitializer: init(2),
      name: 'conv',
    }),
  );
  model.add(
    tfl.layers.conv2d({
      filters: 3,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      activation: 'tanh',
      kernelInitializer: init(3),
      name: 'conv2',
    }),
  );
  model.add(tfl.layers.globalAveragePooling2d({}));
  model.add(tfl.layers.dense({ units: 3, kernelInitializer: init(4), name: 'logits' }));
  return model;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gradient techniques (${backend} backend)`, () => {
    let engine: Engine;
    before(async () => {
      engine = await Engine.create({ backend, onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    });
    after(() => engine.dispose());

    async function load(model: tfl.LayersModel, sidecar: object = { preprocess: 'zero-one' }): Promise<LoadedModel> {
      return engine.loadModel(await saveModel(model, tempDir(), sidecar));
    }

    it('vanilla gradients equal central finite differences (relative error < 1e-3)', async () => {
      const { adapter } = await load(smoothModel());
      const x = tf.randomUniform([1, 5, 5, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const analytic = tf.tidy(() => inputGradient(adapter, x, 1).dataSync());
      const base = x.dataSync();
      const eps = 1e-2;
      const score = (values: Float32Array) => tf.tidy(() => adapter.scores(tf.tensor4d(values, x.shape)).dataSync()[1]);
      let maxError = 0;
      let scale = 0;
      for (let i = 0; i < base.length; i++) {
        const up = Float32Array.from(base);
        const down = Float32Array.from(base);
        up[i] += eps;
        down[i] -= eps;
        const numeric = (score(up) - score(down)) / (2 * eps);
        maxError = Math.max(maxError, Math.abs(numeric - analytic[i]));
        scale = Math.max(scale, Math.abs(numeric));
      }
      x.dispose();
      assert.ok(maxError / scale < 1e-3, `max error ${maxError} vs gradient scale ${scale}`);
    });

    it('guided backprop and deconvnet match a hand-written backward pass on a tiny ReLU CNN', async () => {
      const model = tfl.sequential();
      model.add(tfl.layers.conv2d({ inputShape: [2, 2, 2], filters: 3, kernelSize: 1, activation: 'relu', name: 'conv' }));
      model.add(tfl.layers.globalAveragePooling2d({}));
      model.add(tfl.layers.dense({ units: 2, name: 'logits' }));
      const W = [
        [0.5, -1, 0.25],
        [-0.75, 0.5, 1],
      ]; // [in=2][out=3]
      const b = [0.1, -0.2, 0.05];
      const V = [
        [1, -0.5],
        [-2, 0.75],
        [0.5, 1],
      ]; // [channels=3][classes=2]
      setWeights(model.getLayer('conv'), [W.flat(), b]);
      setWeights(model.getLayer('logits'), [V.flat(), [0, 0]]);
      const { adapter } = await load(model);
      const xs = [
        [0.9, 0.1],
        [0.2, 0.8],
        [0.5, 0.5],
        [0.05, 0.95],
      ]; // 4 positions × 2 channels
      const x = tf.tensor4d(xs.flat(), [1, 2, 2, 2]);
      for (const classIndex of [0, 1]) {
        for (const rule of ['guided', 'deconvnet'] as const) {
          const got = tf.tidy(() => inputGradient(adapter, x, classIndex, rule).dataSync());
          const expected = xs.flatMap((pixel) => {
            const z = [0, 1, 2].map((k) => pixel[0] * W[0][k] + pixel[1] * W[1][k] + b[k]);
            const da = [0, 1, 2].map((k) => V[k][classIndex] / 4); // GAP spreads the score gradient evenly
            const dz = da.map((g, k) => (rule === 'guided' ? (g > 0 && z[k] > 0 ? g : 0) : Math.max(g, 0)));
            return [0, 1].map((i) => dz.reduce((sum, g, k) => sum + g * W[i][k], 0));
          });
          got.forEach((v, i) =>
            assert.ok(Math.abs(v - expected[i]) < 1e-6, `${rule} class ${classIndex} element ${i}: ${v} vs ${expected[i]}`),
          );
        }
      }
      x.dispose();
    });

    it('integrated gradients: completeness error < 1 % with 64 steps; the baseline itself gets zero', async () => {
      const loaded = await load(smoothModel());
      const image = noiseImage(5, 5, 3);
      for (const rule of ['riemann', 'gauss-legendre']) {
        const result = await engine.explain(loaded, image, { technique: 'integrated-gradients', parameters: { steps: 64, rule } });
        assert.ok(result.metrics.completenessError < 0.01, `${rule}: completeness error ${result.metrics.completenessError}`);
        assert.equal(result.parameters.steps, 64);
      }
      const black = { width: 5, height: 5, data: new Uint8Array(100).map((_, i) => (i % 4 === 3 ? 255 : 0)) };
      const atBaseline = await engine.explain(loaded, black, { technique: 'integrated-gradients', parameters: { baseline: 'black' } });
      assert.ok(
        atBaseline.rawMap.data.every((v) => v === 0),
        'IG of the baseline is zero',
      );
    });

    it('Gauss–Legendre nodes and weights integrate polynomials exactly', () => {
      const { alphas, weights } = quadrature('gauss-legendre', 5);
      const integral = (f: (a: number) => number) => alphas.reduce((sum, a, i) => sum + weights[i] * f(a), 0);
      assert.ok(Math.abs(integral(() => 1) - 1) < 1e-12);
      assert.ok(Math.abs(integral((a) => a ** 9) - 0.1) < 1e-12);
    });

    it('SmoothGrad with σ = 0 equals the wrapped technique; with noise it differs', async () => {
      const loaded = await load(smoothModel());
      const image = noiseImage(5, 5, 8);
      for (const base of ['saliency', 'gradcam']) {
        const plain = await engine.explain(loaded, image, { technique: base, layer: 'conv' });
        const smooth = await engine.explain(loaded, image, {
          technique: 'smoothgrad',
          layer: 'conv',
          parameters: { base, noise: 0, samples: 3 },
        });
        smooth.rawMap.data.forEach((v, i) => assert.ok(Math.abs(v - plain.rawMap.data[i]) < 1e-5 * (1 + Math.abs(v))));
      }
      const plain = await engine.explain(loaded, image, { technique: 'saliency' });
      const noisy = await engine.explain(loaded, image, { technique: 'smoothgrad', parameters: { noise: 0.3, samples: 4 } });
      assert.ok(noisy.rawMap.data.some((v, i) => Math.abs(v - plain.rawMap.data[i]) > 1e-4));
    });

    it('is class-dependent: two classes, two places', async () => {
      const model = redGreenModel();
      const loaded = await load(model, { preprocess: 'zero-one', labels: ['red', 'green'] });
      const image = { width: 8, height: 8, data: new Uint8Array(256) };
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) image.data.set(y < 4 ? [200, 0, 0, 255] : [0, 200, 0, 255], (y * 8 + x) * 4);
      for (const technique of ['saliency', 'guided-backprop', 'grad-x-image', 'integrated-gradients']) {
        const red = await engine.explain(loaded, image, { technique, classTarget: 'red' });
        const green = await engine.explain(loaded, image, { technique, classTarget: 'green' });
        const topMass = (data: Float32Array) => data.slice(0, 32).reduce((a, b) => a + b, 0) / (data.reduce((a, b) => a + b, 0) || 1);
        if (technique !== 'saliency' && technique !== 'guided-backprop') {
          assert.ok(topMass(red.heatmap.data) > 0.9, `${technique}: red lives in the top half`);
          assert.ok(topMass(green.heatmap.data) < 0.1, `${technique}: green lives in the bottom half`);
        }
        assert.notDeepEqual(Array.from(red.rawMap.data), Array.from(green.rawMap.data), `${technique} maps differ by class`);
      }
    });

    it('leaks no tensors, including after a cancel mid-run', async () => {
      const loaded = await load(smoothModel());
      const image = noiseImage(5, 5, 4);
      // A model without attention and without biases: the attention techniques and FullGrad refuse it, leaving nothing behind either.
      const refusal = (id: string, needsAttention?: boolean) =>
        needsAttention ? /needs a ViT-family model/ : id === 'fullgrad' ? /FullGrad needs the biases/ : null;
      for (const { id, needsAttention } of techniqueInfos()) {
        if (!refusal(id, needsAttention)) await engine.explain(loaded, image, { technique: id, layer: 'conv' });
      }
      const start = tf.memory().numTensors;
      for (const { id, needsAttention } of techniqueInfos()) {
        const run = engine.explain(loaded, image, { technique: id, layer: 'conv' });
        const refused = refusal(id, needsAttention);
        if (refused) await assert.rejects(run, refused);
        else await run;
        assert.equal(tf.memory().numTensors, start, `${id} leaked`);
      }
      let checks = 0;
      const cancelAfterThree = () => {
        if (++checks > 3) throw new CancelledError();
      };
      await assert.rejects(
        engine.explain(loaded, image, { technique: 'smoothgrad', parameters: { samples: 10 } }, cancelAfterThree),
        CancelledError,
      );
      assert.equal(tf.memory().numTensors, start, 'a cancelled run leaked');
      await assert.rejects(
        engine.explain(loaded, image, { technique: 'integrated-gradients', parameters: { steps: 1001 } }),
        /steps.*from 1 to 1000/,
      );
      await assert.rejects(engine.explain(loaded, image, { technique: 'saliency', parameters: { steps: 3 } }), /no parameter "steps"/);
      await assert.rejects(
        engine.explain(loaded, image, { technique: 'smoothgrad', parameters: { noise: '' } }),
        /"noise".*must be a number/,
      );
      assert.equal(tf.memory().numTensors, start);
    });
  });
}
