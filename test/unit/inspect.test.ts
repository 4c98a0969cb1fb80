import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { bundledModelPath } from '../../src/engine/bundledModel';
import { CancelledError, Engine } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { ascend, gaussianBlur, NO_REGULARISERS, roll, totalVariation } from '../../src/engine/inspect/ascent';
import { channelMap, featureGrid, featureMaps } from '../../src/engine/inspect/featureMaps';
import { filterTiles } from '../../src/engine/inspect/filters';
import { fourierImage } from '../../src/engine/inspect/fourier';
import { visualize } from '../../src/engine/inspect/visualize';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { scalerFor, toModelPixels } from '../../src/engine/preprocess';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../src/engine/types';
import { writeTinyGraphModel } from './helpers/tinyGraphModel';
import { noiseImage, saveModel, setWeights, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const quiet = () => undefined;

/** Mean squared difference between the image and its blur: the energy above the blur's cut-off. */
function highFrequencyEnergy(image: RgbaImage): number {
  return tf.tidy(() => {
    const x = tf
      .tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 4])
      .slice([0, 0, 0, 0], [1, -1, -1, 3]) as tf.Tensor4D;
    return tf.mean(tf.square(tf.sub(x, gaussianBlur(x, 1)))).dataSync()[0];
  });
}

describe('looking inside: feature maps and filters', () => {
  let engine: Engine;
  let model: LoadedModel;
  let keras: tfl.Sequential;
  const image = noiseImage(6, 6, 21);
  before(async () => {
    engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    keras = twoConvGapModel(8);
    model = await engine.loadModel(await saveModel(keras, tempDir(), { preprocess: 'zero-one' }));
  });
  after(() => engine.dispose());

  it('feature maps equal the layer output computed by tfjs-layers itself, with stats and orders', () => {
    const maps = featureMaps(model, image, 'conv_a', 'mean');
    const expected = tf.tidy(() => {
      const probe = tfl.model({ inputs: keras.inputs, outputs: keras.getLayer('conv_a').output as tfl.SymbolicTensor });
      const input = scalerFor(3, 'zero-one')(toModelPixels(image, [6, 6, 3]));
      return (probe.predict(input) as tf.Tensor).dataSync();
    });
    assert.deepEqual([maps.width, maps.height, maps.channels], [6, 6, 4]);
    maps.values.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-5, `value ${i}: ${v} vs ${expected[i]}`));
    const channel2 = channelMap(maps, 2);
    channel2.data.forEach((v, p) => assert.equal(v, maps.values[p * 4 + 2]));
    const means = [0, 1, 2, 3].map((k) => channelMap(maps, k).data.reduce((a, b) => a + b, 0) / 36);
    maps.means.forEach((m, k) => assert.ok(Math.abs(m - means[k]) < 1e-5));
    assert.deepEqual(
      maps.order,
      [0, 1, 2, 3].sort((a, b) => means[b] - means[a]),
    );
    assert.deepEqual(featureMaps(model, image, 'conv_a', 'index').order, [0, 1, 2, 3]);
    const page = featureGrid(maps, 1, 3, 'gray');
    assert.deepEqual(page.channels, maps.order.slice(3));
    assert.equal(page.pages, 2);
    assert.throws(() => featureGrid(maps, 2, 3, 'gray'), /2 page\(s\) of 3 channels; got page 3/);
    assert.throws(() => featureMaps(model, image, 'logits'), /spatial/);
  });

  it('filter tiles are the kernel values after per-filter min-max scaling (RGB for the first layer)', () => {
    const tiny = tfl.sequential();
    tiny.add(tfl.layers.conv2d({ inputShape: [4, 4, 3], filters: 2, kernelSize: 1, name: 'rgb' }));
    tiny.add(tfl.layers.conv2d({ filters: 1, kernelSize: 2, name: 'deep' }));
    tiny.add(tfl.layers.flatten({}));
    tiny.add(tfl.layers.dense({ units: 2, name: 'logits' }));
    // [1, 1, 3, 2]: filter 0 = (1, 2, 3), filter 1 = (−4, 0, 4).
    setWeights(tiny.getLayer('rgb'), [
      [1, -4, 2, 0, 3, 4],
      [0, 0],
    ]);
    return (async () => {
      const loaded = await engine.loadModel(await saveModel(tiny, tempDir(), { preprocess: 'zero-one' }));
      const rgb = filterTiles(loaded, 'rgb');
      assert.equal(rgb.kind, 'rgb');
      const pixel = (tile: RgbaImage) => Array.from(tile.data.slice(0, 3));
      assert.deepEqual(pixel(rgb.tiles[0]), [0, 128, 255]);
      assert.deepEqual(pixel(rgb.tiles[1]), [0, 128, 255]);
      assert.ok(rgb.tiles[0].width > 1, 'small kernels are enlarged, not blurred');
      const deep = filterTiles(loaded, 'deep');
      assert.equal(deep.kind, 'per-channel');
      assert.equal(deep.tiles.length, 1);
      assert.throws(() => filterTiles(loaded, 'logits'), /no convolution kernel/);
    })();
  });
});

