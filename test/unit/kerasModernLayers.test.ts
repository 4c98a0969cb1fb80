/**
 * The layers of today's Keras image models (ConvNeXt, ViT- and Swin-style) imported from `.keras` archives
 * written here as Keras 3 writes them (helpers/kerasArchive.ts), each checked against numbers worked out
 * independently: Keras's own documented examples, values computed offline (Python's math.erf), or the
 * double-precision forms in helpers/kerasReference.ts. Every load leaves no tensor behind.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { layerClassProblem } from '../../src/engine/models/keras/kerasConfig';
import { ModelError } from '../../src/files/modelFiles';
import { layer, operation, writeKerasArchive, type Dataset, type Json } from './helpers/kerasArchive';
import { assertClose, chain, loadChecked, predict } from './helpers/kerasChecks';
import { dense, depthwiseSame, geluExact, geluTanh, layerNorm, numbers } from './helpers/kerasReference';
import { tempDir } from './helpers/tinyModels';
import { loadModel } from './helpers/suiteAcceleration';

const f32 = (values: ArrayLike<number>) => Float32Array.from(values);
const vars = (group: string, ...values: [number[], ArrayLike<number>][]): Dataset[] =>
  values.map(([shape, data], i) => ({ path: `layers/${group}/vars/${i}`, shape, data: f32(data) }));

async function archive(name: string, config: Json, datasets: Dataset[] = []): Promise<string> {
  return writeKerasArchive(path.join(tempDir(), `${name}.keras`), config, datasets);
}

/** Runs `image` through a `.keras` model and compares its flattened output with `want`. */
async function expectOutput(
  name: string,
  config: Json,
  datasets: Dataset[],
  image: ArrayLike<number>,
  want: ArrayLike<number>,
  tolerance = 1e-5,
): Promise<void> {
  await loadChecked(await archive(name, config, datasets), (loaded) => assertClose(predict(loaded, image), want, tolerance, name));
}

async function expectRefusal(name: string, config: Json, datasets: Dataset[], pattern: RegExp): Promise<void> {
  const file = await archive(name, config, datasets);
  await assert.rejects(loadModel(file), (error: Error) => error instanceof ModelError && pattern.test(error.message));
}

const GELU_INPUTS = [-2, -1, 0, 0.5, 1, 2];
// Python: 0.5 * x * (1 + math.erf(x / math.sqrt(2))) and the tanh form with 0.044715.
const GELU_EXACT = [-0.04550026389635842, -0.15865525393145707, 0, 0.34573123063700656, 0.8413447460685429, 1.9544997361036416];
const GELU_TANH = [-0.04540230591222494, -0.15880800939172324, 0, 0.34571400982514394, 0.8411919906082768, 1.954597694087775];

