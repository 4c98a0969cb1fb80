/**
 * Keras import on files written in the test from tiny TF.js models (helpers/kerasFiles.ts writes them as
 * Keras 2 and Keras 3 do): predictions and Grad-CAM equal to the original model's, a hand-written Keras 3
 * config.json in the shape Keras 3 saves, and every refusal (Lambda and custom layers listed at once, a
 * weights-only .h5, an archive entry escaping its folder, truncated files, missing or misshapen weights)
 * as a clear ModelError with no tensor left behind.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { Engine } from '../../src/engine/engine';
import { kerasSnakeCase, translateKerasConfig } from '../../src/engine/models/keras/kerasConfig';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import { ModelError, modelJsonPathOf } from '../../src/files/modelFiles';
import { fileKindOf } from '../../src/files/formats';

const kerasModelKind = (head: Uint8Array, name: string) => (fileKindOf(name).id === 'keras' ? fileKindOf(name).sniff(head, name) : null);
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { keras3Config, writeKeras3, writeLegacyH5 } from './helpers/kerasFiles';
import { noiseImage, saveModel, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME, loadModel } from './helpers/suiteAcceleration';

type Json = Record<string, any>;

const init = (seed: number, stddev = 0.5) => tfl.initializers.randomNormal({ mean: 0, stddev, seed });

/** Conv → BN → ReLU6 → (depthwise → pointwise) + skip, ‖ 1×1 → LeakyReLU, concatenated → GAP → Dropout → softmax. */
function branchyModel(seed = 7): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 3], name: 'image' });
  const stem = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'stem', kernelInitializer: init(seed), biasInitializer: init(seed + 1) })
    .apply(input) as tfl.SymbolicTensor;
  const bn = tfl.layers
    .batchNormalization({
      name: 'stem_bn',
      gammaInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: seed + 2 }),
      betaInitializer: init(seed + 3, 0.2),
      movingMeanInitializer: init(seed + 4, 0.2),
      movingVarianceInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: seed + 5 }),
    })
    .apply(stem) as tfl.SymbolicTensor;
  const act = tfl.layers.reLU({ maxValue: 6, name: 'stem_relu' }).apply(bn) as tfl.SymbolicTensor;
  const dw = tfl.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw', depthwiseInitializer: init(seed + 6), biasInitializer: init(seed + 7) })
    .apply(act) as tfl.SymbolicTensor;
  const pw = tfl.layers
    .conv2d({
      filters: 4,
      kernelSize: 1,
      activation: 'relu',
      name: 'pw',
      kernelInitializer: init(seed + 8),
      biasInitializer: init(seed + 9),
    })
    .apply(dw) as tfl.SymbolicTensor;
  const residual = tfl.layers.add({ name: 'residual' }).apply([act, pw]) as tfl.SymbolicTensor;
  const side = tfl.layers
    .conv2d({ filters: 2, kernelSize: 1, name: 'side', kernelInitializer: init(seed + 10), biasInitializer: init(seed + 11) })
    .apply(act) as tfl.SymbolicTensor;
  const leaky = tfl.layers.leakyReLU({ alpha: 0.1, name: 'side_leaky' }).apply(side) as tfl.SymbolicTensor;
  const joined = tfl.layers.concatenate({ name: 'joined' }).apply([residual, leaky]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(joined) as tfl.SymbolicTensor;
  const dropped = tfl.layers.dropout({ rate: 0.3, name: 'drop' }).apply(pooled) as tfl.SymbolicTensor;
  const probs = tfl.layers
    .dense({ units: 5, activation: 'softmax', name: 'probs', kernelInitializer: init(seed + 12), biasInitializer: init(seed + 13) })
    .apply(dropped) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: probs, name: 'branchy' });
}

