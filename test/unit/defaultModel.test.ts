/**
 * The default model CNN Lens ships (models/darknet-tiny): found, set up with zero configuration, packaged, and right on
 * a dog photo; its labels (Darknet's names with ImageNet's synonyms, found by any of them); and the line the panel's
 * header shows about which model explains and why.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundledModelPath, defaultModelPath } from '../../src/engine/bundledModel';
import { Engine, resolveClass } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { resolveModelSetting } from '../../src/host/modelSetting';
import { DEFAULT_MODEL_TITLE, describeModelSource, modelChoice } from '../../src/host/modelSource';
import { lookUpClass, matchClasses } from '../../src/shared/classMatch';
import { fixture, FIXTURES, requireFixtures } from './helpers/fixtures';
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
    assert.deepEqual(
      [labels[0], labels[139], labels[480]],
      ['kit fox, Vulpes macrotis', 'bull mastiff', 'king snake, kingsnake'],
      'Darknet class order, with the synonyms',
    );
    for (const file of ['LICENSE', 'LICENSE.Apache-2.0', 'README.md'])
      assert.ok(existsSync(path.join(dir, file)), `${file} ships with the model`);
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

      // ImageNet's dog breeds are classes 151–268 in the standard order; the default model's labels are the same.
      const standard = JSON.parse(readFileSync(fixture('labels', 'imagenet_classes.json'), 'utf8')) as string[];
      const dogs = new Set(standard.slice(151, 269));
      assert.equal(model.labels.filter((label) => dogs.has(label)).length, 118, 'every dog breed is among the labels');

      // The fixtures README: "Mastiff (243) (the picture shows a bulldog and a striped cat)".
      const photo = await readImageFile(fixture('images', 'pytorch-cnn-visualizations', 'cat_dog.png'), DEFAULT_IMAGE_LIMITS);
      const result = await engine.explain(model, photo, {});
      assert.ok(dogs.has(result.target.label), `top-1 "${result.target.label}" is a dog breed`);
      assert.equal(result.target.label, 'bull mastiff');
      assert.ok(Math.abs(result.target.score - 0.2872) < 1e-3, `score ${result.target.score}`);
      assert.deepEqual(
        result.predictions.map((p) => p.label),
        ['bull mastiff', 'tiger cat', 'boxer', 'tabby, tabby cat', 'standard schnauzer'],
      );
      // The cat by a name Darknet's own label lacks (as the CLI's --class and the panel's search take it).
      const cat = await engine.explain(model, photo, { classTarget: 'tabby cat' });
      assert.deepEqual([cat.target.index, cat.target.label], [173, 'tabby, tabby cat']);
      await assert.rejects(engine.explain(model, photo, { classTarget: 'pikup' }), /Did you mean: "pickup, pickup truck"\?/);
      assert.equal(result.layer, 'conv2d_16');
      assert.deepEqual([result.heatmap.width, result.heatmap.height], [14, 14]);
      assert.ok(result.heatmap.data.some((v) => v > 0.99));

      const snake = await readImageFile(fixture('images', 'pytorch-cnn-visualizations', 'snake.png'), DEFAULT_IMAGE_LIMITS);
      const snakeResult = await engine.explain(model, snake, {});
      assert.equal(snakeResult.target.label, 'king snake, kingsnake');
      assert.ok(Math.abs(snakeResult.target.score - 0.8288) < 1e-3);
    });
  });
});

describe("the default model's labels: Darknet's names with ImageNet's synonyms", () => {
  const labels = JSON.parse(readFileSync(path.join(ROOT, 'models', 'darknet-tiny', 'labels.json'), 'utf8')) as string[];

  it('finds a class by any of its names, as on MobileNet: pickup truck, tabby cat, husky', () => {
    assert.deepEqual(lookUpClass('pickup truck', labels), { ok: true, index: 280 });
    assert.deepEqual(lookUpClass('pickup', labels), { ok: true, index: 280 });
    assert.deepEqual(lookUpClass('tabby cat', labels), { ok: true, index: 173 });
    assert.deepEqual(lookUpClass('Tabby', labels), { ok: true, index: 173 });
    // WordNet's husky is the Eskimo dog; the Siberian husky is listed after it.
    assert.deepEqual(lookUpClass('husky', labels), { ok: true, index: 148 });
    assert.deepEqual(
      matchClasses('husky', labels).map((m) => m.label),
      ['Eskimo dog, husky', 'Siberian husky'],
    );
    assert.deepEqual(lookUpClass('Alaskan malamute', labels), { ok: true, index: 14 });
    assert.equal(resolveClass('red panda', labels, []), 6);
    assert.equal(labels[6], 'lesser panda, red panda, panda, bear cat, cat bear, Ailurus fulgens');
  });

  it('suggests the names spelled alike when nothing matches ("pikup")', () => {
    const out = lookUpClass('pikup', labels);
    assert.ok(!out.ok);
    assert.match(out.error, /^No class is labelled "pikup"\. Did you mean: "pickup, pickup truck"/);
    assert.equal(out.suggestions[0].index, 280);
    assert.throws(() => resolveClass('pikup trucks', labels, []), /Did you mean: "pickup, pickup truck"/);
  });

  it("Darknet's name comes first (what is shown), and the names ambiguous between two classes go where Darknet's WordNet ids say", () => {
    assert.equal(labels[428], 'crane');
    assert.equal(labels[544], 'crane');
    assert.equal(labels[781], 'maillot');
    assert.equal(labels[976], 'maillot, tank suit');
    assert.equal(labels[49], 'Cardigan, Cardigan Welsh corgi');
    assert.equal(labels[646], 'jellyfish, jelly fish');
  });

  describe('against the source lists (fixtures)', function () {
    before(function () {
      requireFixtures(this);
    });

    it("is each Darknet name followed by its standard label's other names: a bijection onto the 1000 standard labels", () => {
      const darknet = JSON.parse(readFileSync(fixture('labels', 'imagenet_classes_darknet_order.json'), 'utf8')) as string[];
      const standard = JSON.parse(readFileSync(fixture('labels', 'imagenet_classes.json'), 'utf8')) as string[];
      const names = (label: string) => label.split(',').map((name) => name.trim());
      const unused = new Map<string, number[]>();
      standard.forEach((label, j) => unused.set(label, [...(unused.get(label) ?? []), j]));
      const mapping = labels.map((label, i) => {
        const [first, ...rest] = names(label);
        assert.equal(first, darknet[i], `class ${i} is shown by Darknet's name`);
        // The standard label: this one, or (Darknet's name not among its names) the rest.
        const same = unused.get(label)?.length ? label : rest.join(', ');
        const j = unused.get(same)?.shift();
        assert.ok(j !== undefined, `class ${i} "${label}" is a standard label not already taken`);
        return j;
      });
      assert.deepEqual(
        [...mapping].sort((a, b) => a - b),
        standard.map((_, j) => j),
        'every standard class exactly once',
      );
      assert.deepEqual(
        [mapping[173], mapping[280], mapping[139], mapping[480]],
        [281, 717, 243, 56],
        'tabby, pickup, bull mastiff, king snake',
      );
    });

    it('is what scripts/darknet-labels.mjs derives from them', () => {
      const run = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'darknet-labels.mjs'), '--check', '--fixtures', FIXTURES], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stdout + run.stderr);
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