describe('optimisation loops', () => {
  it('roll wraps around and total variation is zero for a flat image', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    assert.deepEqual(Array.from(roll(x, 1, 1).dataSync()), [6, 4, 5, 3, 1, 2]);
    assert.equal(totalVariation(tf.fill([1, 4, 4, 3], 0.5) as tf.Tensor4D).dataSync()[0], 0);
    x.dispose();
  });

  it('Fourier parameterisation: zero spectrum is mid-grey, DC is flat, one column frequency is a cosine along x', () => {
    const [h, w] = [6, 8];
    const image = fourierImage(h, w, 1);
    const pixels = (spectrum: tf.Tensor) => tf.tidy(() => image.toPixels(spectrum).dataSync());
    const k = w / 2 + 1;
    const zero = tf.zeros([2, 3, h, k]);
    assert.ok(pixels(zero).every((v) => Math.abs(v - 127.5) < 1e-3));
    const single = (row: number, column: number) =>
      tf.tidy(() =>
        tf.zeros([2, 3, h, k]).add(
          tf
            .oneHot([row * k + column], h * k)
            .reshape([1, 1, h, k])
            .mul(tf.tensor([1, 0]).reshape([2, 1, 1, 1])),
        ),
      );
    const dc = single(0, 0);
    const flat = pixels(dc);
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < h * w; p++) assert.ok(Math.abs(flat[p * 3 + c] - flat[c]) < 1e-3, 'a DC coefficient makes a flat image');
    const wave = single(0, 1);
    const cosine = pixels(wave);
    const logit = (v: number) => Math.log(v / (255 - v));
    // Constant down each column; along a row, symmetric about x = 0 and opposite at x = w/2 (a cosine).
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.ok(Math.abs(cosine[(y * w + x) * 3] - cosine[x * 3]) < 1e-3);
    for (let x = 1; x < w; x++) assert.ok(Math.abs(cosine[x * 3] - cosine[(w - x) * 3]) < 1e-3);
    assert.ok(Math.abs(logit(cosine[0]) + logit(cosine[(w / 2) * 3])) < 1e-3);
    tf.dispose([zero, dc, wave]);
    image.dispose();
  });

  it('memory stays flat over hundreds of steps, and a cancel stops within one step without leaks', async () => {
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    const model = await engine.loadModel(await saveModel(twoConvGapModel(4), tempDir(), { preprocess: 'zero-one' }));
    const start = tf.tidy(() => tf.randomUniform([1, 6, 6, 3], 0, 255, 'float32', 3)) as tf.Tensor4D;
    const objective = (x: tf.Tensor4D) => tf.mean(model.adapter.layerOutput(tf.div(x, 255) as tf.Tensor4D, 'conv_b')) as tf.Scalar;
    const counts = new Map<number, number>();
    const regularisers = { ...NO_REGULARISERS, l2: 1e-3, blurEvery: 3, jitter: 1, clipNorm: 0.1, clipContribution: 0.1, tv: 0.1 };
    const before = tf.memory().numTensors;
    const { image } = ascend(start, objective, {
      steps: 500,
      learningRate: 2,
      regularisers,
      seed: 1,
      checkCancelled: () => undefined,
      onStep: (step) => (step === 10 || step === 500) && counts.set(step, tf.memory().numTensors),
    });
    assert.equal(counts.get(10), counts.get(500), 'the same number of tensors at step 10 and step 500');
    image.dispose();
    assert.equal(tf.memory().numTensors, before);

    let cancelAt = -1;
    let checks = 0;
    let stepsAfterCancel = 0;
    assert.throws(
      () =>
        visualize(
          model,
          { kind: 'maximize', layer: 'conv_b', filter: 1, steps: 100 },
          () => {
            checks++;
            if (cancelAt >= 0) {
              stepsAfterCancel = checks - cancelAt;
              throw new CancelledError();
            }
          },
          () => (cancelAt = checks),
        ),
      CancelledError,
    );
    assert.equal(stepsAfterCancel, 1, 'the next step checks and stops');
    assert.equal(tf.memory().numTensors, before);

    // Previews along the way leave the run intact, in pixel space and in Fourier space.
    for (const parameterisation of ['pixels', 'fourier'] as const) {
      const previews: RgbaImage[] = [];
      const result = visualize(
        model,
        { kind: 'maximize', layer: 'conv_b', filter: 1, steps: 40, parameterisation },
        () => undefined,
        (image) => previews.push(image),
      );
      assert.equal(result.history.length, 40, `${parameterisation}: every step ran`);
      assert.ok(previews.length >= 10 && previews.every((p) => p.width === 6 && p.data.length === 6 * 6 * 4));
      assert.equal(tf.memory().numTensors, before, `${parameterisation}: previews leak nothing`);
    }
    start.dispose();
    engine.dispose();
  });
});

