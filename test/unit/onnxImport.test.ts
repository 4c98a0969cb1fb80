/**
 * ONNX import on tiny models written in the test (protobufjs + the bundled schema): results against an
 * independent computation in plain JS, gradients against finite differences and across backends, and
 * every refusal (unsupported ops listed at once, truncated or damaged files, external data outside the
 * folder) with a clear ModelError and no tensor left behind.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { Acceleration } from '../../src/engine/accel/ortRuntime';
import { modelJsonPathOf } from '../../src/files/modelFiles';
import { tf } from '../../src/engine/tfjs/tf';
import { encodeModel, pseudoRandom, type GraphSpec } from './helpers/onnxBuilder';
import { tempDir } from './helpers/tinyModels';
import { loadModel } from './helpers/suiteAcceleration';

const H = 7;
const W = 6;
const C = 2;
const K = 3; // output channels of the convolution
const CLASSES = 4;

const weight = pseudoRandom(K * C * 3 * 3, 1); // OIHW
const bias = pseudoRandom(K, 2);
const fc = pseudoRandom(CLASSES * K * 3 * 3, 3); // [classes, K·3·3] (Gemm transB = 1)
const fcBias = pseudoRandom(CLASSES, 4);

/** Conv 3×3, stride 2, pads [top 1, left 0, bottom 0, right 1] → Tanh → Flatten → Gemm(transB). */
function tinySpec(activation = 'Tanh'): GraphSpec {
  return {
    nodes: [
      {
        op: 'Conv',
        name: 'conv',
        inputs: ['image', 'w', 'b'],
        outputs: ['conv_out'],
        attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1] },
      },
      { op: activation, name: 'act', inputs: ['conv_out'], outputs: ['act_out'] },
      { op: 'Flatten', name: 'flatten', inputs: ['act_out'], outputs: ['flat'], attrs: { axis: 1 } },
      { op: 'Gemm', name: 'fc', inputs: ['flat', 'fc_w', 'fc_b'], outputs: ['logits'], attrs: { transB: 1 } },
    ],
    initializers: [
      { name: 'w', dims: [K, C, 3, 3], data: weight, raw: true },
      { name: 'b', dims: [K], data: bias },
      { name: 'fc_w', dims: [CLASSES, K * 3 * 3], data: fc, raw: true },
      { name: 'fc_b', dims: [CLASSES], data: fcBias },
    ],
    inputs: [{ name: 'image', dims: ['N', C, H, W] }],
    outputs: [{ name: 'logits', dims: ['N', CLASSES] }],
  };
}

/** The same model in plain JS loops over NCHW data: the independent computation. */
function reference(nchw: number[]): number[] {
  const oh = 3; // floor((7 + 1 + 0 − 3) / 2) + 1
  const ow = 3; // floor((6 + 0 + 1 − 3) / 2) + 1
  const act: number[] = [];
  for (let o = 0; o < K; o++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        let sum = bias[o];
        for (let c = 0; c < C; c++)
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const iy = y * 2 - 1 + ky; // top pad 1
              const ix = x * 2 - 0 + kx; // left pad 0
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              sum += weight[((o * C + c) * 3 + ky) * 3 + kx] * nchw[(c * H + iy) * W + ix];
            }
        act.push(Math.tanh(sum)); // flatten order: channel, row, column (PyTorch's)
      }
  return Array.from({ length: CLASSES }, (_, k) => fcBias[k] + act.reduce((s, a, i) => s + a * fc[k * act.length + i], 0));
}

function toNhwc(nchw: number[]): Float32Array {
  const out = new Float32Array(nchw.length);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[(y * W + x) * C + c] = nchw[(c * H + y) * W + x];
  return out;
}

async function writeModel(spec: GraphSpec, name = 'tiny.onnx', dir = tempDir()): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, encodeModel(spec));
  return file;
}

