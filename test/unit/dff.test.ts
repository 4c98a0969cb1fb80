import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { CancelledError, Engine } from '../../src/engine/engine';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { channelMatrix } from '../../src/engine/techniques/dff';
import { nmf, NumpyRandomState, reconstructionError, type Matrix } from '../../src/engine/techniques/nmf';
import { DEFAULT_IMAGE_LIMITS, encodePng } from '../../src/engine/image';
import { writeOverlayFiles } from '../../src/engine/photoFiles';
import { tf } from '../../src/engine/tfjs/tf';
import { conceptColour, conceptPicture } from '../../src/shared/conceptDrawing';
import { resultMessage } from '../../src/host/panel/displayParts';
import { parseConcepts } from '../../src/shared/protocol';
import { runCli } from './helpers/cli';
import { noiseImage, saveModel, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

/** A non-negative [rows, columns] matrix from a simple deterministic generator (not NumPy's). */
function positiveMatrix(rows: number, columns: number, seed: number, zeros = 0): Matrix {
  let state = seed;
  const data = Float32Array.from({ length: rows * columns }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    const u = state / 2147483648;
    return u < zeros ? 0 : u;
  });
  return { rows, columns, data };
}

function product(w: Matrix, h: Matrix): Matrix {
  const data = new Float32Array(w.rows * h.columns);
  for (let i = 0; i < w.rows; i++)
    for (let j = 0; j < h.columns; j++)
      for (let t = 0; t < w.columns; t++) data[i * h.columns + j] += w.data[i * w.columns + t] * h.data[t * h.columns + j];
  return { rows: w.rows, columns: h.columns, data };
}

const norm = (m: Matrix) => Math.sqrt(m.data.reduce((s, v) => s + v * v, 0));

describe('NMF (scikit-learn’s init="random" and coordinate descent)', () => {
  it('draws NumPy’s RandomState(0) numbers', () => {
    // numpy.random.RandomState(0).random_sample() and .standard_normal(3), printed by NumPy 1.24.
    assert.equal(new NumpyRandomState(0).uniform(), 0.5488135039273248);
    const random = new NumpyRandomState(0);
    const normals = [random.standardNormal(), random.standardNormal(), random.standardNormal()];
    assert.deepEqual(normals, [1.764052345967664, 0.4001572083672233, 0.9787379841057392]);
  });

  it('recovers a known non-negative rank-3 product, with W, H ≥ 0 and a falling error', () => {
    const x = product(positiveMatrix(30, 3, 1, 0.3), positiveMatrix(3, 20, 2, 0.3));
    const errors: number[] = [];
    const { w, h } = nmf(x, { components: 3, maxIterations: 2000, tolerance: 1e-9, onIteration: (_, e) => errors.push(e) });
    assert.ok(w.data.every((v) => v >= 0) && h.data.every((v) => v >= 0), 'W and H are non-negative');
    const relative = reconstructionError(x, w, h) / norm(x);
    assert.ok(relative < 1e-3, `relative error ${relative}`);
    // Each coordinate step minimises the loss exactly along its coordinate: the error never rises (float32 slack).
    for (let i = 1; i < errors.length; i++) assert.ok(errors[i] <= errors[i - 1] + 1e-6 * errors[0], `error rose at iteration ${i + 1}`);
    assert.ok(errors[errors.length - 1] < errors[0] / 10);
  });

  it('is reproducible for a seed and starts elsewhere for another', () => {
    const x = positiveMatrix(16, 12, 3);
    const a = nmf(x, { components: 4, seed: 0 });
    const b = nmf(x, { components: 4, seed: 0 });
    const c = nmf(x, { components: 4, seed: 1 });
    assert.deepEqual(Array.from(a.w.data), Array.from(b.w.data));
    assert.deepEqual(Array.from(a.h.data), Array.from(b.h.data));
    assert.notDeepEqual(Array.from(a.h.data), Array.from(c.h.data));
  });

  it('gives the same factorisation with the product on tfjs’s matMul (as DFF runs it) as in plain TypeScript', () => {
    const x = positiveMatrix(40, 9, 6, 0.4);
    const before = tf.memory().numTensors;
    const matrix = tf.tensor2d(x.data, [x.rows, x.columns]);
    const multiply = (transposed: boolean, factor: Float32Array) => {
      const product = tf.tidy(() => tf.matMul(matrix, tf.tensor2d(factor, [transposed ? x.rows : x.columns, 3]), transposed, false));
      const values = product.dataSync();
      product.dispose();
      return values;
    };
    const fast = nmf(x, { components: 3, multiply });
    matrix.dispose();
    assert.equal(tf.memory().numTensors, before);
    const plain = nmf(x, { components: 3 });
    const scale = Math.max(...plain.h.data);
    plain.h.data.forEach((v, i) => assert.ok(Math.abs(v - fast.h.data[i]) <= 1e-4 * scale, `H[${i}]: ${v} vs ${fast.h.data[i]}`));
  });

  it('checks for a cancel every 10 iterations and refuses negative input', () => {
    const x = positiveMatrix(16, 12, 4);
    let iterations = 0;
    assert.throws(
      () =>
        nmf(x, {
          components: 3,
          tolerance: 0,
          onIteration: () => iterations++,
          checkCancelled: () => {
            throw new CancelledError();
          },
        }),
      CancelledError,
    );
    assert.equal(iterations, 9);
    assert.throws(() => nmf({ rows: 1, columns: 2, data: Float32Array.from([1, -1]) }, { components: 1 }), /non-negative/);
  });

  it('lays activations out as pytorch-grad-cam does: [c, h·w], each channel minus its minimum, NaN as 0', () => {
    // Two cells × three channels, NHWC order.
    const { x, offsets } = channelMatrix(Float32Array.from([1, 5, NaN, 3, 2, 4]), 2, 3);
    assert.deepEqual(Array.from(offsets), [1, 2, 0]);
    assert.deepEqual(Array.from(x.data), [0, 2, 3, 0, 0, 4]);
  });
});

