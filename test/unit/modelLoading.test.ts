import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { fitLabels, parseLabels } from '../../src/files/modelConfig';
import { readModelFiles } from '../../src/files/modelFiles';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { saveModel, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME, loadModel } from './helpers/suiteAcceleration';

async function savedTiny(sidecar?: object): Promise<{ dir: string; json: string }> {
  const dir = tempDir();
  const model = twoConvGapModel(1);
  const json = await saveModel(model, dir, sidecar);
  model.dispose();
  return { dir, json };
}

async function editJson(file: string, edit: (json: Record<string, any>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8'));
  edit(json);
  await fs.writeFile(file, JSON.stringify(json));
}

describe('model loading and validation', () => {
  before(async () => {
    await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
  });

  it('loads a valid layers model from its folder or its model.json, with its layer list', async () => {
    const { dir, json } = await savedTiny({ preprocess: 'zero-one', labels: ['a', 'b', 'c', 'd'] });
    for (const where of [dir, json]) {
      const loaded = await loadModel(where);
      assert.equal(loaded.summary.format, 'layers');
      assert.deepEqual(loaded.summary.inputShape, [6, 6, 3]);
      assert.equal(loaded.summary.numClasses, 4);
      assert.deepEqual(loaded.labels, ['a', 'b', 'c', 'd']);
      assert.equal(loaded.summary.preprocessing.preset, 'zero-one');
      assert.deepEqual(
        loaded.summary.layers.map((l) => [l.name, l.kind, l.outputShape.join('x'), l.params, l.camCapable]),
        [
          ['conv_a', 'Conv2D', '6x6x4', 3 * 3 * 3 * 4 + 4, true],
          ['conv_b', 'Conv2D', '6x6x3', 4 * 3 + 3, true],
          ['gap', 'GlobalAveragePooling2D', '3', 0, false],
          ['logits', 'Dense', '4', 3 * 4 + 4, false],
        ],
      );
      assert.equal(loaded.summary.defaultLayer, 'conv_b', 'the last CAM-capable layer before the head');
      loaded.adapter.dispose();
    }
  });

  const broken: [string, (dir: string, json: string) => Promise<void>, RegExp][] = [
    ['a missing model.json', async (dir) => fs.rm(path.join(dir, 'model.json')), /not found/],
    ['model.json that is not JSON', async (_dir, json) => fs.writeFile(json, '{"format": "layers-model", '), /not valid JSON/],
    ['a weights-only manifest', (_d, json) => editJson(json, (j) => (j.modelTopology = null)), /no modelTopology/],
    ['no weightsManifest', (_d, json) => editJson(json, (j) => delete j.weightsManifest), /no weightsManifest/],
    [
      'a shard path leaving the folder',
      (_d, json) => editJson(json, (j) => (j.weightsManifest[0].paths = ['../secret.bin'])),
      /outside the model's folder/,
    ],
    ['an absolute shard path', (_d, json) => editJson(json, (j) => (j.weightsManifest[0].paths = ['/etc/passwd'])), /relative path inside/],
    [
      'a URL shard path',
      (_d, json) => editJson(json, (j) => (j.weightsManifest[0].paths = ['https://example.com/w.bin'])),
      /relative path inside/,
    ],
    ['a missing shard', async (dir) => fs.rm(path.join(dir, 'group1-shard1of1.bin')), /"group1-shard1of1.bin" is missing/],
    [
      'a truncated shard',
      async (dir) => {
        const file = path.join(dir, 'group1-shard1of1.bin');
        const bytes = await fs.readFile(file);
        await fs.writeFile(file, bytes.subarray(0, bytes.length - 10));
      },
      /weight "logits\/bias" \[4\] is cut short/,
    ],
    ['extra bytes in a shard', async (dir) => fs.appendFile(path.join(dir, 'group1-shard1of1.bin'), Buffer.alloc(8)), /do not match/],
    ['an unknown dtype', (_d, json) => editJson(json, (j) => (j.weightsManifest[0].weights[0].dtype = 'complex64')), /dtype "complex64"/],
    [
      'an unknown layer class',
      (_d, json) => editJson(json, (j) => (j.modelTopology.config.layers[1].class_name = 'Lambda')),
      /has a layer CNN Lens cannot import: "conv_b" \(Lambda: Python code, never run\)/,
    ],
    [
      'a sidecar that is not JSON',
      async (dir) => fs.writeFile(path.join(dir, 'cnnlens.json'), 'preprocess: raw'),
      /cnnlens.json is not valid JSON/,
    ],
    [
      'a sidecar with an unknown preset',
      async (dir) => fs.writeFile(path.join(dir, 'cnnlens.json'), '{"preprocess":"magic"}'),
      /"preprocess" must be one of/,
    ],
    [
      'a sidecar labels file outside the folder',
      async (dir) => fs.writeFile(path.join(dir, 'cnnlens.json'), '{"labels":"../labels.txt"}'),
      /outside the model's folder/,
    ],
  ];

  for (const [what, breakIt, message] of broken) {
    it(`refuses ${what} with a clear message, leaking nothing`, async () => {
      const { dir, json } = await savedTiny();
      await breakIt(dir, json);
      const tensors = tf.memory().numTensors;
      const variables = Object.keys(tf.engine().registeredVariables).length;
      await assert.rejects(loadModel(dir), message);
      assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
      assert.equal(Object.keys(tf.engine().registeredVariables).length, variables, 'variables leaked');
    });
  }

  it('reads the manifest without trusting it: shards are concatenated in manifest order', async () => {
    const { json } = await savedTiny();
    const files = await readModelFiles(json);
    const expected = files.artifacts.weightSpecs!.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
    assert.equal((files.artifacts.weightData as ArrayBuffer).byteLength, expected);
  });

  it('a model ending in a Softmax layer scores logits and shows the softmax of them as probabilities', async () => {
    const dir = tempDir();
    const model = tfl.sequential();
    model.add(tfl.layers.conv2d({ inputShape: [4, 4, 3], filters: 2, kernelSize: 3, padding: 'same' }));
    model.add(tfl.layers.flatten());
    model.add(tfl.layers.dense({ units: 3 }));
    model.add(tfl.layers.softmax());
    await saveModel(model, dir, { preprocess: 'zero-one' });
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    const loaded = await engine.loadModel(dir);
    assert.equal(loaded.adapter.hasLogits, true, "the scores are the Dense layer's logits");
    const image = { width: 4, height: 4, data: new Uint8Array(64).map((_, i) => (i * 37) % 256) };
    const explanation = await engine.explain(loaded, image, { technique: 'saliency' });
    const expected = tf
      .tidy(
        () =>
          model.predict(
            tf.tensor4d(
              Array.from(image.data)
                .filter((_, i) => i % 4 !== 3)
                .map((v) => v / 255),
              [1, 4, 4, 3],
            ),
          ) as tf.Tensor,
      )
      .dataSync();
    for (const p of explanation.predictions)
      assert.ok(Math.abs(p.score - expected[p.index]) < 1e-5, `class ${p.index}: ${p.score} vs the model's ${expected[p.index]}`);
    engine.dispose();
    model.dispose();
  });

  it('refuses a model without a spatial layer for Grad-CAM, but still lists it', async () => {
    const dir = tempDir();
    const model = tfl.sequential();
    model.add(tfl.layers.flatten({ inputShape: [4, 4, 3] }));
    model.add(tfl.layers.dense({ units: 2 }));
    await saveModel(model, dir, { preprocess: 'zero-one' });
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    const loaded = await engine.loadModel(dir);
    assert.equal(loaded.summary.defaultLayer, null);
    const image = { width: 4, height: 4, data: new Uint8Array(64).fill(200) };
    await assert.rejects(engine.explain(loaded, image, {}), /no convolutional layer with a spatial output/);
    engine.dispose();
  });

  it('parses labels from JSON arrays, JSON objects and text, and fits them to the class count', () => {
    assert.deepEqual(parseLabels('["a","b"]', 'f'), ['a', 'b']);
    assert.deepEqual(parseLabels('{"1":"b","0":"a"}', 'f'), ['a', 'b']);
    assert.deepEqual(parseLabels('{"labels":["x"]}', 'f'), ['x']);
    assert.deepEqual(parseLabels('cat\r\ndog\n\n', 'f'), ['cat', 'dog']);
    assert.deepEqual(fitLabels(['a', 'b'], 3), ['(background)', 'a', 'b'], 'one short = background class at 0');
    assert.deepEqual(fitLabels(null, 2), ['class 0', 'class 1']);
  });
});
