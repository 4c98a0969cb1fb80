import { strict as assert } from 'node:assert';
import { Engine } from '../../src/engine/engine';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../src/engine/types';
import { noiseImage, redGreenModel, saveModel, setWeights, solidImage, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const quiet = () => undefined;

/** Plain-JS (float64) head of twoConvGapModel after conv_a: conv_b 1×1 + relu → GAP → dense. */
function headScore(model: tfl.LayersModel, a: Float64Array, h: number, w: number, classIndex: number): number {
  const [kb, bb] = model
    .getLayer('conv_b')
    .getWeights()
    .map((t) => t.arraySync()) as [number[][][][], number[]];
  const [kd, bd] = model
    .getLayer('logits')
    .getWeights()
    .map((t) => t.arraySync()) as [number[][], number[]];
  const cin = kb[0][0].length;
  const cout = bb.length;
  const pooled = new Float64Array(cout);
  for (let p = 0; p < h * w; p++) {
    for (let o = 0; o < cout; o++) {
      let z = bb[o];
      for (let i = 0; i < cin; i++) z += a[p * cin + i] * kb[0][0][i][o];
      pooled[o] += Math.max(0, z) / (h * w);
    }
  }
  let score = bd[classIndex];
  for (let o = 0; o < cout; o++) score += pooled[o] * kd[o][classIndex];
  return score;
}

/** Grad-CAM computed independently: stock tfjs sub-model for the activations, finite differences for the gradients. */
function referenceGradCam(model: tfl.LayersModel, input: tf.Tensor4D, classIndex: number): Float64Array {
  const sub = tfl.model({ inputs: model.inputs, outputs: model.getLayer('conv_a').output as tfl.SymbolicTensor });
  const actTensor = sub.predict(input) as tf.Tensor4D;
  const [, h, w, c] = actTensor.shape;
  const a = Float64Array.from(actTensor.dataSync());
  actTensor.dispose();
  const channelWeights = new Float64Array(c);
  const eps = 1e-4;
  for (let i = 0; i < a.length; i++) {
    const saved = a[i];
    a[i] = saved + eps;
    const up = headScore(model, a, h, w, classIndex);
    a[i] = saved - eps;
    const down = headScore(model, a, h, w, classIndex);
    a[i] = saved;
    channelWeights[i % c] += (up - down) / (2 * eps) / (h * w);
  }
  const map = new Float64Array(h * w);
  for (let p = 0; p < h * w; p++) {
    let sum = 0;
    for (let k = 0; k < c; k++) sum += a[p * c + k] * channelWeights[k];
    map[p] = Math.max(0, sum);
  }
  return map;
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`Grad-CAM and CAM on tiny models (${backend} backend)`, () => {
    let engine: Engine;
    before(async () => {
      engine = await Engine.create({ backend, onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    });
    after(() => engine.dispose());

    async function load(model: tfl.LayersModel, sidecar: object): Promise<LoadedModel> {
      return engine.loadModel(await saveModel(model, tempDir(), sidecar));
    }

    it('matches an independent computation (stock activations + finite-difference gradients)', async () => {
      const model = twoConvGapModel(7);
      const loaded = await load(model, { preprocess: 'zero-one' });
      const image = noiseImage(6, 6, 11);
      for (const classIndex of [0, 1, 2, 3]) {
        const explanation = await engine.explain(loaded, image, { technique: 'gradcam', layer: 'conv_a', classTarget: classIndex });
        const input = tf.tidy(() =>
          tf
            .tensor4d(
              Array.from(image.data).filter((_, i) => i % 4 !== 3),
              [1, 6, 6, 3],
            )
            .div(255),
        ) as tf.Tensor4D;
        const reference = referenceGradCam(model, input, classIndex);
        input.dispose();
        const scale = Math.max(...reference, 1e-12);
        const maxError = Math.max(...Array.from(explanation.rawMap.data, (v, i) => Math.abs(v - reference[i])));
        assert.ok(maxError / scale < 1e-3, `class ${classIndex}: max error ${maxError} vs map scale ${scale}`);
      }
      model.dispose();
    });

    it('gives the hand-computed answer on a 2×2 identity model', async () => {
      const model = tfl.sequential();
      model.add(tfl.layers.conv2d({ inputShape: [2, 2, 1], filters: 1, kernelSize: 1, name: 'feat' }));
      model.add(tfl.layers.globalAveragePooling2d({}));
      model.add(tfl.layers.dense({ units: 2, name: 'logits' }));
      setWeights(model.getLayer('feat'), [[1], [0]]);
      setWeights(model.getLayer('logits'), [
        [1, -1],
        [0, 0],
      ]);
      const loaded = await load(model, { preprocess: 'raw', labels: ['up', 'down'] });
      const gray = (v: number) => [v, v, v, 255];
      const image: RgbaImage = { width: 2, height: 2, data: Uint8Array.from([...gray(10), ...gray(20), ...gray(30), ...gray(40)]) };

      const gradCam = await engine.explain(loaded, image, { technique: 'gradcam' });
      assert.equal(gradCam.layer, 'feat');
      assert.equal(gradCam.target.label, 'up');
      // d(mean x)/dA = 1/4 everywhere → map = relu(x/4).
      assert.deepEqual(
        Array.from(gradCam.rawMap.data, (v) => +v.toFixed(3)),
        [2.5, 5, 7.5, 10],
      );
      assert.deepEqual(
        Array.from(gradCam.heatmap.data, (v) => +v.toFixed(3)),
        [0, 0.333, 0.667, 1],
      );

      const cam = await engine.explain(loaded, image, { technique: 'cam' });
      assert.deepEqual(
        Array.from(cam.rawMap.data, (v) => +v.toFixed(3)),
        [10, 20, 30, 40],
      );

      // Class "down" has only negative evidence: the ReLU leaves nothing, and the user is told.
      const down = await engine.explain(loaded, image, { technique: 'gradcam', classTarget: 'down' });
      assert.deepEqual(Array.from(down.heatmap.data), [0, 0, 0, 0]);
      assert.match(down.notes.join(' '), /no positive evidence/);
      model.dispose();
    });

    it('CAM equals Grad-CAM up to scale on a GAP + dense head', async () => {
      const model = tfl.sequential();
      model.add(
        tfl.layers.conv2d({
          inputShape: [8, 8, 3],
          filters: 5,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          name: 'features',
          kernelInitializer: tfl.initializers.randomNormal({ seed: 3 }),
        }),
      );
      model.add(tfl.layers.globalAveragePooling2d({}));
      model.add(
        tfl.layers.dense({ units: 3, activation: 'softmax', name: 'probs', kernelInitializer: tfl.initializers.randomNormal({ seed: 4 }) }),
      );
      const loaded = await load(model, { preprocess: 'zero-one' });
      assert.equal(loaded.summary.hasLogits, true, 'the softmax inside the dense layer is bypassed for scores');
      const image = noiseImage(8, 8, 5);
      for (const classIndex of [0, 1, 2]) {
        const gradCam = await engine.explain(loaded, image, { technique: 'gradcam', classTarget: classIndex });
        const cam = await engine.explain(loaded, image, { technique: 'cam', classTarget: classIndex });
        const ratio = 8 * 8; // Grad-CAM weights are CAM weights / (H·W).
        gradCam.rawMap.data.forEach((v, i) =>
          assert.ok(Math.abs(v * ratio - cam.rawMap.data[i]) <= 1e-4 * (1 + Math.abs(cam.rawMap.data[i]))),
        );
        gradCam.heatmap.data.forEach((v, i) => assert.ok(Math.abs(v - cam.heatmap.data[i]) < 1e-4));
      }
      model.dispose();
    });

    it('is class-discriminative: two classes, two places', async () => {
      const model = redGreenModel();
      const loaded = await load(model, { preprocess: 'zero-one', labels: ['red', 'green'] });
      const image = solidImage(8, 8, [0, 0, 0]);
      const paint = (x0: number, y0: number, rgb: number[]) => {
        for (let y = y0; y < y0 + 3; y++) for (let x = x0; x < x0 + 3; x++) image.data.set(rgb, (y * 8 + x) * 4);
      };
      paint(0, 0, [255, 0, 0]);
      paint(5, 5, [0, 255, 0]);
      const red = await engine.explain(loaded, image, { classTarget: 'red' });
      const green = await engine.explain(loaded, image, { classTarget: 'green' });
      const where = (i: number) => [i % 8, Math.floor(i / 8)];
      const [rx, ry] = where(argmax(red.heatmap.data));
      const [gx, gy] = where(argmax(green.heatmap.data));
      assert.ok(rx < 3 && ry < 3, `red peak at ${rx},${ry}`);
      assert.ok(gx >= 5 && gy >= 5, `green peak at ${gx},${gy}`);
      model.dispose();
    });

    it('leaks no tensors after runs and after failures', async () => {
      const model = twoConvGapModel(21) as tfl.Sequential;
      model.add(tfl.layers.reshape({ targetShape: [4] })); // a pass-through layer after the scores
      const loaded = await load(model, { preprocess: 'zero-one' });
      const image = noiseImage(6, 6, 2);
      await engine.explain(loaded, image, {}); // warm-up: lazily built caches are allowed once
      const start = tf.memory().numTensors;
      for (const technique of ['gradcam', 'cam']) {
        await engine.explain(loaded, image, { technique });
        assert.equal(tf.memory().numTensors, start, `${technique} leaked`);
      }
      const failures: [object, RegExp][] = [
        [{ layer: 'nope' }, /no layer "nope"/],
        [{ layer: 'logits' }, /spatial/],
        [{ classTarget: 99 }, /out of range/],
        [{ classTarget: 'zebra' }, /No class is labelled/],
        [{ technique: 'magic' }, /Unknown technique/],
      ];
      for (const [options, message] of failures) {
        await assert.rejects(engine.explain(loaded, image, options), message);
        assert.equal(tf.memory().numTensors, start, `failure ${JSON.stringify(options)} leaked`);
      }
      model.dispose();
    });

    it('refuses CAM on a head that is not GAP + linear, without leaking', async () => {
      const model = tfl.sequential();
      model.add(tfl.layers.conv2d({ inputShape: [6, 6, 3], filters: 2, kernelSize: 3, activation: 'relu', name: 'conv' }));
      model.add(tfl.layers.flatten({}));
      model.add(tfl.layers.dense({ units: 3 }));
      const loaded = await load(model, { preprocess: 'zero-one' });
      const start = tf.memory().numTensors;
      await assert.rejects(engine.explain(loaded, noiseImage(6, 6, 1), { technique: 'cam' }), /global average pooling/);
      assert.equal(tf.memory().numTensors, start);
      const gradCam = await engine.explain(loaded, noiseImage(6, 6, 1), { technique: 'gradcam' });
      assert.equal(gradCam.layer, 'conv');
      model.dispose();
    });
  });
}