describe('Deep Feature Factorization technique (wasm backend)', () => {
  let engine: Engine;
  let loaded: LoadedModel;
  const image = noiseImage(6, 6, 5);

  before(async () => {
    engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    loaded = await engine.loadModel(await saveModel(twoConvGapModel(3, 6, 3, 4), tempDir(), { preprocess: 'zero-one' }));
  });
  after(() => engine?.dispose());

  it('gives k concept maps scaled to 0..1, their classes, and the strongest as the plain map; class-agnostic; nothing leaked', async () => {
    const before = tf.memory().numTensors;
    const run = (classTarget: number) =>
      engine.explain(loaded, image, { technique: 'dff', classTarget, layer: 'conv_a', parameters: { concepts: 3, labels: 2 } });
    const explanation = await run(0);
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    const concepts = explanation.concepts!;
    assert.equal(concepts.maps.length, 3);
    for (const map of concepts.maps) {
      assert.ok(Math.abs(Math.max(...map.data) - 1) < 1e-5 && Math.min(...map.data) === 0, 'each map spans 0..1');
    }
    for (const classes of concepts.classes) {
      assert.equal(classes.length, 2);
      assert.ok(classes[0].score >= classes[1].score && classes.every((c) => c.score >= 0 && c.score <= 1 && c.label));
    }
    explanation.rawMap.data.forEach((v, p) => assert.ok(Math.abs(v - Math.max(...concepts.maps.map((m) => m.data[p]))) < 1e-6));
    const other = await run(1);
    assert.deepEqual(Array.from(other.rawMap.data), Array.from(explanation.rawMap.data));
  });

  it('a cancel mid-factorisation leaks nothing', async () => {
    const before = tf.memory().numTensors;
    let calls = 0;
    const count = () => void calls++;
    const parameters = { concepts: 3, labels: 1 };
    const done = await engine.explain(loaded, image, { technique: 'dff', layer: 'conv_a', parameters }, count);
    const total = calls;
    const iterations = Number(/after (\d+) iterations/.exec(done.notes.join(' '))?.[1]);
    assert.ok(iterations >= 20, `the factorisation checks twice or more (${iterations} iterations)`);
    calls = 0;
    // The engine's own checks come before and after; the technique's, between, include the factorisation's.
    const cancelAt = total - 1;
    await assert.rejects(
      engine.explain(loaded, image, { technique: 'dff', layer: 'conv_a', parameters }, () => {
        if (++calls === cancelAt) throw new CancelledError();
      }),
      CancelledError,
    );
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('Deep Feature Factorization’s picture and the CLI', () => {
  it('gives each pixel the strongest concept’s colour (gist_rainbow, as matplotlib gives it) times its strength', () => {
    // matplotlib.pyplot.get_cmap('gist_rainbow')(i / 5)[:3] × 255, rounded.
    const matplotlib = [
      [255, 0, 41],
      [255, 234, 0],
      [0, 255, 0],
      [0, 236, 255],
      [42, 0, 255],
    ];
    matplotlib.forEach((rgb, i) =>
      conceptColour(i, 5).forEach((v, c) => assert.ok(Math.abs(v - rgb[c]) <= 1, `concept ${i}: ${conceptColour(i, 5)}`)),
    );
    // Two concepts on a 2×1 grid drawn at 2×1 (no resampling): the first wins the left pixel, the second the right at half strength.
    const picture = conceptPicture(
      [
        { width: 2, height: 1, data: Float32Array.from([1, 0.2]) },
        { width: 2, height: 1, data: Float32Array.from([0.1, 0.5]) },
      ],
      2,
      1,
    );
    const [red, green] = [conceptColour(0, 2), conceptColour(1, 2)];
    assert.deepEqual(Array.from(picture.data), [...red, 255, ...green.map((v) => Math.floor(v * 0.5)), 255]);
  });

  it('the panel gets the concepts as bytes of their own 0..1 scale, and accepts them back', async () => {
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    try {
      const loaded = await engine.loadModel(await saveModel(twoConvGapModel(5), tempDir(), { preprocess: 'zero-one' }));
      const explanation = await engine.explain(loaded, noiseImage(6, 6, 2), { technique: 'dff', parameters: { concepts: 2 } });
      const message = resultMessage(1, explanation, noiseImage(6, 6, 2));
      const parsed = parseConcepts(message.concepts);
      assert.ok(parsed);
      explanation.concepts!.maps.forEach((map, t) => map.data.forEach((v, p) => assert.equal(parsed.maps[t].data[p], Math.round(v * 255))));
      assert.deepEqual(parsed.classes, explanation.concepts!.classes);
      assert.equal(resultMessage(1, { ...explanation, concepts: undefined }, noiseImage(6, 6, 2)).concepts, null);
    } finally {
      engine.dispose();
    }
  });

  it('exports draw the concepts over a photo wider than the picture’s cap, each side in its concept’s colour', async () => {
    const dir = tempDir();
    const photo = path.join(dir, 'wide.png');
    const [width, height] = [2600, 20];
    await fs.writeFile(photo, encodePng(noiseImage(width, height, 4)));
    const out = path.join(dir, 'wide.dff.png');
    // Two concepts on a 2×1 grid: the left cell all the first's, the right all the second's.
    const maps = [Float32Array.from([1, 0]), Float32Array.from([0, 1])].map((data) => ({ width: 2, height: 1, data }));
    const layer = {
      heatmap: { width: 2, height: 1, data: Float32Array.from([1, 1]) },
      colour: null,
      concepts: { maps, classes: [[], []] },
      region: { x: 0, y: 0, width: 1, height: 1 },
      signed: false,
      imageSize: { width, height },
    };
    await writeOverlayFiles(photo, DEFAULT_IMAGE_LIMITS, layer, { overlayPath: out, colormap: 'jet', opacity: 1 });
    const png = PNG.sync.read(await fs.readFile(out));
    assert.deepEqual([png.width, png.height], [width, height]);
    const at = (x: number) => Array.from(png.data.subarray((10 * width + x) * 4, (10 * width + x) * 4 + 3));
    assert.deepEqual(at(5), conceptColour(0, 2));
    assert.deepEqual(at(width - 5), conceptColour(1, 2));
  });

  it('explain --technique dff writes the concept picture over the photo and prints the legend', async () => {
    const dir = tempDir();
    const modelDir = path.join(dir, 'model');
    await fs.mkdir(modelDir);
    await saveModel(twoConvGapModel(5), modelDir, { preprocess: 'zero-one', labels: ['ant', 'bee', 'cat', 'dog'] });
    const photo = path.join(dir, 'photo.png');
    await fs.writeFile(photo, encodePng(noiseImage(30, 20, 9)));
    const [overlay, json] = [path.join(dir, 'o.png'), path.join(dir, 'r.json')];
    const args = ['explain', photo, '--model', modelDir, '--backend', 'cpu', '--technique', 'dff', '--param', 'concepts=3'];
    const { code, out } = await runCli([...args, '--layer', 'conv_a', '--opacity', '1', '--out', overlay, '--json', json]);
    assert.equal(code, 0, out);
    const legend = out.split('\n').filter((line) => /^ {2}\d #[0-9a-f]{6}: /.test(line));
    assert.equal(legend.length, 3, out);
    const result = JSON.parse(await fs.readFile(json, 'utf8')) as { concepts: { colour: string; classes: unknown[] }[] };
    assert.equal(result.concepts.length, 3);
    // At opacity 1 the overlay is the picture: every pixel one concept's colour scaled by a strength in 0..1.
    const png = PNG.sync.read(await fs.readFile(overlay));
    assert.deepEqual([png.width, png.height], [30, 20]);
    const colours = [0, 1, 2].map((i) => conceptColour(i, 3));
    for (let p = 0; p < 600; p++) {
      const pixel = [png.data[p * 4], png.data[p * 4 + 1], png.data[p * 4 + 2]];
      const fits = colours.some((colour) => {
        const strength = Math.max(...pixel) / Math.max(...colour);
        return strength <= 1 + 1e-6 && colour.every((v, c) => Math.abs(v * strength - pixel[c]) <= 2);
      });
      assert.ok(fits, `pixel ${p}: ${pixel} is no concept's colour`);
    }
  });
});
