import { strict as assert } from 'node:assert';
import { CancelledError, Engine } from '../../src/engine/engine';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { scalerFor, toModelPixels } from '../../src/engine/preprocess';
import { firstComponentMap, topEigenvector } from '../../src/engine/techniques/eigenCam';
import { tf } from '../../src/engine/tfjs/tf';
import type { Preview, RgbaImage } from '../../src/engine/types';
import { writeTinyGraphModel } from './helpers/tinyGraphModel';
import { noiseImage, saveModel, setWeights, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const quiet = () => undefined;
const SIZE = 6;

/** A [h·w][c] view of a [1, h, w, c] tensor's values. */
function rows(t: tf.Tensor): number[][] {
  const [, h, w, c] = t.shape;
  const data = t.dataSync();
  return Array.from({ length: h * w }, (_, p) => Array.from({ length: c }, (_, k) => data[p * c + k]));
}

function assertClose(actual: Float32Array, expected: number[], what: string, tolerance = 1e-5): void {
  const scale = Math.max(1e-6, ...expected.map(Math.abs));
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) <= tolerance * scale, `${what} [${i}]: ${actual[i]} vs ${e}`));
}

const relu = (v: number) => Math.max(v, 0);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`CAM family (${backend} backend)`, () => {
    let engine: Engine;
    let loaded: LoadedModel;
    const image: RgbaImage = noiseImage(SIZE, SIZE, 11);
    let input: tf.Tensor4D;
    const classIndex = 2;
    /** Activations A and gradients g of the class score at conv_a, from the adapter (checked elsewhere). */
    let A: number[][];
    let g: number[][];

    before(async () => {
      engine = await Engine.create({ backend, onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
      loaded = await engine.loadModel(await saveModel(twoConvGapModel(3, SIZE), tempDir(), { preprocess: 'zero-one' }));
      input = scalerFor(3, 'zero-one')(toModelPixels(image, loaded.summary.inputShape));
      tf.tidy(() => {
        const { activations, head } = loaded.adapter.split(input, 'conv_a');
        A = rows(activations);
        g = rows(tf.grad((a: tf.Tensor) => tf.sum(head(a as tf.Tensor4D).slice([0, classIndex], [1, 1])))(activations));
      });
    });
    after(() => {
      input.dispose();
      engine.dispose();
    });

    const run = (technique: string, parameters = {}, layer = 'conv_a') =>
      engine.explain(loaded, image, { technique, classTarget: classIndex, layer, parameters });
    const channels = () => A[0].length;
    const weightedMap = (weights: number[]) => A.map((a) => relu(a.reduce((sum, v, k) => sum + v * weights[k], 0)));

    it('Grad-CAM, XGrad-CAM, Grad-CAM++, HiResCAM and LayerCAM match their closed forms', async () => {
      const c = channels();
      const n = A.length;
      const gradCamW = Array.from({ length: c }, (_, k) => g.reduce((s, gp) => s + gp[k], 0) / n);
      const xgradW = Array.from({ length: c }, (_, k) => {
        const total = A.reduce((s, a) => s + a[k], 0) + 1e-7;
        return A.reduce((s, a, p) => s + (a[k] / total) * g[p][k], 0);
      });
      const plusW = Array.from({ length: c }, (_, k) => {
        const total = A.reduce((s, a) => s + a[k], 0);
        return g.reduce((s, gp) => {
          const v = gp[k];
          const alpha = v === 0 ? 0 : (v * v) / (2 * v * v + total * v ** 3 + 1e-7);
          return s + relu(v) * alpha;
        }, 0);
      });
      assertClose((await run('gradcam')).rawMap.data, weightedMap(gradCamW), 'gradcam');
      assertClose((await run('xgradcam')).rawMap.data, weightedMap(xgradW), 'xgradcam');
      assertClose((await run('gradcam++')).rawMap.data, weightedMap(plusW), 'gradcam++', 1e-4);
      assertClose(
        (await run('hirescam')).rawMap.data,
        A.map((a, p) => relu(a.reduce((s, v, k) => s + v * g[p][k], 0))),
        'hirescam',
      );
      assertClose(
        (await run('layercam')).rawMap.data,
        A.map((a, p) => relu(a.reduce((s, v, k) => s + v * relu(g[p][k]), 0))),
        'layercam',
      );
    });

    it('on the layer feeding a GAP + dense head, Grad-CAM, CAM, HiResCAM and XGrad-CAM agree up to scale', async () => {
      const maps = await Promise.all(
        ['gradcam', 'cam', 'hirescam', 'xgradcam'].map(async (t) => (await run(t, {}, 'conv_b')).heatmap.data),
      );
      for (const map of maps.slice(1))
        map.forEach((v, i) => assert.ok(Math.abs(v - maps[0][i]) < 1e-4, `pixel ${i}: ${v} vs ${maps[0][i]}`));
    });

    it('Score-CAM: the batched weights equal scoring one channel at a time; Faster Score-CAM scores only the most varied channels', async () => {
      const c = channels();
      const scoreOf = (k: number) =>
        tf.tidy(() => {
          const { activations } = loaded.adapter.split(input, 'conv_a');
          const map = activations.slice([0, 0, 0, k], [1, -1, -1, 1]);
          const mask = tf.image.resizeBilinear(map as tf.Tensor4D, [SIZE, SIZE], false, true);
          const scaled = mask.sub(mask.min()).div(mask.max().sub(mask.min()).add(1e-8));
          return loaded.adapter.scores(input.mul(scaled) as tf.Tensor4D).dataSync()[classIndex];
        });
      const scores = Array.from({ length: c }, (_, k) => scoreOf(k));
      const softmax = (values: number[]) => {
        const top = Math.max(...values);
        const e = values.map((v) => Math.exp(v - top));
        const total = e.reduce((a, b) => a + b, 0);
        return e.map((v) => v / total);
      };
      assertClose((await run('scorecam', { channels: 0, batch: 3 })).rawMap.data, weightedMap(softmax(scores)), 'scorecam', 1e-4);

      const variance = Array.from({ length: c }, (_, k) => {
        const mean = A.reduce((s, a) => s + a[k], 0) / A.length;
        return A.reduce((s, a) => s + (a[k] - mean) ** 2, 0);
      });
      const top2 = [...variance.keys()].sort((a, b) => variance[b] - variance[a]).slice(0, 2);
      const chosenWeights = softmax(top2.map((k) => scores[k]));
      const weights = Array.from({ length: c }, (_, k) => (top2.includes(k) ? chosenWeights[top2.indexOf(k)] : 0));
      assertClose((await run('scorecam', { channels: 2 })).rawMap.data, weightedMap(weights), 'faster scorecam', 1e-4);
    });

    it('Score-CAM scores each distinct map once: a duplicated and a dead channel cost no extra passes and change nothing', async () => {
      const model = twoConvGapModel(3, SIZE);
      const conv = model.getLayer('conv_a');
      const [kernel, bias] = conv.getWeights().map((w) => Array.from(w.dataSync()));
      // Kernel [3, 3, 3, 4] (filters last): filter 1 copies filter 0; filter 3 never fires (bias −100).
      for (let i = 0; i < kernel.length; i += 4) kernel[i + 1] = kernel[i];
      bias[1] = bias[0];
      bias[3] = -100;
      setWeights(conv, [kernel, bias]);
      const doctored = await engine.loadModel(await saveModel(model, tempDir(), { preprocess: 'zero-one' }));
      model.dispose();
      const maps = tf.tidy(() => rows(doctored.adapter.split(input, 'conv_a').activations));
      const distinctMaps = new Set([0, 1, 2, 3].map((k) => maps.map((row) => row[k]).join())).size;
      assert.ok(distinctMaps <= 3, 'channels 0 and 1 have the same map');
      const scoreOf = (k: number) =>
        tf.tidy(() => {
          const { activations } = doctored.adapter.split(input, 'conv_a');
          const mask = tf.image.resizeBilinear(activations.slice([0, 0, 0, k], [1, -1, -1, 1]) as tf.Tensor4D, [SIZE, SIZE], false, true);
          const scaled = mask.sub(mask.min()).div(mask.max().sub(mask.min()).add(1e-8));
          return doctored.adapter.scores(input.mul(scaled) as tf.Tensor4D).dataSync()[classIndex];
        });
      const scores = [0, 1, 2, 3].map(scoreOf);
      const top = Math.max(...scores);
      const total = scores.reduce((sum, v) => sum + Math.exp(v - top), 0);
      const expected = maps.map((a) => relu(a.reduce((sum, v, k) => sum + (v * Math.exp(scores[k] - top)) / total, 0)));
      // One batch per masked image: the progress counts the images scored.
      const details: string[] = [];
      const request = { technique: 'scorecam', classTarget: classIndex, layer: 'conv_a', parameters: { channels: 0, batch: 1 } };
      const explanation = await engine.explain(doctored, image, request, undefined, {
        intervalMs: 0,
        onPreview: (p) => details.push(p.detail),
      });
      assertClose(explanation.rawMap.data, expected, 'scorecam with repeated maps', 1e-4);
      assert.equal(details.at(-1), `channel ${distinctMaps - 1} of ${distinctMaps}`, 'one masked image per distinct map');
    });

    it('Ablation-CAM: each weight is the relative score drop with that channel zeroed', async () => {
      const c = channels();
      const dropped = tf.tidy(() => {
        const { activations, head } = loaded.adapter.split(input, 'conv_a');
        const y = head(activations).dataSync()[classIndex];
        return Array.from({ length: c }, (_, k) => {
          const mask = tf.oneHot([k], c).reshape([1, 1, 1, c]);
          return (y - head(activations.mul(tf.sub(1, mask)) as tf.Tensor4D).dataSync()[classIndex]) / y;
        });
      });
      assertClose((await run('ablationcam', { batch: 3 })).rawMap.data, weightedMap(dropped), 'ablationcam', 1e-4);
    });

    it('Ablation-CAM at the layer a GAP + dense head pools (drops read off the head): the ablated copies’ own scores', async () => {
      const c = channels();
      const [activationRows, dropped] = tf.tidy(() => {
        const { activations, head } = loaded.adapter.split(input, 'conv_b');
        const y = head(activations).dataSync()[classIndex];
        const drops = Array.from({ length: activations.shape[3] }, (_, k) => {
          const mask = tf.oneHot([k], activations.shape[3]).reshape([1, 1, 1, -1]);
          return (y - head(activations.mul(tf.sub(1, mask)) as tf.Tensor4D).dataSync()[classIndex]) / y;
        });
        return [rows(activations), drops] as const;
      });
      assert.ok(c > 0 && dropped.some((d) => d !== 0), 'channels whose ablation moves the score');
      const expected = activationRows.map((a) => relu(a.reduce((sum, v, k) => sum + v * dropped[k], 0)));
      assertClose((await run('ablationcam', { batch: 3 }, 'conv_b')).rawMap.data, expected, 'ablationcam at the pooled layer', 1e-4);
    });

    it('Eigen-CAM is sign-fixed and stable; EigenGrad-CAM depends on the class', async () => {
      const first = await run('eigencam');
      const second = await run('eigencam');
      assert.deepEqual(Array.from(first.rawMap.data), Array.from(second.rawMap.data), 'the same map twice');
      const meanActivation = A.map((a) => a.reduce((s, v) => s + v, 0) / a.length);
      assert.ok(first.rawMap.data.reduce((s, v, i) => s + v * meanActivation[i], 0) > 0, 'the map agrees with the mean activation');
      const a = await engine.explain(loaded, image, { technique: 'eigengradcam', classTarget: 0, layer: 'conv_a' });
      const b = await engine.explain(loaded, image, { technique: 'eigengradcam', classTarget: 1, layer: 'conv_a' });
      assert.notDeepEqual(Array.from(a.rawMap.data), Array.from(b.rawMap.data));
    });

    it('fuses several layers: the mean of each layer’s map upsampled and scaled to 0..1', async () => {
      const single = await run('gradcam', {}, 'conv_b');
      const fused = await run('gradcam', {}, 'conv_b,conv_b');
      assert.equal(fused.layer, 'conv_b,conv_b');
      assert.deepEqual([fused.rawMap.width, fused.rawMap.height], [SIZE, SIZE]);
      assertClose(fused.rawMap.data, Array.from(single.heatmap.data), 'fused', 1e-4);
      const mixed = await run('layercam', {}, 'conv_a,conv_b');
      assert.ok(mixed.rawMap.data.some((v) => v > 0));
      await assert.rejects(
        engine.explain(loaded, image, { technique: 'guided-layer', layer: 'conv_a,conv_b' }),
        /Only the CAM techniques fuse/,
      );
      // Techniques that do not need a layer (as in a comparison with fused layers picked) take the first or none.
      assert.ok((await engine.explain(loaded, image, { technique: 'saliency', layer: 'conv_a,conv_b' })).rawMap.data.some((v) => v > 0));
      const smooth = await engine.explain(loaded, image, {
        technique: 'smoothgrad',
        layer: 'conv_a,conv_b',
        parameters: { base: 'gradcam', samples: 2 },
      });
      assert.equal(smooth.layer, 'conv_a');
      await assert.rejects(run('gradcam', {}, 'conv_a,nope'), /no layer "nope"/);
    });

    it('cancel mid Score-CAM stops within one batch and leaks nothing', async () => {
      const start = tf.memory().numTensors;
      const progress: Preview[] = [];
      let cancelled = false;
      const request = engine.explain(
        loaded,
        image,
        { technique: 'scorecam', layer: 'conv_a', parameters: { channels: 0, batch: 1 } },
        () => {
          if (cancelled) throw new CancelledError();
        },
        {
          intervalMs: 0,
          onPreview: (p) => {
            progress.push(p);
            cancelled = true;
          },
        },
      );
      await assert.rejects(request, CancelledError);
      assert.equal(progress.length, 1, 'no batch ran after the cancel');
      assert.equal(progress[0].detail, `channel 1 of ${channels()}`);
      assert.equal(tf.memory().numTensors, start);
    });
  });
}