function randomBatch(model: tfl.LayersModel, n: number, seed: number): Tensor4D {
  const [, h, w, c] = model.inputs[0].shape as number[];
  return tf.randomUniform([n, h, w, c], -1, 1, 'float32', seed) as Tensor4D;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** The loaded model's predictions equal the original model's (softmax re-applied where scores are logits). */
function assertSamePredictions(original: tfl.LayersModel, loaded: LoadedModel, seed = 3): void {
  tf.tidy(() => {
    const x = randomBatch(original, 3, seed);
    const want = original.predict(x) as tf.Tensor;
    const scores = loaded.adapter.scores(x);
    const softmaxed = original.layers[original.layers.length - 1].getConfig().activation === 'softmax';
    const got = loaded.adapter.hasLogits && softmaxed ? tf.softmax(scores) : scores;
    const diff = maxAbsDiff(want.dataSync(), got.dataSync());
    assert.ok(diff < 1e-5, `max abs diff ${diff}`);
  });
}

async function expectModelError(where: string, pattern: RegExp): Promise<ModelError> {
  const before = tf.memory().numTensors;
  let caught: unknown;
  try {
    const loaded = await loadModel(where);
    loaded.adapter.dispose();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ModelError, `expected a ModelError, got ${String(caught)}`);
  assert.match((caught as Error).message, pattern);
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  return caught as ModelError;
}

describe('Keras import (.h5 and .keras)', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
  });

  it('names weight groups as Keras 3 does (naming.to_snake_case)', () => {
    const expected: Record<string, string> = {
      Conv2D: 'conv2d',
      BatchNormalization: 'batch_normalization',
      DepthwiseConv2D: 'depthwise_conv2d',
      ReLU: 're_lu',
      GlobalAveragePooling2D: 'global_average_pooling2d',
      Dense: 'dense',
      LeakyReLU: 'leaky_re_lu',
      SeparableConv2D: 'separable_conv2d',
      PReLU: 'p_re_lu',
    };
    for (const [cls, snake] of Object.entries(expected)) assert.equal(kerasSnakeCase(cls), snake, cls);
  });

  it('tells Keras files by extension and magic bytes', () => {
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]);
    const hdf5 = Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(kerasModelKind(zip, 'm.keras'), 'keras');
    assert.equal(kerasModelKind(hdf5, 'M.H5'), 'keras');
    assert.equal(kerasModelKind(hdf5, 'm.hdf5'), 'keras');
    assert.equal(kerasModelKind(hdf5, 'm.keras'), null);
    assert.equal(kerasModelKind(new TextEncoder().encode('version https://git-lfs'), 'm.h5'), null);
    assert.equal(kerasModelKind(zip.subarray(0, 3), 'm.keras'), null);
    assert.equal(modelJsonPathOf('/x/m.keras'), '/x/m.keras');
    assert.equal(modelJsonPathOf('/x/m.h5'), '/x/m.h5');
  });

  it('loads a legacy .h5 Sequential model: predictions as the original, sidecar applied, Grad-CAM as on the TF.js model', async () => {
    const dir = tempDir();
    const original = twoConvGapModel(11);
    const file = await writeLegacyH5(original, path.join(dir, 'classifier.h5'));
    await fs.writeFile(path.join(dir, 'cnnlens.json'), JSON.stringify({ preprocess: 'zero-one', labels: ['a', 'b', 'c', 'd'] }));
    const tfjsDir = tempDir();
    await saveModel(original, tfjsDir, { preprocess: 'zero-one' });

    const before = tf.memory().numTensors;
    const loaded = await loadModel(file);
    assert.equal(loaded.summary.format, 'keras');
    assert.equal(loaded.summary.name, 'classifier');
    assert.deepEqual(loaded.summary.inputShape, [6, 6, 3]);
    assert.deepEqual(loaded.labels, ['a', 'b', 'c', 'd']);
    assert.equal(loaded.summary.preprocessing.preset, 'zero-one');
    assert.deepEqual(
      loaded.summary.layers.map((l) => l.name),
      ['conv_a', 'conv_b', 'gap', 'logits'],
    );
    assert.equal(loaded.summary.defaultLayer, 'conv_b');
    assertSamePredictions(original, loaded);

    const reference = await loadModel(tfjsDir);
    const image = noiseImage(12, 12, 5);
    for (const technique of ['gradcam', 'cam', 'saliency']) {
      const a = await engine.explain(loaded, image, { technique, classTarget: 2 });
      const b = await engine.explain(reference, image, { technique, classTarget: 2 });
      assert.ok(maxAbsDiff(a.rawMap.data, b.rawMap.data) < 1e-5, technique);
    }
    loaded.adapter.dispose();
    reference.adapter.dispose();
    assert.equal(tf.memory().numTensors, before, 'loading and explaining leave nothing behind');
    original.dispose();
  });

  it('loads a legacy .h5 Functional model with branches, BN, depthwise, dropout and softmax', async () => {
    const dir = tempDir();
    const original = branchyModel();
    const file = await writeLegacyH5(original, path.join(dir, 'branchy.h5'));
    const loaded = await loadModel(file);
    assert.deepEqual(
      loaded.summary.layers.map((l) => `${l.name}:${l.kind}`),
      [
        'stem:Conv2D',
        'stem_bn:BatchNormalization',
        'stem_relu:ReLU',
        'dw:DepthwiseConv2D',
        'pw:Conv2D',
        'side:Conv2D',
        'residual:Add',
        'side_leaky:LeakyReLU',
        'joined:Concatenate',
        'gap:GlobalAveragePooling2D',
        'drop:Dropout',
        'probs:Dense',
      ],
    );
    assert.equal(loaded.adapter.hasLogits, true, 'the softmax is stepped over');
    assertSamePredictions(original, loaded);
    loaded.adapter.dispose();
    original.dispose();
  });

  it('loads Keras 3 .keras archives (Functional and Sequential), with or without name attributes on vars', async () => {
    for (const nameAttributes of [false, true]) {
      const dir = tempDir();
      const original = branchyModel(21);
      const file = await writeKeras3(original, path.join(dir, 'branchy.keras'), { nameAttributes });
      const loaded = await loadModel(file);
      assert.equal(loaded.summary.format, 'keras');
      assert.equal(loaded.summary.name, 'branchy');
      assertSamePredictions(original, loaded, 9);
      // At the model's input size: this test is about the import, not about resizing.
      const result = await engine.explain(loaded, noiseImage(8, 8, 2), { technique: 'gradcam', layer: 'joined', classTarget: 1 });
      assert.ok(
        result.rawMap.data.some((v) => v > 0),
        'Grad-CAM gives a map',
      );
      loaded.adapter.dispose();
      original.dispose();
    }
    const dir = tempDir();
    const sequential = twoConvGapModel(31);
    const loaded = await loadModel(await writeKeras3(sequential, path.join(dir, 'seq.keras')));
    assertSamePredictions(sequential, loaded);
    loaded.adapter.dispose();
    sequential.dispose();
  });

  it('reads a Keras 3 config.json written as Keras 3 writes a Sequential CNN', async () => {
    // The shape of a real Keras 3 config.json (Conv2D → MaxPooling2D → BatchNormalization → Flatten → Dense →
    // Dropout → Dense softmax), shrunk; see src/engine/models/keras/kerasConfig.ts for where the format comes from.
    const dtype = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
    const initializer = (cls: string) => ({
      module: 'keras.initializers',
      class_name: cls,
      config: cls === 'GlorotUniform' ? { seed: null } : {},
      registered_name: null,
    });
    const config = {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        trainable: true,
        dtype,
        layers: [
          {
            module: 'keras.layers',
            class_name: 'InputLayer',
            config: { batch_shape: [null, 10, 10, 3], dtype: 'float32', sparse: false, ragged: false, name: 'input_layer' },
            registered_name: null,
          },
          {
            module: 'keras.layers',
            class_name: 'Conv2D',
            config: {
              name: 'conv2d',
              trainable: true,
              dtype,
              filters: 4,
              kernel_size: [3, 3],
              strides: [1, 1],
              padding: 'valid',
              data_format: 'channels_last',
              dilation_rate: [1, 1],
              groups: 1,
              activation: 'relu',
              use_bias: true,
              kernel_initializer: initializer('GlorotUniform'),
              bias_initializer: initializer('Zeros'),
              kernel_regularizer: null,
              bias_regularizer: null,
              activity_regularizer: null,
              kernel_constraint: null,
              bias_constraint: null,
            },
            registered_name: null,
            build_config: { input_shape: [null, 10, 10, 3] },
          },
          {
            module: 'keras.layers',
            class_name: 'MaxPooling2D',
            config: {
              name: 'max_pooling2d',
              trainable: true,
              dtype,
              pool_size: [2, 2],
              padding: 'valid',
              strides: [2, 2],
              data_format: 'channels_last',
            },
            registered_name: null,
          },
          {
            module: 'keras.layers',
            class_name: 'BatchNormalization',
            config: {
              name: 'batch_normalization',
              trainable: true,
              dtype,
              axis: -1,
              momentum: 0.99,
              epsilon: 0.001,
              center: true,
              scale: true,
              beta_initializer: initializer('Zeros'),
              gamma_initializer: initializer('Ones'),
              moving_mean_initializer: initializer('Zeros'),
              moving_variance_initializer: initializer('Ones'),
              beta_regularizer: null,
              gamma_regularizer: null,
              beta_constraint: null,
              gamma_constraint: null,
              synchronized: false,
            },
            registered_name: null,
            build_config: { input_shape: [null, 4, 4, 4] },
          },
          {
            module: 'keras.layers',
            class_name: 'Flatten',
            config: { name: 'flatten', trainable: true, dtype, data_format: 'channels_last' },
            registered_name: null,
            build_config: { input_shape: [null, 4, 4, 4] },
          },
          {
            module: 'keras.layers',
            class_name: 'Dense',
            config: {
              name: 'dense',
              trainable: true,
              dtype,
              units: 6,
              activation: 'relu',
              use_bias: true,
              kernel_initializer: initializer('GlorotUniform'),
              bias_initializer: initializer('Zeros'),
              kernel_regularizer: null,
              bias_regularizer: null,
              kernel_constraint: null,
              bias_constraint: null,
            },
            registered_name: null,
            build_config: { input_shape: [null, 64] },
          },
          {
            module: 'keras.layers',
            class_name: 'Dropout',
            config: { name: 'dropout', trainable: true, dtype, rate: 0.15, seed: null, noise_shape: null },
            registered_name: null,
          },
          {
            module: 'keras.layers',
            class_name: 'Dense',
            config: {
              name: 'dense_1',
              trainable: true,
              dtype,
              units: 3,
              activation: 'softmax',
              use_bias: true,
              kernel_initializer: initializer('GlorotUniform'),
              bias_initializer: initializer('Zeros'),
              kernel_regularizer: null,
              bias_regularizer: null,
              kernel_constraint: null,
              bias_constraint: null,
            },
            registered_name: null,
            build_config: { input_shape: [null, 6] },
          },
        ],
        build_input_shape: [null, 10, 10, 3],
      },
      registered_name: null,
      build_config: { input_shape: [null, 10, 10, 3] },
      compile_config: {
        optimizer: {
          module: 'keras.optimizers',
          class_name: 'Adam',
          config: { name: 'adam', learning_rate: 0.001 },
          registered_name: null,
        },
        loss: 'categorical_crossentropy',
        metrics: ['acc'],
      },
    };
    // The same network built with tfjs, its random weights the ones written to model.weights.h5.
    const original = tfl.sequential({ name: 'sequential' });
    original.add(
      tfl.layers.conv2d({
        inputShape: [10, 10, 3],
        filters: 4,
        kernelSize: 3,
        activation: 'relu',
        name: 'conv2d',
        biasInitializer: init(1),
      }),
    );
    original.add(tfl.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }));
    original.add(
      tfl.layers.batchNormalization({
        name: 'batch_normalization',
        gammaInitializer: init(2),
        betaInitializer: init(3),
        movingMeanInitializer: init(4),
        movingVarianceInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: 5 }),
      }),
    );
    original.add(tfl.layers.flatten({ name: 'flatten' }));
    original.add(tfl.layers.dense({ units: 6, activation: 'relu', name: 'dense', biasInitializer: init(6) }));
    original.add(tfl.layers.dropout({ rate: 0.15, name: 'dropout' }));
    original.add(tfl.layers.dense({ units: 3, activation: 'softmax', name: 'dense_1', biasInitializer: init(7) }));
    const dir = tempDir();
    const loaded = await loadModel(await writeKeras3(original, path.join(dir, 'model.keras'), { config }));
    assert.deepEqual(
      loaded.summary.layers.map((l) => l.name),
      ['conv2d', 'max_pooling2d', 'batch_normalization', 'flatten', 'dense', 'dropout', 'dense_1'],
    );
    assertSamePredictions(original, loaded);
    loaded.adapter.dispose();
    original.dispose();
  });

  it('translates Keras 3 specifics: LeakyReLU negative_slope, silu, augmentation layers, flat input_layers', () => {
    const original = branchyModel();
    const config = keras3Config(original) as Json;
    const leaky = config.config.layers.find((l: Json) => l.name === 'side_leaky');
    assert.equal(leaky.config.negative_slope, 0.1, 'the writer writes what Keras 3 writes');
    assert.equal(typeof config.config.input_layers[0], 'string', 'one input: a flat [layer, node, tensor]');
    const translated = translateKerasConfig(config, 'm.keras').modelTopology as Json;
    const leakyOut = translated.config.layers.find((l: Json) => l.name === 'side_leaky');
    assert.equal(leakyOut.config.alpha, 0.1);
    assert.deepEqual(translated.config.input_layers, [['image', 0, 0]]);
    const add = translated.config.layers.find((l: Json) => l.name === 'residual');
    assert.deepEqual(add.inbound_nodes, [
      [
        ['stem_relu', 0, 0, {}],
        ['pw', 0, 0, {}],
      ],
    ]);
    // An augmentation layer is the identity at inference; silu is tfjs's swish.
    const pw = config.config.layers.find((l: Json) => l.name === 'pw');
    pw.config.activation = 'silu';
    config.config.layers.splice(1, 0, {
      module: 'keras.layers',
      class_name: 'RandomFlip',
      config: { name: 'flip', mode: 'horizontal', seed: null },
      registered_name: null,
      name: 'flip',
      inbound_nodes: [],
    });
    const again = translateKerasConfig(config, 'm.keras').modelTopology as Json;
    assert.equal(again.config.layers.find((l: Json) => l.name === 'pw').config.activation, 'swish');
    assert.deepEqual(again.config.layers.find((l: Json) => l.name === 'flip').class_name, 'Dropout');
    original.dispose();
  });

  it('refuses Lambda, TF-op and custom layers in one message naming each', async () => {
    const original = twoConvGapModel(3);
    const config = keras3Config(original) as Json;
    const layers = config.config.layers as Json[];
    layers.splice(
      2,
      0,
      {
        module: 'keras.layers',
        class_name: 'Lambda',
        config: { name: 'scale_it', function: { class_name: '__lambda__', config: { code: '4wEAAAAAAAAA' } } },
        registered_name: null,
      },
      { module: 'my_project.layers', class_name: 'FancyBlock', config: { name: 'fancy' }, registered_name: 'MyProject>FancyBlock' },
      { module: 'keras.layers', class_name: 'SomethingNew', config: { name: 'newer' }, registered_name: null },
    );
    const dir = tempDir();
    const error = await expectModelError(
      await writeKeras3(original, path.join(dir, 'custom.keras'), { config }),
      /3 layers CNN Lens cannot import/,
    );
    assert.match(error.message, /"scale_it" \(Lambda/);
    assert.match(error.message, /"fancy" \(custom class FancyBlock, module my_project\.layers\)/);
    assert.match(error.message, /"newer" \(SomethingNew, which TensorFlow\.js does not implement\)/);
    // Keras 2 .h5: the same for a TFOpLambda and a Lambda in model_config.
    const legacy = original.toJSON(null, false) as Json;
    legacy.config.layers.push(
      { class_name: 'TFOpLambda', config: { name: 'tf.math.add', function: 'math.add' } },
      { class_name: 'Lambda', config: { name: 'lambda', function: ['4wEAAAAAAAAA', null, null] } },
    );
    const h5 = await writeLegacyH5(original, path.join(dir, 'custom.h5'), { config: legacy });
    const legacyError = await expectModelError(
      h5,
      /"tf\.math\.add" \(TFOpLambda: Python code, never run\); "lambda" \(Lambda: Python code, never run\)/,
    );
    assert.match(legacyError.message, /never runs code from a model file/);
    original.dispose();
  });

  it('refuses a weights-only .h5, a non-HDF5 .h5 and a non-zip .keras', async () => {
    const dir = tempDir();
    const original = twoConvGapModel(4);
    await expectModelError(
      await writeLegacyH5(original, path.join(dir, 'weights.h5'), { weightsOnly: true }),
      /weights-only \.h5.*no model_config/,
    );
    await fs.writeFile(path.join(dir, 'pointer.h5'), 'version https://git-lfs.github.com/spec/v1\n');
    await expectModelError(path.join(dir, 'pointer.h5'), /neither a \.keras archive \(zip\) nor an HDF5/);
    await fs.writeFile(path.join(dir, 'page.keras'), '<html>');
    await expectModelError(path.join(dir, 'page.keras'), /neither a \.keras archive/);
    await expectModelError(path.join(dir, 'missing.keras'), /Model file not found/);
    original.dispose();
  });

  it('refuses a .keras archive with an entry that escapes its folder', async () => {
    const dir = tempDir();
    const original = twoConvGapModel(5);
    for (const name of ['../evil.sh', '/etc/cron.d/x', 'assets/../../up.txt']) {
      const file = await writeKeras3(original, path.join(dir, 'tampered.keras'), {
        extraEntries: { [name]: new TextEncoder().encode('x') },
      });
      await expectModelError(file, /entries that point outside any folder/);
    }
    original.dispose();
  });

  it('refuses truncated .keras and .h5 files', async () => {
    const dir = tempDir();
    const original = branchyModel(5);
    for (const [name, write] of [
      ['cut.keras', (f: string) => writeKeras3(original, f)],
      ['cut.h5', (f: string) => writeLegacyH5(original, f)],
    ] as const) {
      const file = await write(path.join(dir, name));
      const bytes = await fs.readFile(file);
      for (const fraction of [0.3, 0.9]) {
        await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length * fraction)));
        await expectModelError(file, /truncated|damaged|not a readable|cannot be read|listed but not stored/);
      }
    }
    original.dispose();
  });

  it('names the layer and weight when a weight is missing or has the wrong shape', async () => {
    const dir = tempDir();
    const original = branchyModel(6);
    const missing = await writeKeras3(original, path.join(dir, 'missing.keras'), { drop: ['stem_bn', 3] });
    await expectModelError(
      missing,
      /layer "stem_bn" \(BatchNormalization\) needs 4 weights \[gamma, beta, moving_mean, moving_variance\] but the file has 3: moving_variance missing/,
    );
    const shaped = await writeKeras3(original, path.join(dir, 'shape.keras'), { replace: ['dw', 0, [3, 3, 4, 2], new Float32Array(72)] });
    await expectModelError(shaped, /layer "dw" weight "depthwise_kernel" should be \[3,3,4,1\] but the file has \[3,3,4,2\]/);
    const legacy = await writeLegacyH5(original, path.join(dir, 'missing.h5'), { skip: 'probs/bias' });
    await expectModelError(legacy, /layer "probs" \(Dense\) needs 2 weights \[kernel, bias\] but the file has 1: bias missing/);
    // A model whose archive holds no weights at all.
    const config = keras3Config(original);
    const empty = path.join(dir, 'noweights.keras');
    await fs.writeFile(empty, zipSync({ 'config.json': new TextEncoder().encode(JSON.stringify(config)) }));
    await expectModelError(empty, /layer "stem" \(Conv2D\) needs 2 weights/);
    original.dispose();
  });
});
