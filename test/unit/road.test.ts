import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundledModelPath } from '../../src/engine/bundledModel';
import { Engine } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { conjugateGradients, imputationSystem, linearImputation } from '../../src/engine/metrics/imputation';
import { classProbability, type ModelProbe } from '../../src/engine/metrics/modelProbe';
import { multigridPreconditioner } from '../../src/engine/metrics/multigrid';
import type { Box } from '../../src/engine/metrics/pointingGame';
import { imageTimesMapChange, keptPixels, percentileOf, road } from '../../src/engine/metrics/road';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { scalerFor, toModelPixels } from '../../src/engine/preprocess';
import { resizeHeatmap } from '../../src/engine/render/overlay';
import { tf } from '../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../src/engine/types';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const SAMPLES = path.resolve(__dirname, '../../models/samples');
const BOXES = JSON.parse(readFileSync(path.join(SAMPLES, 'boxes.json'), 'utf8')) as Record<string, { index: number; box: Box }>;

const close = (a: number, b: number, tolerance: number) => Math.abs(a - b) <= tolerance;

describe('ROAD building blocks', () => {
  it('linear imputation of a ramp is exact where the hole has all its neighbours', () => {
    const [height, width, channels] = [12, 15, 2];
    const values = new Float32Array(height * width * channels);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        values[(y * width + x) * 2] = 3 * x - 2 * y + 5;
        values[(y * width + x) * 2 + 1] = 0.25 * y;
      }
    // A ragged hole away from the border: the weighted mean of a linear function's symmetric neighbours is its value.
    const keep = Uint8Array.from({ length: height * width }, (_, p) => {
      const [y, x] = [Math.floor(p / width), p % width];
      return y >= 2 && y <= 9 && x >= 2 && x <= 12 && (x + y) % 5 !== 0 ? 0 : 1;
    });
    const scrambled = values.map((v, i) => (keep[Math.floor(i / 2)] ? v : 1000));
    const out = linearImputation({ values: scrambled, height, width, channels }, keep, 0, 0);
    for (let i = 0; i < out.length; i++) assert.ok(close(out[i], values[i], 1e-4), `value ${i}: ${out[i]} vs ${values[i]}`);
  });

  it('a tiny system by hand: [a, x, y, b] in a row gives x = (2a + b)/3, y = (a + 2b)/3; a 3×3 centre the weighted mean', () => {
    const row = linearImputation(
      { values: Float32Array.from([3, 0, 0, 9]), height: 1, width: 4, channels: 1 },
      Uint8Array.from([1, 0, 0, 1]),
      0,
      0,
    );
    assert.ok(close(row[1], 5, 1e-5) && close(row[2], 7, 1e-5), `${row[1]}, ${row[2]}`);
    const grid = Float32Array.from([1, 2, 3, 4, 99, 6, 7, 8, 10]);
    const centre = linearImputation(
      { values: grid, height: 3, width: 3, channels: 1 },
      Uint8Array.from([1, 1, 1, 1, 0, 1, 1, 1, 1]),
      0,
      0,
    )[4];
    // Sides weigh 1/6 (2, 4, 6, 8), corners 1/12 (1, 3, 7, 10).
    assert.ok(close(centre, (2 + 4 + 6 + 8) / 6 + (1 + 3 + 7 + 10) / 12, 1e-5), `${centre}`);
  });

  it('conjugate gradients solve a small symmetric system as elimination does', () => {
    // M = [[2, −1, 0], [−1, 2, −1], [0, −1, 2]], b = [1, 0, 1]: x = [1, 1, 1].
    const m = {
      diagonal: Float64Array.from([2, 2, 2]),
      rowStart: Int32Array.from([0, 1, 3, 4]),
      columns: Int32Array.from([1, 0, 2, 1]),
      weights: Float64Array.from([1, 1, 1, 1]),
    };
    const x = conjugateGradients(m, Float64Array.from([1, 0, 1]));
    assert.ok(
      x.every((v) => close(v, 1, 1e-6)),
      `${Array.from(x)}`,
    );
  });

  it('the multigrid preconditioner and a warm start change the steps, not the answer: SSOR from zero agrees', () => {
    // A 96×80 image with a large irregular hole (most of it) and a few islands kept inside.
    const [height, width] = [96, 80];
    const keep = Uint8Array.from({ length: height * width }, (_, p) => {
      const [y, x] = [Math.floor(p / width), p % width];
      const inside = (y - 48) ** 2 / 40 ** 2 + (x - 40) ** 2 / 34 ** 2 < 1;
      return inside && !((x * 7 + y * 3) % 97 === 0) ? 0 : 1;
    });
    const values = Float32Array.from({ length: height * width }, (_, q) => Math.sin(q));
    const { system: m, unknown, rhs: b } = imputationSystem({ values, height, width, channels: 1 }, keep);
    const reference = conjugateGradients(m, b);
    const rows = Int32Array.from(unknown, (p) => Math.floor(p / width));
    const cols = Int32Array.from(unknown, (p) => p % width);
    const fast = conjugateGradients(
      m,
      b,
      Float64Array.from(b, (v) => v * 3),
      multigridPreconditioner(m, rows, cols),
    );
    const gap = Math.max(...Array.from(fast, (v, i) => Math.abs(v - reference[i])));
    assert.ok(gap < 1e-5, `max |Δ| ${gap}`);
  });

  it('noise: seeded, its standard deviation as asked, only on the imputed pixels; nothing kept is an error', () => {
    const image = { values: new Float32Array(40 * 40).fill(0.5), height: 40, width: 40, channels: 1 };
    const keep = Uint8Array.from({ length: 1600 }, (_, p) => (p % 40 < 20 ? 1 : 0));
    const a = linearImputation(image, keep, 0.1, 7);
    assert.deepEqual(a, linearImputation(image, keep, 0.1, 7));
    assert.notDeepEqual(a, linearImputation(image, keep, 0.1, 8));
    const imputed = Array.from(a).filter((_, p) => !keep[p]);
    const sd = Math.sqrt(imputed.reduce((s, v) => s + (v - 0.5) ** 2, 0) / imputed.length);
    assert.ok(close(sd, 0.1, 0.01), `sd ${sd}`);
    assert.ok(Array.from(a).every((v, p) => !keep[p] || v === 0.5));
    assert.throws(() => linearImputation(image, new Uint8Array(1600), 0, 0), /at least one kept pixel/);
  });

  it('percentiles as NumPy computes them; MoRF keeps what lies below, LeRF what lies above; ties that remove all fall back to ranks', () => {
    assert.equal(percentileOf([4, 1, 3, 2], 50), 2.5);
    assert.ok(close(percentileOf([1, 2, 3, 4], 10), 1.3, 1e-12));
    const map = Float32Array.from([0.1, 0.9, 0.5, 0.3, 0.7]);
    // 40th percentile of the map: 0.3 + 0.6 · 0.2 = 0.42, keep 0.1 and 0.3; of 1 − map (0.9, 0.1, 0.5, 0.7, 0.3)
    // also 0.42: keep the map's 0.9 and 0.7.
    assert.deepEqual(Array.from(keptPixels(map, 40, false)), [1, 0, 0, 1, 0]);
    assert.deepEqual(Array.from(keptPixels(map, 40, true)), [0, 1, 0, 0, 1]);
    const flat = new Float32Array(10).fill(0);
    assert.deepEqual(Array.from(keptPixels(flat, 30, false)), [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('ROAD and the image × map change on the bundled model', () => {
  let engine: Engine;
  let model: LoadedModel;
  const images = new Map<string, RgbaImage>();
  before(async () => {
    engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    model = await engine.loadModel(bundledModelPath());
    for (const file of Object.keys(BOXES)) images.set(file, await readImageFile(path.join(SAMPLES, file), DEFAULT_IMAGE_LIMITS));
  });
  after(() => engine.dispose());

  const probeFor = (classIndex: number, checkCancelled: () => void = () => undefined): ModelProbe => ({
    adapter: model.adapter,
    preprocess: scalerFor(3, model.summary.preprocessing.preset),
    classIndex,
    checkCancelled,
  });

  it('the image × map change: 0 for a map of ones, the zero input’s probability for a map of zeros', () => {
    const pixels = toModelPixels(images.get('dress.png')!, model.summary.inputShape);
    const probe = probeFor(BOXES['dress.png'].index);
    const start = tf.memory().numTensors;
    assert.ok(Math.abs(imageTimesMapChange(probe, pixels, new Float32Array(64 * 64).fill(1)).change) < 1e-6);
    const zeros = imageTimesMapChange(probe, pixels, new Float32Array(64 * 64));
    const zeroInput = tf.tidy(() => {
      const scores = model.adapter.scores(tf.zeros([1, 64, 64, 3]));
      return (model.adapter.hasLogits ? tf.softmax(scores) : scores).dataSync()[probe.classIndex];
    });
    assert.ok(close(zeros.masked, zeroInput, 1e-6));
    assert.ok(
      close(
        zeros.original,
        tf.tidy(() => classProbability(probe, pixels).dataSync()[0]),
        1e-6,
      ),
    );
    assert.equal(tf.memory().numTensors, start, 'no tensor leaked');
    pixels.dispose();
  });

  it('ROAD: batch size does not change the numbers; tensors are back after success, a bad setting and cancelling', () => {
    const pixels = toModelPixels(images.get('bag.png')!, model.summary.inputShape);
    const map = Float32Array.from({ length: 64 * 64 }, (_, i) => (i * 7919) % 4096);
    const start = tf.memory().numTensors;
    const one = road(probeFor(BOXES['bag.png'].index), pixels, map, { percentiles: [20, 50, 80], seed: 3, batch: 1 });
    const all = road(probeFor(BOXES['bag.png'].index), pixels, map, { percentiles: [20, 50, 80], seed: 3, batch: 6 });
    for (const [a, b] of [
      [one.mostRelevantFirst, all.mostRelevantFirst],
      [one.leastRelevantFirst, all.leastRelevantFirst],
    ])
      a.forEach((v, i) => assert.ok(close(v, b[i], 1e-6), `${v} vs ${b[i]}`));
    assert.ok(close(one.combined, (mean(one.leastRelevantFirst) - mean(one.mostRelevantFirst)) / 2, 1e-12));
    assert.throws(() => road(probeFor(0), pixels, map, { percentiles: [0, 50], batch: 4 }), /strictly between 0 and 100/);
    assert.throws(() => road(probeFor(0), pixels, map, { noise: -1, batch: 4 }), /noise must be a number ≥ 0/);
    assert.throws(() => road(probeFor(0), pixels, map.subarray(1), { batch: 4 }), /4095 values for a 64×64 input/);
    let calls = 0;
    const cancelling = () => {
      if (++calls > 3) throw Object.assign(new Error('cancelled'), { name: 'CancelledError' });
    };
    assert.throws(() => road(probeFor(0, cancelling), pixels, map, { batch: 2 }), /cancelled/);
    assert.equal(tf.memory().numTensors, start, 'no tensor leaked');
    pixels.dispose();
  });

  it('Grad-CAM scores better than its own map shuffled (informative; ROAD and image × map over the samples)', async () => {
    const totals = { gradcam: 0, shuffled: 0, gradcamTimes: 0, shuffledTimes: 0 };
    for (const [file, { index }] of Object.entries(BOXES)) {
      const image = images.get(file)!;
      const pixels = toModelPixels(image, model.summary.inputShape);
      const explanation = await engine.explain(model, image, { technique: 'gradcam', classTarget: index });
      const map = resizeHeatmap(explanation.heatmap, 64, 64).data;
      // The same values in a seeded random order: RandomCAM's idea with the map's own distribution.
      const shuffled = Float32Array.from(map);
      for (let i = shuffled.length - 1, s = index + 1; i > 0; i--) {
        s = (s * 1103515245 + 12345) % 2147483648;
        const j = s % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      const probe = probeFor(index);
      totals.gradcam += road(probe, pixels, map, { batch: 18 }).combined;
      totals.shuffled += road(probe, pixels, shuffled, { batch: 18 }).combined;
      totals.gradcamTimes += imageTimesMapChange(probe, pixels, map).change;
      totals.shuffledTimes += imageTimesMapChange(probe, pixels, shuffled).change;
      pixels.dispose();
    }
    const n = Object.keys(BOXES).length;
    console.log(
      `      mean ROAD combined: Grad-CAM ${(totals.gradcam / n).toFixed(4)}, shuffled ${(totals.shuffled / n).toFixed(4)}; ` +
        `image × map: ${(totals.gradcamTimes / n).toFixed(4)} vs ${(totals.shuffledTimes / n).toFixed(4)}`,
    );
    // Measured 0.36 against 0.03 and −0.001 against −0.78: wide margins, so asserted.
    assert.ok(totals.gradcam > totals.shuffled, 'ROAD ranks Grad-CAM above its shuffled map');
    assert.ok(totals.gradcamTimes > totals.shuffledTimes, 'image × map ranks Grad-CAM above its shuffled map');
  });

  it('evaluate: the image × map change in every row, ROAD when asked, its settings checked first', async () => {
    const image = images.get('sneaker.png')!;
    const evaluation = await engine.evaluate(model, image, {
      techniques: ['gradcam', 'eigencam'],
      steps: 4,
      road: { percentiles: [30, 70], seed: 5 },
    });
    for (const row of evaluation.rows) {
      assert.ok(Math.abs(row.imageTimesMapChange!) <= 1);
      assert.deepEqual(row.road!.percentiles, [30, 70]);
      assert.equal(row.road!.mostRelevantFirst.length, 2);
    }
    const plain = await engine.evaluate(model, image, { techniques: ['gradcam'], steps: 4 });
    assert.equal(plain.rows[0].road, undefined);
    await assert.rejects(engine.evaluate(model, image, { techniques: ['gradcam'], road: { noise: Number.NaN } }), /noise must be a number/);
  });
});

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