describe('ONNX import (tiny models)', () => {
  afterEach(() => selectBackend({ choice: 'cpu', log: () => undefined }));

  it('loads an .onnx file with its cnnlens.json; scores equal a plain-JS NCHW computation', async () => {
    const file = await writeModel(tinySpec());
    await fs.writeFile(path.join(path.dirname(file), 'cnnlens.json'), JSON.stringify({ labels: ['a', 'b', 'c', 'd'], preprocess: 'raw' }));
    assert.equal(modelJsonPathOf(file), file, 'an .onnx path is the model file itself');
    const before = tf.memory().numTensors;
    const { adapter, summary, labels } = await loadModel(file);
    assert.equal(summary.format, 'onnx');
    assert.equal(summary.name, 'tiny');
    assert.equal(summary.path, file);
    assert.deepEqual(labels, ['a', 'b', 'c', 'd']);
    assert.equal(summary.preprocessing.preset, 'raw');
    assert.deepEqual(summary.inputShape, [H, W, C]);
    assert.deepEqual(
      summary.layers.map((l) => [l.name, l.kind, l.outputShape.join('x'), l.params, l.camCapable, l.hasKernel]),
      [
        ['conv', 'Conv', '3x3x3', K * C * 9 + K, true, true],
        ['act', 'Tanh', '3x3x3', 0, true, false],
        ['flatten', 'Flatten', '27', 0, false, false],
        ['fc', 'Gemm', '4', CLASSES * 27 + CLASSES, false, false],
      ],
    );
    assert.equal(summary.defaultLayer, 'act');
    const images = [pseudoRandom(C * H * W, 10), pseudoRandom(C * H * W, 11)];
    const got = tf.tidy(() => adapter.scores(tf.tensor4d([...toNhwc(images[0]), ...toNhwc(images[1])], [2, H, W, C])).arraySync());
    images.forEach((image, i) => reference(image).forEach((v, k) => assert.ok(Math.abs(got[i][k] - v) < 1e-5, `${got[i][k]} vs ${v}`)));
    adapter.dispose();
    assert.equal(tf.memory().numTensors, before, 'load + forward + dispose leave nothing behind');
  });

  it('tf.grad through the imported model matches central finite differences', async () => {
    const { adapter } = await loadModel(await writeModel(tinySpec()));
    const image = toNhwc(pseudoRandom(C * H * W, 12));
    const score = (x: Float32Array) => tf.tidy(() => adapter.scores(tf.tensor4d(x, [1, H, W, C])).dataSync()[2]);
    const grad = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) =>
          adapter
            .scores(x as Tensor4D)
            .slice([0, 2], [1, 1])
            .sum(),
        )(tf.tensor4d(image, [1, H, W, C]))
        .dataSync(),
    );
    const eps = 1e-2;
    for (let i = 0; i < image.length; i += 5) {
      const up = Float32Array.from(image);
      const down = Float32Array.from(image);
      up[i] += eps;
      down[i] -= eps;
      const numeric = (score(up) - score(down)) / (2 * eps);
      assert.ok(Math.abs(numeric - grad[i]) < 2e-3 + 1e-2 * Math.abs(numeric), `element ${i}: ${grad[i]} vs ${numeric}`);
    }
    adapter.dispose();
  });

  it('gradients on wasm (input-only convolution with asymmetric explicit pads) equal the cpu backend’s', async () => {
    const file = await writeModel(tinySpec('Relu'));
    const image = tf.tensor4d(toNhwc(pseudoRandom(C * H * W, 13)), [1, H, W, C]);
    const gradOn = async (backend: 'cpu' | 'wasm') => {
      await selectBackend({ choice: backend, log: () => undefined });
      const { adapter } = await loadModel(file);
      assert.equal(adapter.gradientsOnWasm, true);
      const x = tf.tensor4d(image.dataSync(), image.shape);
      const g = tf.tidy(() =>
        tf
          .grad((v: tf.Tensor) =>
            adapter
              .layerOutput(v as Tensor4D, 'conv')
              .sum()
              .add(adapter.scores(v as Tensor4D).sum()),
          )(x)
          .dataSync(),
      );
      x.dispose();
      adapter.dispose();
      return g;
    };
    const cpu = await gradOn('cpu');
    const wasm = await gradOn('wasm');
    cpu.forEach((v, i) => assert.ok(Math.abs(v - wasm[i]) < 1e-4, `element ${i}: ${v} vs ${wasm[i]}`));
    image.dispose();
  });

  it('gradients on wasm through Conv weights reached via Identity (torch.onnx’s shared initializers) equal the cpu backend’s', async () => {
    // The executor prepares such weights during the forward pass, so their gradient kernels belong to it.
    const spec = tinySpec('Relu');
    spec.nodes.unshift(
      { op: 'Identity', name: 'w_alias', inputs: ['w'], outputs: ['w_shared'] },
      { op: 'Identity', name: 'b_alias', inputs: ['b'], outputs: ['b_shared'] },
    );
    spec.nodes[2].inputs = ['image', 'w_shared', 'b_shared'];
    const file = await writeModel(spec);
    const image = toNhwc(pseudoRandom(C * H * W, 14));
    const gradOn = async (backend: 'cpu' | 'wasm') => {
      await selectBackend({ choice: backend, log: () => undefined });
      const { adapter } = await loadModel(file, {}, {}, new Acceleration('off'));
      const before = tf.memory().numTensors;
      const g = tf.tidy(() =>
        tf
          .grad((v: tf.Tensor) => adapter.scores(v as Tensor4D).sum())(tf.tensor4d(image, [1, H, W, C]))
          .dataSync(),
      );
      assert.equal(tf.memory().numTensors, before, `nothing left behind on ${backend}`);
      adapter.dispose();
      return g;
    };
    const cpu = await gradOn('cpu');
    const wasm = await gradOn('wasm');
    assert.ok(
      cpu.some((v) => v !== 0),
      'the gradient reaches the image',
    );
    cpu.forEach((v, i) => assert.ok(Math.abs(v - wasm[i]) < 1e-4, `element ${i}: ${v} vs ${wasm[i]}`));
  });

  it('lists every unsupported op type in one message, leaking nothing', async () => {
    const spec = tinySpec();
    spec.nodes.splice(
      1,
      0,
      { op: 'Foo', inputs: ['conv_out'], outputs: ['f1'] },
      { op: 'LSTM', inputs: ['f1'], outputs: ['f2'] },
      { op: 'Foo', inputs: ['f2'], outputs: ['f3'] },
      { op: 'FusedConv', domain: 'com.microsoft', inputs: ['f3'], outputs: ['f4'] },
    );
    const before = tf.memory().numTensors;
    await assert.rejects(loadModel(await writeModel(spec)), (error: Error) => {
      assert.equal(error.name, 'ModelError');
      assert.match(error.message, /uses ONNX ops CNN Lens does not support yet: Foo, LSTM, com\.microsoft\.FusedConv\.$/);
      return true;
    });
    assert.equal(tf.memory().numTensors, before);
  });

  const broken: [string, (bytes: Uint8Array) => Uint8Array | GraphSpec, RegExp][] = [
    ['a truncated file', (bytes) => bytes.subarray(0, Math.floor(bytes.length * 0.6)), /not a readable ONNX model|damaged or truncated/],
    ['a file of text', () => Buffer.from('{"format": "layers-model"}'), /not a readable ONNX model|holds no ONNX graph/],
    ['an empty file', () => new Uint8Array(0), /is empty/],
    [
      'an initializer shorter than its dims',
      () => {
        const spec = tinySpec();
        spec.initializers![0].dims = [K, C, 3, 4];
        return spec;
      },
      /tensor "w" \[3,2,3,4\] holds 216 bytes of data, expected 288/,
    ],
    [
      'external data outside the folder',
      () => {
        const spec = tinySpec();
        spec.initializers![0] = { ...spec.initializers![0], external: { location: '../weights.bin' } };
        return spec;
      },
      /external data "..\/weights.bin" points outside the model's folder/,
    ],
    [
      'a missing external data file',
      () => {
        const spec = tinySpec();
        spec.initializers![0] = { ...spec.initializers![0], external: { location: 'weights.bin' } };
        return spec;
      },
      /external data file "weights.bin" is missing/,
    ],
    [
      'a node reading a tensor nobody makes',
      () => {
        const spec = tinySpec();
        spec.nodes[1].inputs = ['nowhere'];
        return spec;
      },
      /node "act" \(Tanh\) reads "nowhere", which no node, input or initializer provides/,
    ],
    [
      'an input without a fixed image size',
      () => ({ ...tinySpec(), inputs: [{ name: 'image', dims: ['N', C, 'height', 'width'] }] }),
      /needs a fixed height, width and channel count/,
    ],
    [
      'two inputs',
      () => ({
        ...tinySpec(),
        inputs: [
          { name: 'image', dims: [1, C, H, W] },
          { name: 'other', dims: [1, 3] },
        ],
      }),
      /has 2 inputs \(image, other\)/,
    ],
  ];

  for (const [what, breakIt, message] of broken) {
    it(`refuses ${what} with a clear ModelError, leaking nothing`, async () => {
      const made = breakIt(encodeModel(tinySpec()));
      const file = path.join(tempDir(), 'model.onnx');
      await fs.writeFile(file, made instanceof Uint8Array ? made : encodeModel(made));
      const before = tf.memory().numTensors;
      await assert.rejects(loadModel(file), (error: Error) => {
        assert.equal(error.name, 'ModelError', error.message);
        assert.match(error.message, message);
        return true;
      });
      assert.equal(tf.memory().numTensors, before);
    });
  }

  it('reads external data from a file in the model’s folder', async () => {
    const dir = tempDir();
    await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.concat([Buffer.alloc(8), Buffer.from(new Float32Array(weight).buffer)]));
    const spec = tinySpec();
    spec.initializers![0] = { ...spec.initializers![0], external: { location: 'weights.bin', offset: 8, length: weight.length * 4 } };
    const { adapter } = await loadModel(await writeModel(spec, 'model.onnx', dir));
    const image = pseudoRandom(C * H * W, 14);
    const got = tf.tidy(() => adapter.scores(tf.tensor4d(toNhwc(image), [1, H, W, C])).dataSync());
    reference(image).forEach((v, k) => assert.ok(Math.abs(got[k] - v) < 1e-5));
    adapter.dispose();
  });

  it('an NHWC input followed by Transpose(0, 3, 1, 2) (as tf2onnx writes) gives the same scores', async () => {
    const spec = tinySpec();
    spec.inputs = [{ name: 'image_nhwc', dims: [1, H, W, C] }];
    spec.nodes.unshift({ op: 'Transpose', name: 'to_nchw', inputs: ['image_nhwc'], outputs: ['image'], attrs: { perm: [0, 3, 1, 2] } });
    const { adapter, summary } = await loadModel(await writeModel(spec));
    assert.deepEqual(summary.inputShape, [H, W, C]);
    const image = pseudoRandom(C * H * W, 15);
    const got = tf.tidy(() => adapter.scores(tf.tensor4d(toNhwc(image), [1, H, W, C])).dataSync());
    reference(image).forEach((v, k) => assert.ok(Math.abs(got[k] - v) < 1e-5));
    adapter.dispose();
  });

  it('a failing forward pass (wrong channel count) throws and leaks nothing', async () => {
    const { adapter } = await loadModel(await writeModel(tinySpec()));
    const before = tf.memory().numTensors;
    const x = tf.zeros([1, H, W, 3]) as Tensor4D;
    assert.throws(() => adapter.scores(x), /3 channels; the model expects 2/);
    x.dispose();
    assert.equal(tf.memory().numTensors, before);
    adapter.dispose();
  });
});
