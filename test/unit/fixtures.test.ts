/** Acceptance on real pretrained ImageNet models and photos from ../shared/fixtures. */
import { strict as assert } from 'node:assert';
import { Engine } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { mapOver } from '../../src/engine/render';
import { tf } from '../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../src/engine/types';
import { fixture, requireFixtures } from './helpers/fixtures';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

/** Snake pixels: its red and black bands, grown by a few pixels to take in the pale bands between them. */
function snakeMask(image: RgbaImage, grow = 6): Uint8Array {
  const { width: w, height: h, data } = image;
  const core = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const [r, g, b] = data.subarray(i * 4, i * 4 + 3);
    core[i] = (r > 120 && r > 1.5 * g) || Math.max(r, g, b) < 70 ? 1 : 0;
  }
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      if (!core[y * w + x]) continue;
      for (let dy = -grow; dy <= grow; dy++)
        for (let dx = -grow; dx <= grow; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w) mask[yy * w + xx] = 1;
        }
    }
  return mask;
}

describe('acceptance on the shared pretrained models', function () {
  let engine: Engine;
  let snake: RgbaImage;
  before(async function () {
    requireFixtures(this);
    engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    snake = await readImageFile(fixture('images/pytorch-cnn-visualizations/snake.png'), DEFAULT_IMAGE_LIMITS);
  });
  after(() => engine?.dispose());

  it('MobileNet v1 0.25: top-1 king snake, Grad-CAM mass on the snake', async () => {
    const model = await engine.loadModel(fixture('models/mobilenet_v1_0.25_224_layers'));
    assert.equal(model.summary.defaultLayer, 'conv_pw_13_relu');
    const start = tf.memory().numTensors;
    const result = await engine.explain(model, snake, { technique: 'gradcam' });
    assert.equal(result.predictions[0].index, 56);
    assert.equal(result.target.label, 'king snake, kingsnake');
    assert.ok(Math.abs(result.predictions[0].score - 0.9033) < 1e-3, `p = ${result.predictions[0].score}`);

    const mask = snakeMask(snake);
    let inside = 0;
    let outside = 0;
    let insideArea = 0;
    const map = mapOver(result.heatmap, result.region, snake.width, snake.height);
    map.data.forEach((v, i) => {
      if (mask[i]) ((inside += v), insideArea++);
      else outside += v;
    });
    const meanIn = inside / insideArea;
    const meanOut = outside / (mask.length - insideArea);
    assert.ok(meanIn > 1.25 * meanOut, `mean map on the snake ${meanIn.toFixed(3)} vs off it ${meanOut.toFixed(3)}`);
    // The map is returned at the layer's resolution, laid over the whole photo (stretch resize).
    assert.equal(result.heatmap.width, 7);
    assert.deepEqual(result.region, { x: 0, y: 0, width: 1, height: 1 });
    assert.equal(result.rawMap.width, 7);
    await engine.explain(model, snake, { technique: 'cam' });
    assert.ok(tf.memory().numTensors - start <= 2 * 27, 'only the lazily folded batch-norm parameters stay');
  });

  it('MobileNet v1 0.25: every gradient technique runs on wasm and guided backprop lands on the snake', async () => {
    const model = await engine.loadModel(fixture('models/mobilenet_v1_0.25_224_layers'));
    const mask = snakeMask(snake);
    for (const technique of ['saliency', 'guided-backprop', 'deconvnet', 'grad-x-image', 'guided-gradcam']) {
      const result = await engine.explain(model, snake, { technique });
      assert.equal(result.backend, 'wasm', `${technique} stays on wasm`);
      assert.equal(result.rawMap.width, 224);
      if (technique === 'guided-backprop' || technique === 'guided-gradcam') {
        let inside = 0;
        let total = 0;
        result.heatmap.data.forEach((v, i) => ((total += v), mask[i] && (inside += v)));
        const area = mask.reduce((a: number, b) => a + b, 0) / mask.length;
        assert.ok(
          inside / total > 1.3 * area,
          `${technique}: ${(inside / total).toFixed(2)} of the mass on ${area.toFixed(2)} of the area`,
        );
      }
    }
  });

  it('MobileNet v1 0.75: the verified top-5, and CAM agrees with Grad-CAM', async () => {
    const model = await engine.loadModel(fixture('models/mobilenet_v1_0.75_224_layers'));
    const gradCam = await engine.explain(model, snake, { classTarget: 'king snake' });
    assert.deepEqual(
      gradCam.predictions.map((p) => p.index),
      [60, 56, 65, 53, 38],
    );
    assert.equal(gradCam.target.index, 56);
    const cam = await engine.explain(model, snake, { technique: 'cam', classTarget: 56 });
    const maxDiff = Math.max(...Array.from(cam.heatmap.data, (v, i) => Math.abs(v - gradCam.heatmap.data[i])));
    assert.ok(maxDiff < 1e-3, `CAM and Grad-CAM differ by ${maxDiff}`);
  });

  it('the TF-Hub graph model: top-1 king snake (background class skipped in labels), Grad-CAM runs', async () => {
    const model = await engine.loadModel(fixture('models/mobilenet_v1_0.25_224_graph_tfhub'), {
      preprocess: 'zero-one',
      labelsPath: fixture('labels/imagenet_classes.json'),
    });
    assert.equal(model.summary.format, 'graph');
    assert.equal(model.summary.numClasses, 1001);
    assert.match(model.summary.defaultLayer ?? '', /Conv2d_13_pointwise\/Relu6$/);
    const start = tf.memory().numTensors;
    const result = await engine.explain(model, snake, {});
    assert.equal(result.target.label, 'king snake, kingsnake');
    assert.ok(Math.abs(result.target.score - 0.9431) < 1e-3);
    assert.equal(result.rawMap.width, 7);
    assert.ok(result.heatmap.data.some((v) => v > 0.99));
    assert.equal(tf.memory().numTensors, start);
    // Input gradients go through the graph's own ops; ReLU backward rules need a layers model.
    const saliency = await engine.explain(model, snake, { technique: 'saliency' });
    assert.equal(saliency.rawMap.width, 224);
    await assert.rejects(engine.explain(model, snake, { technique: 'guided-backprop' }), /layers models only/);
    assert.equal(tf.memory().numTensors, start);
  });

  it('Darknet tiny (LeakyReLU, logits, Darknet label order): top-1 king snake', async () => {
    const model = await engine.loadModel(fixture('models/darknet_tiny_layers'), {
      preprocess: 'zero-one',
      labelsPath: fixture('labels/imagenet_classes_darknet_order.json'),
    });
    const result = await engine.explain(model, snake, {});
    assert.equal(result.target.index, 480);
    assert.ok(Math.abs(result.target.score - 0.8288) < 1e-3);
    // Its head pools one conv channel per class, so CAM is that channel, and Grad-CAM equals it.
    const cam = await engine.explain(model, snake, { technique: 'cam' });
    assert.equal(cam.layer, 'conv2d_16');
    assert.equal(result.layer, 'conv2d_16');
    const maxDiff = Math.max(...Array.from(cam.heatmap.data, (v, i) => Math.abs(v - result.heatmap.data[i])));
    assert.ok(maxDiff < 1e-3, `CAM and Grad-CAM differ by ${maxDiff}`);
  });
});
