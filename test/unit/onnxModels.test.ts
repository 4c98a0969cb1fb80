/**
 * Whole ONNX models (torchvision architectures and small CNNs with random weights) against onnxruntime-node
 * on the same input: max |difference| < 1e-4 × the range of the logits. Then the adapter's contract on
 * them: NHWC feature maps, split heads, CAM heads, gradients, the randomisation check, memory.
 */
import { strict as assert } from 'node:assert';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { Acceleration } from '../../src/engine/accel/ortRuntime';
import { Engine } from '../../src/engine/engine';
import { evaluate } from '../../src/engine/evaluate';
import { loadModel, type LoadedModel } from '../../src/engine/models/loadModel';
import { tf } from '../../src/engine/tfjs/tf';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { onnxTestModels, runOnnxRuntime, randomInput } from './helpers/onnxModels';
import { noiseImage } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

// CNN Lens's own executor is what these tests check against onnxruntime: the accelerated path (which is
// onnxruntime itself) is kept out; onnxAccel.test.ts compares the two.
const TFJS_ONLY = new Acceleration('off');

const MODELS = [
  'layoutnet',
  'gapnet',
  'mlp',
  'mobilenet_v2',
  'mobilenet_v2_bn',
  'resnet18',
  'squeezenet1_1',
  'mobilenet_v3_small',
  'shufflenet_v2_x0_5',
  'samepadnet',
];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('ONNX models against onnxruntime', function () {
  let paths: Record<string, string> = {};
  const loaded = new Map<string, LoadedModel>();

  before(async function () {
    this.timeout(900_000);
    const models = onnxTestModels(MODELS);
    if ('skip' in models) {
      console.log(`      skipped: ${models.skip}`);
      this.skip();
    }
    paths = models.paths;
    await selectBackend({ choice: 'wasm', log: () => undefined });
  });

  after(async () => {
    for (const model of loaded.values()) model.adapter.dispose();
    await selectBackend({ choice: 'cpu', log: () => undefined });
  });

  async function model(name: string): Promise<LoadedModel> {
    let m = loaded.get(name);
    if (!m) {
      m = await loadModel(paths[name], {}, {}, TFJS_ONLY);
      loaded.set(name, m);
    }
    return m;
  }

  for (const name of MODELS) {
    it(`${name}: logits within 1e-4 of the logit range of onnxruntime's (batch of 2, wasm)`, async () => {
      const { adapter, summary } = await model(name);
      assert.equal(summary.format, 'onnx');
      const [h, w, c] = adapter.inputShape;
      const { nhwc, nchw } = randomInput(2, h, w, c, name.length * 7919);
      const expected = await runOnnxRuntime(paths[name], nchw, [2, c, h, w]);
      const before = tf.memory().numTensors;
      const got = tf.tidy(() => adapter.scores(tf.tensor4d(nhwc, [2, h, w, c])).dataSync());
      assert.equal(tf.memory().numTensors, before, 'a forward pass leaves no tensor behind');
      // A trailing softmax is stepped over: compare logits with logits where the model ends in one.
      const endsInSoftmax = name === 'layoutnet';
      const reference = endsInSoftmax ? null : expected.data;
      const range = Math.max(...got) - Math.min(...got);
      if (reference) {
        const diff = maxAbsDiff(got, reference);
        console.log(
          `      ${name}: max |Δ| ${diff.toExponential(2)}, logit range ${range.toFixed(3)}, ratio ${(diff / range).toExponential(2)}`,
        );
        assert.ok(diff < 1e-4 * range, `max |Δ| ${diff} vs range ${range}`);
      } else {
        const probabilities = tf.tidy(() => tf.softmax(tf.tensor2d(got, [2, got.length / 2])).dataSync());
        const diff = maxAbsDiff(probabilities, expected.data);
        console.log(`      ${name}: softmax of the logits vs onnxruntime's probabilities: max |Δ| ${diff.toExponential(2)}`);
        assert.ok(diff < 1e-5, `max |Δ| ${diff}`);
      }
    });
  }

  it('layoutnet: its Softmax is stepped over for logits; its 3×2 flatten and non-square input keep PyTorch order', async () => {
    const { adapter, summary } = await model('layoutnet');
    assert.equal(adapter.hasLogits, true);
    assert.deepEqual(summary.inputShape, [24, 20, 3]);
    const conv = summary.layers.find((l) => l.name === '/conv1/Conv')!;
    assert.deepEqual(conv.outputShape, [24, 20, 8], 'NHWC [h, w, c] like the TF.js adapters');
    assert.equal(conv.hasKernel, true);
    assert.equal(summary.defaultLayer, '/avg/AveragePool');
  });

  it('feature maps are NHWC and equal onnxruntime-free NCHW maps transposed (the folded conv runs exact)', async () => {
    const { adapter } = await model('layoutnet');
    const [h, w, c] = adapter.inputShape;
    const { nhwc } = randomInput(1, h, w, c, 3);
    tf.tidy(() => {
      const x = tf.tensor4d(nhwc, [1, h, w, c]);
      const conv = adapter.layerOutput(x, '/conv1/Conv');
      const bn = adapter.layerOutput(x, '/bn1/BatchNormalization');
      assert.deepEqual(conv.shape, [1, 24, 20, 8]);
      // The BatchNormalization after conv1 is folded for speed; asking for the conv itself runs it unfolded.
      const weights = adapter.layerWeights('/conv1/Conv');
      assert.deepEqual(weights[0].shape, [3, 3, 3, 8], 'HWIO kernel first');
      const direct = tf.conv2d(x, weights[0] as tf.Tensor4D, 1, 'same').add(weights[1]);
      assert.ok(maxAbsDiff(conv.dataSync(), direct.dataSync()) < 1e-4);
      assert.ok(maxAbsDiff(conv.dataSync(), bn.dataSync()) > 1e-3, 'the normalised map differs from the raw one');
      // Before the rectifier: the ReLU's input is the BatchNormalization's output.
      const preRelu = adapter.layerOutput(x, '/Relu', null, true);
      assert.ok(maxAbsDiff(preRelu.dataSync(), bn.dataSync()) < 1e-5);
    });
  });

  it('split: the head re-run on the activations gives the scores, for a map inside a branch-free and a residual model', async () => {
    for (const [name, layer] of [
      ['layoutnet', '/Mul_2'],
      ['resnet18', '/layer3/layer3.1/relu_1/Relu'],
      ['mobilenet_v2', '/features/features.10/conv/conv.2/Conv'],
    ] as const) {
      const { adapter, summary } = await model(name);
      assert.ok(
        summary.layers.some((l) => l.name === layer),
        `${name} lists ${layer}`,
      );
      const [h, w, c] = adapter.inputShape;
      const { nhwc } = randomInput(1, h, w, c, 5);
      tf.tidy(() => {
        const x = tf.tensor4d(nhwc, [1, h, w, c]);
        const { activations, scores, head } = adapter.split(x, layer);
        assert.equal(activations.rank, 4);
        assert.ok(maxAbsDiff(head(activations).dataSync(), scores.dataSync()) < 1e-5);
        assert.ok(maxAbsDiff(scores.dataSync(), adapter.scores(x).dataSync()) < 1e-4);
        const g = tf.grad((a: tf.Tensor) =>
          head(a as Tensor4D)
            .slice([0, 0], [1, 1])
            .sum(),
        )(activations);
        assert.deepEqual(g.shape, activations.shape);
        assert.ok(g.abs().sum().dataSync()[0] > 0, 'the head is differentiable');
      });
    }
  });

  it('gapHead: GlobalAveragePool → Flatten → Gemm gives CAM weights that reproduce the logits', async () => {
    const { adapter } = await model('gapnet');
    const head = adapter.gapHead();
    assert.ok(head, 'gapnet has a CAM head');
    assert.equal(head.layer, '/Relu_1');
    const [h, w, c] = adapter.inputShape;
    tf.tidy(() => {
      const x = tf.tensor4d(randomInput(1, h, w, c, 9).nhwc, [1, h, w, c]);
      const pooled = adapter.layerOutput(x, head.layer).mean([1, 2]);
      const logits = pooled.matMul(head.weights).add(head.bias!);
      assert.ok(maxAbsDiff(logits.dataSync(), adapter.scores(x).dataSync()) < 1e-5);
    });
    assert.equal((await model('layoutnet')).adapter.gapHead(), null, 'a flatten of a 3×2 map is no CAM head');
    assert.ok((await model('resnet18')).adapter.gapHead(), 'resnet18 has one');
  });

  it('a model without convolutions loads, lists no mappable layer and has no default layer', async () => {
    const { summary } = await model('mlp');
    assert.equal(summary.defaultLayer, null);
    assert.ok(summary.layers.every((l) => !l.camCapable));
    assert.deepEqual(
      summary.layers.map((l) => l.kind),
      ['Flatten', 'Gemm', 'Relu', 'Gemm'],
    );
  });

  it('weightedLayers (output first) and withRandomWeights change the scores and restore them exactly', async () => {
    const { adapter } = await model('gapnet');
    assert.deepEqual(adapter.weightedLayers(), ['/fc/Gemm', '/conv2/Conv', '/conv1/Conv']);
    const [h, w, c] = adapter.inputShape;
    const x = tf.tensor4d(randomInput(1, h, w, c, 11).nhwc, [1, h, w, c]);
    const before = tf.memory().numTensors;
    const original = tf.tidy(() => adapter.scores(x).dataSync());
    const randomised = await adapter.withRandomWeights(['/conv2/Conv', '/conv1/Conv'], 7, async () =>
      tf.tidy(() => adapter.scores(x).dataSync()),
    );
    const restored = tf.tidy(() => adapter.scores(x).dataSync());
    assert.ok(maxAbsDiff(original, randomised) > 1e-3);
    assert.equal(maxAbsDiff(original, restored), 0);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind by the randomisation');
    x.dispose();
  });

  it('guided backprop rule reaches ONNX rectifiers (Relu, Clip as ReLU6)', async () => {
    for (const name of ['gapnet', 'mobilenet_v2']) {
      const { adapter } = await model(name);
      const [h, w, c] = adapter.inputShape;
      tf.tidy(() => {
        const x = tf.tensor4d(randomInput(1, h, w, c, 13).nhwc, [1, h, w, c]);
        const plain = tf.grad((v: tf.Tensor) =>
          adapter
            .scores(v as Tensor4D)
            .slice([0, 0], [1, 1])
            .sum(),
        )(x);
        const guided = tf.grad((v: tf.Tensor) =>
          adapter
            .scores(v as Tensor4D, 'guided')
            .slice([0, 0], [1, 1])
            .sum(),
        )(x);
        // Random deep nets have tiny input gradients (mobilenet_v2: ~1e-12): compare relative to their size.
        const scale = plain.abs().max().dataSync()[0];
        assert.ok(scale > 0);
        assert.ok(maxAbsDiff(plain.dataSync(), guided.dataSync()) > 1e-2 * scale, `${name}: the rule changes the gradient`);
      });
    }
  });

  it('the engine runs every technique, Look inside and the randomisation check on an ONNX model (wasm)', async () => {
    const engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    const m = await model('gapnet');
    const image = noiseImage(20, 20, 3);
    const before = tf.memory().numTensors;
    for (const { id, needsAttention } of engine.techniques()) {
      if (needsAttention) {
        await assert.rejects(engine.explain(m, image, { technique: id, classTarget: 1 }), /needs a ViT-family model/, id);
        continue;
      }
      const result = await engine.explain(m, image, {
        technique: id,
        classTarget: 1,
        parameters: id === 'smoothgrad' ? { samples: 2 } : id === 'integrated-gradients' ? { steps: 4 } : undefined,
      });
      assert.ok(result.heatmap, id);
    }
    for (const kind of ['featuremaps', 'filters', 'maximize', 'dream'] as const) {
      const result = await engine.inspect(m, image, {
        kind,
        layer: '/conv1/Conv',
        filter: 0,
        classIndex: null,
        steps: 2,
        seed: 1,
        fourier: false,
      });
      assert.ok(result.image.width > 0, kind);
    }
    const evaluation = await evaluate(engine, m, image, { techniques: ['gradcam'], steps: 4, sanity: true });
    assert.equal(evaluation.rows[0].error, undefined);
    assert.equal(evaluation.rows[0].sanity?.steps.length, 3, 'one step per weighted layer');
    assert.equal(tf.memory().numTensors, before, 'nothing left behind');
  });

  for (const name of ['squeezenet1_1', 'mobilenet_v3_small']) {
    it(`${name}: saliency on wasm with onnxruntime off (Conv weights reached through Identity nodes)`, async () => {
      const engine = await Engine.create({ backend: 'wasm', onnxRuntime: 'off', log: () => undefined });
      const m = await model(name);
      const before = tf.memory().numTensors;
      const result = await engine.explain(m, noiseImage(40, 40, 5), { technique: 'saliency', classTarget: 0 });
      assert.ok(result.heatmap, 'a map was drawn');
      assert.equal(tf.memory().numTensors, before, 'nothing left behind');
    });
  }

  it('loads and disposes without leaving tensors behind', async () => {
    const before = tf.memory().numTensors;
    const m = await loadModel(paths.squeezenet1_1, {}, {}, TFJS_ONLY);
    m.adapter.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
