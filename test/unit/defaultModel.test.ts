/**
 * The default model CNN Lens ships (models/darknet-tiny): found, set up with zero configuration, packaged, and right on
 * a dog photo; and the line the panel's header shows about which model explains and why.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundledModelPath, defaultModelPath } from '../../src/engine/bundledModel';
import { Engine } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { resolveModelSetting } from '../../src/host/modelSetting';
import { DEFAULT_MODEL_TITLE, describeModelSource, modelChoice } from '../../src/host/modelSource';
import { fixture, requireFixtures } from './helpers/fixtures';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const ROOT = path.resolve(__dirname, '../..');

describe('the default model (models/darknet-tiny)', () => {
  it('defaultModelPath() is the shipped Darknet tiny; bundledModelPath() stays the Fashion-MNIST example', () => {
    assert.equal(defaultModelPath(), path.join(ROOT, 'models', 'darknet-tiny', 'model.json'));
    assert.equal(bundledModelPath(), path.join(ROOT, 'models', 'fashion-cam', 'model.json'));
    const dir = path.dirname(defaultModelPath());
    const config = JSON.parse(readFileSync(path.join(dir, 'cnnlens.json'), 'utf8'));
    assert.deepEqual(config, { name: DEFAULT_MODEL_TITLE, preprocess: 'zero-one', labels: 'labels.json' });
    const labels = JSON.parse(readFileSync(path.join(dir, 'labels.json'), 'utf8')) as string[];
    assert.equal(labels.length, 1000);
    assert.deepEqual([labels[0], labels[139], labels[480]], ['kit fox', 'bull mastiff', 'king snake'], 'Darknet class order');
    for (const file of ['LICENSE', 'README.md']) assert.ok(existsSync(path.join(dir, file)), `${file} ships with the model`);
  });

  it('.vscodeignore ships the default model (only models/training is left out)', () => {
    const ignored = readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#') && !line.startsWith('!'));
    assert.deepEqual(
      ignored.filter((line) => line.startsWith('models') || line.startsWith('**/*.json') || line.startsWith('**/group')),
      ['models/training/**'],
    );
  });

  describe('on the fixture photos', function () {
    let engine: Engine;
    before(async function () {
      requireFixtures(this);
      engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    });
    after(() => engine?.dispose());

    it('loads with no configuration and calls the bulldog photo a dog breed (bull mastiff), with a 14×14 Grad-CAM', async () => {
      const model = await engine.loadModel(defaultModelPath());
      assert.equal(model.summary.name, DEFAULT_MODEL_TITLE);
      assert.deepEqual(model.summary.inputShape, [224, 224, 3]);
      assert.deepEqual(model.summary.preprocessing, { preset: 'zero-one', source: 'cnnlens.json' });
      assert.equal(model.summary.hasLogits, true);
      assert.equal(model.labels.length, 1000);

      // ImageNet's dog breeds are classes 151–268 in the standard order; Darknet's labels are their first names.
      const standard = JSON.parse(readFileSync(fixture('labels', 'imagenet_classes.json'), 'utf8')) as string[];
      const dogs = new Set(standard.slice(151, 269).map((label) => label.split(',')[0].trim()));
      assert.equal(model.labels.filter((label) => dogs.has(label)).length, 118, 'every dog breed is among the labels');

      // The fixtures README: "Mastiff (243) (the picture shows a bulldog and a striped cat)".
      const photo = await readImageFile(fixture('images', 'pytorch-cnn-visualizations', 'cat_dog.png'), DEFAULT_IMAGE_LIMITS);
      const result = await engine.explain(model, photo, {});
      assert.ok(dogs.has(result.target.label), `top-1 "${result.target.label}" is a dog breed`);
      assert.equal(result.target.label, 'bull mastiff');
      assert.ok(Math.abs(result.target.score - 0.2872) < 1e-3, `score ${result.target.score}`);
      assert.deepEqual(
        result.predictions.map((p) => p.label),
        ['bull mastiff', 'tiger cat', 'boxer', 'tabby', 'standard schnauzer'],
      );
      assert.equal(result.layer, 'conv2d_16');
      assert.deepEqual([result.heatmap.width, result.heatmap.height], [14, 14]);
      assert.ok(result.heatmap.data.some((v) => v > 0.99));

      const snake = await readImageFile(fixture('images', 'pytorch-cnn-visualizations', 'snake.png'), DEFAULT_IMAGE_LIMITS);
      const snakeResult = await engine.explain(model, snake, {});
      assert.equal(snakeResult.target.label, 'king snake');
      assert.ok(Math.abs(snakeResult.target.score - 0.8288) < 1e-3);
    });
  });
});

describe("the panel header's model source", () => {
  const places = { workspaceRoot: '/ws', zooStorage: '/zoo' };
  const choice = (raw: string, restricted = false) => modelChoice(resolveModelSetting(raw, places), raw, restricted);

  it('default: no cnnLens.model set', () => {
    assert.deepEqual(choice('  '), { origin: 'default', setting: '', restricted: false });
    assert.deepEqual(describeModelSource(choice(''), 'cnnlens.json'), {
      origin: 'default',
      configured: true,
      text: 'default model, shipped with CNN Lens: cnnLens.model is not set',
    });
    assert.match(describeModelSource(choice('', true), 'cnnlens.json').text, /Restricted Mode ignores the workspace's cnnLens\.model/);
  });

  it('the cnnLens.model setting, with or without a cnnlens.json beside the model', () => {
    assert.deepEqual(describeModelSource(choice('my-models/net/model.json'), 'cnnlens.json'), {
      origin: 'setting',
      configured: true,
      text: 'your model, from the cnnLens.model setting (my-models/net/model.json) · input and labels from the cnnlens.json beside it',
    });
    const bare = describeModelSource(choice('/abs/net.onnx'), 'settings');
    assert.equal(bare.configured, false);
    assert.equal(bare.text, 'your model, from the cnnLens.model setting (/abs/net.onnx) · no cnnlens.json beside it');
  });

  it('downloaded: a zoo: id', () => {
    const source = describeModelSource(choice('zoo:mobilenet_v2_1.0_224'), 'cnnlens.json');
    assert.equal(source.origin, 'downloaded');
    assert.match(source.text, /^downloaded model, from the cnnLens\.model setting \(zoo:mobilenet_v2_1\.0_224\)/);
  });
});