describe('Keras import: the layers of ConvNeXt, ViT and Swin models', () => {
  it('runs LayerNormalization over tokens and over channels with its gamma and beta', async () => {
    const gamma = [2, 1, 0.5, 1];
    const beta = [0, 1, 0, -1];
    const image = [1, 2, 3, 4, ...numbers(20, 1, 3)];
    const config = chain(
      [2, 3, 4],
      [
        (x) => layer('Reshape', 'tokens', { target_shape: [6, 4] }, [x]),
        // Keras 3 saves the axis it built with: a sorted list of non-negative axes.
        (x) =>
          layer(
            'LayerNormalization',
            'ln',
            { axis: [2], epsilon: 0.001, center: true, scale: true, rms_scaling: false, beta_initializer: null, gamma_initializer: null },
            [x],
          ),
      ],
    );
    const want = layerNorm(image, 4, gamma, beta, 0.001);
    // The first token by hand (Python): (x − 2.5) / √(1.25 + 0.001) · gamma + beta.
    assertClose(want.slice(0, 4), [-2.6822089039291006, 0.5529651826784832, 0.2235174086607584, 0.3411044519645503], 1e-12, 'reference');
    await expectOutput('layernorm-tokens', config, vars('layer_normalization', [[4], gamma], [[4], beta]), image, want);

    const channels = chain([2, 2, 4], [(x) => layer('LayerNormalization', 'ln', { axis: -1, epsilon: 1e-6 }, [x])]);
    const pixels = numbers(16, 2, 2);
    await expectOutput(
      'layernorm-channels',
      channels,
      vars('layer_normalization', [[4], gamma], [[4], beta]),
      pixels,
      layerNorm(pixels, 4, gamma, beta, 1e-6),
    );
  });

  it("runs Normalization from its config (ConvNeXt's PreStem), from adapted weights, inverted, and over no axis", async () => {
    const mean = [0.485 * 255, 0.456 * 255, 0.406 * 255];
    const variance = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2];
    const preStem = chain([1, 2, 3], [(x) => layer('Normalization', 'prestem', { axis: [-1], invert: false, mean, variance }, [x])]);
    // (pixel − mean) / std, by hand in Python.
    await expectOutput(
      'prestem',
      preStem,
      [],
      [124, 116, 104, 0, 0, 0],
      [0.005565544995290741, -0.004901960784313745, 0.008191721132897584, ...mean.map((m, i) => -m / Math.sqrt(variance[i]))],
    );

    // Keras's docstring: adapted to mean [1, 8, 5], variance [1, 1, 1], invert=True maps [1, 2, 3] to [2, 10, 8].
    const adapted = chain(
      [1, 1, 3],
      [(x) => layer('Normalization', 'denorm', { axis: [-1], invert: true, mean: null, variance: null }, [x])],
    );
    const count: Dataset = { path: 'layers/normalization/vars/2', shape: [], data: BigInt64Array.of(4n) };
    await expectOutput('adapted', adapted, [...vars('normalization', [[3], [1, 8, 5]], [[3], [1, 1, 1]]), count], [1, 2, 3], [2, 10, 8]);

    // Keras's docstring: Normalization(mean=3., variance=2.) maps [1, 2, 3] to [-1.4142135, -0.70710677, 0].
    const scalar = chain([1, 3, 1], [(x) => layer('Normalization', 'scalar', { axis: [], invert: false, mean: 3, variance: 2 }, [x])]);
    await expectOutput('scalar', scalar, [], [1, 2, 3], [-1.4142135, -0.70710677, 0], 1e-6);
  });

  it('runs Rescaling with a scalar and with a per-channel scale saved as a NumPy array', async () => {
    const scalar = chain([1, 3, 1], [(x) => layer('Rescaling', 'rescale', { scale: 1 / 127.5, offset: -1 }, [x])]);
    await expectOutput('rescale', scalar, [], [0, 127.5, 255], [-1, 0, 1]);
    const numpy = { class_name: '__numpy__', config: { value: [1, 0.5, 0.25], dtype: 'float32' } };
    const perChannel = chain([1, 1, 3], [(x) => layer('Rescaling', 'rescale', { scale: numpy, offset: 0.5 }, [x])]);
    await expectOutput('rescale-channels', perChannel, [], [4, 4, 4], [4.5, 2.5, 1.5]);
  });

  it('runs GELU exactly (erf) and in its tanh form, as an activation, a layer, a function object and a keras.ops call', async () => {
    assertClose(GELU_INPUTS.map(geluExact), GELU_EXACT, 1e-12, 'reference erf');
    assertClose(GELU_INPUTS.map(geluTanh), GELU_TANH, 1e-12, 'reference tanh');
    // The two forms differ by more than the tolerance: a test comparing with the wrong one fails.
    assert.ok(Math.abs(GELU_EXACT[4] - GELU_TANH[4]) > 1e-4);
    const identity = Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? 1 : 0));
    const tokens = (x: string) => layer('Reshape', 'tokens', { target_shape: [2, 3] }, [x]);
    const denseGelu = (activation: unknown) =>
      chain(
        [1, 2, 3],
        [
          tokens,
          (x) => layer('Dense', 'dense', { units: 3, activation, use_bias: true, kernel_initializer: null, bias_initializer: null }, [x]),
        ],
      );
    const weights = vars('dense', [[3, 3], identity], [[3], [0, 0, 0]]);
    await expectOutput('dense-gelu', denseGelu('gelu'), weights, GELU_INPUTS, GELU_EXACT);
    const fn = { module: 'keras.activations', class_name: 'function', config: 'gelu', registered_name: 'gelu' };
    await expectOutput('dense-gelu-object', denseGelu(fn), weights, GELU_INPUTS, GELU_EXACT);

    const activationLayer = chain([2, 3, 1], [(x) => layer('Activation', 'act', { activation: 'gelu' }, [x])]);
    await expectOutput('activation-gelu', activationLayer, [], GELU_INPUTS, GELU_EXACT);
    for (const approximate of [true, false]) {
      const op = chain([2, 3, 1], [(x) => operation('keras.src.ops.nn', 'Gelu', 'gelu', { approximate }, [x])]);
      await expectOutput(`ops-gelu-${approximate}`, op, [], GELU_INPUTS, approximate ? GELU_TANH : GELU_EXACT);
    }
  });

  it('runs Dense on tokens, Permute, Add (layer and keras.ops), Dropout and GlobalAveragePooling1D', async () => {
    const kernel = numbers(16, 3);
    const bias = numbers(4, 4);
    const config = chain(
      [2, 2, 3],
      [
        (x) => layer('Reshape', 'tokens', { target_shape: [4, 3] }, [x]),
        (x) => layer('Permute', 'swap', { dims: [2, 1] }, [x]),
        (x) => layer('Dense', 'mix', { units: 4, activation: 'linear', use_bias: true }, [x]),
        () => layer('Add', 'residual', {}, [['swap', 'mix']]),
        () => operation('keras.src.ops.numpy', 'Add', 'add', {}, ['residual', 'mix']),
        (x) => layer('Dropout', 'drop', { rate: 0.4, seed: null, noise_shape: null }, [x]),
        (x) => layer('GlobalAveragePooling1D', 'pool', { data_format: 'channels_last', keepdims: false }, [x]),
      ],
      false,
    );
    const image = numbers(12, 5, 2);
    const swapped = Array.from({ length: 12 }, (_, i) => image[(i % 4) * 3 + Math.floor(i / 4)]);
    const mixed = dense(swapped, kernel, bias, 4, 4);
    const summed = mixed.map((m, i) => swapped[i] + 2 * m);
    const pooled = [0, 1, 2, 3].map((c) => (summed[c] + summed[4 + c] + summed[8 + c]) / 3);
    await expectOutput('tokens', config, vars('dense', [[4, 4], kernel], [[4], bias]), image, pooled);
  });

  it('runs Dense alone on tokens [batch, tokens, channels]', async () => {
    const [kernel, bias] = [numbers(6, 10), numbers(2, 11)];
    const config = chain(
      [2, 2, 3],
      [
        (x) => layer('Reshape', 'tokens', { target_shape: [4, 3] }, [x]),
        (x) => layer('Dense', 'mix', { units: 2, activation: 'linear' }, [x]),
      ],
    );
    const image = numbers(12, 12, 2);
    await expectOutput('dense-tokens', config, vars('dense', [[3, 2], kernel], [[2], bias]), image, dense(image, kernel, bias, 3, 2));
  });

  it("runs 7×7 DepthwiseConv2D and ConvNeXt's grouped Conv2D (groups = channels) as depthwise convolutions", async () => {
    const image = numbers(8 * 8 * 2, 6);
    const kernel = numbers(7 * 7 * 2 * 2, 7, 0.5);
    const bias = numbers(4, 8);
    const depthwise = chain(
      [8, 8, 2],
      [
        (x) =>
          layer(
            'DepthwiseConv2D',
            'dw',
            {
              kernel_size: [7, 7],
              strides: [1, 1],
              padding: 'same',
              depth_multiplier: 2,
              data_format: 'channels_last',
              dilation_rate: [1, 1],
              activation: 'linear',
              use_bias: true,
            },
            [x],
          ),
      ],
    );
    const want = depthwiseSame(image, [8, 8, 2], kernel, 7, 2, bias);
    await expectOutput('depthwise', depthwise, vars('depthwise_conv2d', [[7, 7, 2, 2], kernel], [[4], bias]), image, want, 1e-4);
    // Keras stores a grouped kernel as [7, 7, 1, filters]; with one input channel per group it is the same numbers.
    const grouped = chain(
      [8, 8, 2],
      [
        (x) =>
          layer(
            'Conv2D',
            'grouped',
            {
              filters: 4,
              kernel_size: [7, 7],
              strides: [1, 1],
              padding: 'same',
              data_format: 'channels_last',
              dilation_rate: [1, 1],
              groups: 2,
              activation: 'linear',
              use_bias: true,
            },
            [x],
          ),
      ],
    );
    await expectOutput('grouped', grouped, vars('conv2d', [[7, 7, 1, 4], kernel], [[4], bias]), image, want, 1e-4);
    const twoPerGroup = chain(
      [8, 8, 4],
      [(x) => layer('Conv2D', 'grouped', { filters: 4, kernel_size: [3, 3], padding: 'same', groups: 2, use_bias: false }, [x])],
    );
    await expectRefusal(
      'two-per-group',
      twoPerGroup,
      vars('conv2d', [[3, 3, 2, 4], numbers(72, 9)]),
      /layer "grouped" weight "depthwise_kernel" is a grouped convolution \(groups=2\) whose groups take 2 input channels each/,
    );
  });

  it("runs Keras's ConvNeXt LayerScale and refuses a LayerScale from anywhere else by name", async () => {
    const gamma = [0.5, -2, 1e-6];
    const scale = (module: string) =>
      chain(
        [1, 2, 3],
        [
          (x) =>
            layer('LayerScale', 'block_layer_scale', { init_values: 1e-6, projection_dim: 3 }, [x], {
              module,
              registeredName: 'LayerScale',
            }),
        ],
      );
    const image = [1, 2, 3, -4, 5, 6];
    await expectOutput(
      'layerscale',
      scale('keras.src.applications.convnext'),
      vars('layer_scale', [[3], gamma]),
      image,
      image.map((v, i) => v * gamma[i % 3]),
    );
    await expectRefusal(
      'custom-scale',
      scale('my_models.blocks'),
      vars('layer_scale', [[3], gamma]),
      /"block_layer_scale" \(custom class LayerScale, module my_models\.blocks\)/,
    );
  });

  it('keeps the layers written for Keras files out of TF.js model.json files', () => {
    for (const cls of ['Normalization', 'LayerScale', 'MultiHeadAttention'])
      assert.match(layerClassProblem(cls) ?? '', /does not implement/, cls);
    assert.equal(layerClassProblem('LayerNormalization'), null);
  });

  it('names each layer or operation it cannot run, and why', async () => {
    const config = chain(
      [2, 2, 4],
      [
        (x) => layer('RMSNormalization', 'rms', { axis: -1, epsilon: 1e-6 }, [x]),
        (x) => layer('LayerNormalization', 'old_rms', { axis: -1, rms_scaling: true }, [x]),
        (x) => operation('keras.src.ops.numpy', 'Transpose', 'transpose', { axes: null }, [x]),
        (x) => operation('keras.src.ops.numpy', 'Multiply', 'times_two', {}, [x, 2]),
        (x) => layer('Dense', 'head', { units: 2, activation: 'hard_silu' }, [x]),
      ],
    );
    const file = await archive('unsupported', config);
    await assert.rejects(loadModel(file), (error: Error) => {
      assert.ok(error instanceof ModelError);
      assert.match(error.message, /5 layers CNN Lens cannot import/);
      assert.match(error.message, /"rms" \(RMSNormalization, which TensorFlow\.js does not implement\)/);
      assert.match(error.message, /"old_rms" \(LayerNormalization with rms_scaling=True\)/);
      assert.match(error.message, /"transpose" \(the keras\.ops operation Transpose, which CNN Lens does not translate into a layer\)/);
      assert.match(error.message, /"times_two" \(the keras\.ops operation Multiply with a constant or keyword operand/);
      assert.match(error.message, /"head" \(Dense with activation "hard_silu", which TensorFlow\.js does not have\)/);
      return true;
    });
  });
});