describe('Eigen-CAM projection', () => {
  it('with more channels than cells (through the Gram matrix) equals the projection on the covariance’s top eigenvector', () => {
    // 4 cells × 6 channels of deterministic, sign-mixed values; the reference goes through the 6×6 covariance.
    const values = Array.from({ length: 24 }, (_, i) => Math.sin(1.3 * i) + 0.2 * Math.cos(0.7 * i * i));
    const activations = tf.tensor4d(values, [1, 2, 2, 6]);
    const map = firstComponentMap(activations, activations);
    const rows = Array.from({ length: 4 }, (_, p) => values.slice(p * 6, p * 6 + 6));
    const mean = Array.from({ length: 6 }, (_, k) => rows.reduce((s, r) => s + r[k], 0) / 4);
    const centred = rows.map((r) => r.map((v, k) => v - mean[k]));
    const covariance = Float64Array.from({ length: 36 }, (_, i) => centred.reduce((s, r) => s + r[Math.floor(i / 6)] * r[i % 6], 0));
    const v = topEigenvector(covariance, 6);
    const projection = centred.map((r) => r.reduce((s, x, k) => s + x * v[k], 0));
    const meanActivation = rows.map((r) => r.reduce((a, b) => a + b, 0) / 6);
    const sign = projection.reduce((s, x, p) => s + x * meanActivation[p], 0) < 0 ? -1 : 1;
    assertClose(
      map.dataSync() as Float32Array,
      projection.map((x) => sign * x),
      'gram route',
      1e-4,
    );
    const zeros = tf.zeros([1, 2, 2, 6]) as tf.Tensor4D;
    const flat = firstComponentMap(zeros, zeros);
    assert.deepEqual(Array.from(flat.dataSync()), [0, 0, 0, 0], 'equal rows: no component');
    tf.dispose([activations, map, zeros, flat]);
  });

  it('finds the top eigenvector and projects a rank-one activation onto it', () => {
    const v = topEigenvector(Float64Array.from([2, 1, 1, 2]), 2);
    assert.ok(Math.abs(Math.abs(v[0]) - Math.SQRT1_2) < 1e-9 && Math.abs(v[0] - v[1]) < 1e-9);
    // A[p, k] = s_p · u_k: the first component is u, the projection s − mean(s) times |u|.
    const s = [3, 1, 4, 1, 5, 9];
    const u = [0.5, 1, 2];
    const activations = tf.tensor4d(
      s.flatMap((sp) => u.map((uk) => sp * uk)),
      [1, 2, 3, 3],
    );
    const map = firstComponentMap(activations, activations);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    const norm = Math.hypot(...u);
    assertClose(
      map.dataSync() as Float32Array,
      s.map((sp) => (sp - mean) * norm),
      'projection',
      1e-5,
    );
    tf.dispose([activations, map]);
  });

  it('projects a rank-one activation with more channels than cells, where the Gram matrix maps the uniform vector to exactly 0', () => {
    // Small integers: centring and the Gram matrix are exact, so no rounding noise can steer the iteration.
    const s = [1, 3, 5, 7];
    const u = [1, 2, 0, 1, 1, 2];
    const activations = tf.tensor4d(
      s.flatMap((sp) => u.map((uk) => sp * uk)),
      [1, 2, 2, 6],
    );
    const map = firstComponentMap(activations, activations);
    assertClose(
      map.dataSync() as Float32Array,
      s.map((sp) => (sp - 4) * Math.hypot(...u)),
      'projection',
      1e-5,
    );
    tf.dispose([activations, map]);
  });
});

describe('gradient-free CAMs on a graph model whose ops have no gradient', () => {
  it('Score-CAM, Ablation-CAM and Eigen-CAM run where Grad-CAM cannot', async () => {
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    const loaded = await engine.loadModel(await writeTinyGraphModel(tempDir()));
    const image = noiseImage(8, 8, 5);
    for (const technique of ['scorecam', 'ablationcam', 'eigencam']) {
      const result = await engine.explain(loaded, image, { technique, layer: 'conv/Relu' });
      assert.ok(
        result.rawMap.data.some((v) => v > 0),
        `${technique} draws a map`,
      );
    }
    await assert.rejects(
      engine.explain(loaded, image, { technique: 'gradcam', layer: 'conv/Relu' }),
      /StridedSlice.*Score-CAM \(scorecam\)/,
    );
    engine.dispose();
  });
});