describe('Look inside on a graph model whose ops have no gradient', () => {
  it('names the op when an optimisation needs its gradient, still maximises filters before it, and leaks nothing', async () => {
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    const model = await engine.loadModel(await writeTinyGraphModel(tempDir()));
    const image = noiseImage(8, 8, 4);
    // The class score reads through the StridedSlice; the layer before it does not.
    const request = { kind: 'classimage' as const, layer: null, filter: null, classIndex: 1, steps: 5, seed: 0, fourier: false };
    await assert.rejects(engine.inspect(model, image, request), /uses the op StridedSlice/); // warm-up
    const start = tf.memory().numTensors;
    await assert.rejects(engine.inspect(model, image, request), /uses the op StridedSlice, which has no gradient/);
    assert.equal(tf.memory().numTensors, start);
    const maps = await engine.inspect(model, image, { ...request, kind: 'featuremaps', layer: 'conv/Relu' });
    assert.match(maps.caption, /conv\/Relu: all 4 channels/);
    const maximised = await engine.inspect(model, image, { ...request, kind: 'maximize', layer: 'conv/Relu', filter: 1 });
    assert.match(maximised.caption, /^Maximises conv\/Relu filter 1: objective .* in 5 steps/);
    engine.dispose();
  });
});

describe('visualisations on the bundled model', function () {
  this.timeout(120_000);
  let engine: Engine;
  let model: LoadedModel;
  let bag: RgbaImage;
  before(async () => {
    engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    model = await engine.loadModel(bundledModelPath());
    bag = await readImageFile(path.resolve(__dirname, '../../models/samples/bag.png'), DEFAULT_IMAGE_LIMITS);
  });
  after(() => engine.dispose());

  it('activation maximisation from noise ends ≥ 5× where it started; blur leaves less high-frequency energy', () => {
    const plain = { l2: 0, blurEvery: 0, jitter: 0 };
    const sharp = visualize(model, { kind: 'maximize', layer: 'block3_relu2', filter: 3, steps: 120, regularisers: plain, seed: 5 });
    const start = sharp.history[0];
    const end = sharp.history[sharp.history.length - 1];
    assert.ok(end >= 5 * start, `activation ${start} → ${end}`);
    const smooth = visualize(model, {
      kind: 'maximize',
      layer: 'block3_relu2',
      filter: 3,
      steps: 120,
      regularisers: { ...plain, blurEvery: 2, blurSigma: 1 },
      seed: 5,
    });
    const [hfSharp, hfSmooth] = [highFrequencyEnergy(sharp.image), highFrequencyEnergy(smooth.image)];
    assert.ok(hfSmooth < hfSharp, `high-frequency energy with blur ${hfSmooth} vs without ${hfSharp}`);
  });

  it('the Fourier parameterisation raises a filter ≥ 5× from its start too, leaking nothing', () => {
    const start = tf.memory().numTensors;
    const result = visualize(model, {
      kind: 'maximize',
      layer: 'block3_relu2',
      filter: 3,
      steps: 120,
      seed: 5,
      parameterisation: 'fourier',
      regularisers: { blurEvery: 4 },
    });
    const [first, last] = [result.history[0], result.history[result.history.length - 1]];
    assert.ok(last >= 5 * Math.max(first, 0.01), `activation ${first} → ${last}`);
    assert.match(result.notes.join(' '), /only jitter and total variation apply/);
    assert.equal(tf.memory().numTensors, start);
    assert.throws(
      () => visualize(model, { kind: 'dream', layer: 'block3_relu2', image: bag, parameterisation: 'fourier' }),
      /grows images from noise/,
    );
  });

  it('class-image generation raises the class probability above 0.9', () => {
    const result = visualize(model, { kind: 'classimage', classTarget: 'Sneaker', steps: 150, seed: 2 });
    const probability = tf.tidy(() => {
      const input = scalerFor(3, model.summary.preprocessing.preset)(toModelPixels(result.image, model.summary.inputShape));
      return tf.softmax(model.adapter.scores(input)).dataSync()[7];
    });
    assert.equal(result.classIndex, 7);
    assert.ok(probability > 0.9, `p(Sneaker) = ${probability}`);
  });

  it('inversion at an early layer reconstructs the image closer than at a late layer; results are seeded', () => {
    const mse = (image: RgbaImage) =>
      tf.tidy(
        () =>
          tf
            .mean(tf.square(tf.sub(toModelPixels(image, model.summary.inputShape), toModelPixels(bag, model.summary.inputShape))))
            .dataSync()[0],
      );
    const early = visualize(model, { kind: 'invert', layer: 'block1_relu1', image: bag, steps: 150, seed: 1 });
    const late = visualize(model, { kind: 'invert', layer: 'block4_relu2', image: bag, steps: 150, seed: 1 });
    assert.ok(mse(early.image) < mse(late.image), `MSE early ${mse(early.image)} vs late ${mse(late.image)}`);
    const again = visualize(model, { kind: 'invert', layer: 'block1_relu1', image: bag, steps: 150, seed: 1 });
    assert.deepEqual(Array.from(again.image.data), Array.from(early.image.data), 'same seed, same image');
  });

  it('deep dream raises the layer energy over its octaves and keeps the image size', () => {
    const start = tf.memory().numTensors;
    const result = visualize(model, { kind: 'dream', layer: 'block3_relu2', image: bag, steps: 10, octaves: 2 });
    assert.equal(result.history.length, 20);
    assert.ok(result.history[9] > result.history[0] && result.history[19] > result.history[10]);
    assert.deepEqual([result.image.width, result.image.height], [64, 64]);
    assert.equal(tf.memory().numTensors, start);
    assert.throws(() => visualize(model, { kind: 'dream', layer: 'block3_relu2' }), /needs an image/);
    assert.throws(() => visualize(model, { kind: 'maximize', layer: 'block3_relu2', filter: 64 }), /64 filters \(0 to 63\)/);
  });
});
