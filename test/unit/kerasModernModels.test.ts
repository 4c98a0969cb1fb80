/**
 * Today's architectures end to end, as `.keras` archives written as Keras 3 saves them: a ViT in miniature
 * and a ConvNeXt stage (Keras's own block: PreStem Normalization, grouped 7×7 convolution, LayerNormalization,
 * Dense on pixels, GELU, LayerScale, the residual added with keras.ops). On cpu and on wasm, each model's
 * scores equal a double-precision reference (helpers/kerasReference.ts), its input gradient equals central
 * differences of that reference, and a gradient technique runs, with no tensor left behind.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { Engine } from '../../src/engine/engine';
import { tf } from '../../src/engine/tfjs/tf';
import { attentionDatasets, layer, mha, operation, writeKerasArchive, type Dataset, type Json } from './helpers/kerasArchive';
import { assertClose, chain, loadChecked, predict } from './helpers/kerasChecks';
import { attentionWeights, attention, dense, depthwiseSame, geluExact, layerNorm, numbers } from './helpers/kerasReference';
import { noiseImage, tempDir } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

interface Model {
  config: Json;
  datasets: Dataset[];
  inputShape: number[];
  reference: (image: ArrayLike<number>) => number[];
}

/** A ViT in miniature: 2×2 patches → LayerNorm → attention + residual → LayerNorm → GELU MLP + residual → LayerNorm → pool → head. */
function tinyVit(): Model {
  const c = 6;
  const patchKernel = numbers(2 * 2 * 3 * c, 51, 0.5);
  const patchBias = numbers(c, 52, 0.1);
  const norms = [53, 55, 57].map((s) => [Float32Array.from(numbers(c, s, 0.3), (v) => 1 + v), numbers(c, s + 1, 0.2)]);
  const w = attentionWeights(2, 3, 3, { q: c, v: c, k: c }, c, 59);
  const [up, upBias, down, downBias, head, headBias] = [
    numbers(c * 12, 61, 0.5),
    numbers(12, 62, 0.1),
    numbers(12 * c, 63, 0.5),
    numbers(c, 64, 0.1),
    numbers(c * 3, 65),
    numbers(3, 66),
  ];
  const ln = (name: string) => (x: string) => layer('LayerNormalization', name, { axis: [2], epsilon: 1e-6 }, [x]);
  const config = chain(
    [4, 4, 3],
    [
      (x) =>
        layer(
          'Conv2D',
          'patchify',
          { filters: c, kernel_size: [2, 2], strides: [2, 2], padding: 'valid', groups: 1, activation: 'linear', use_bias: true },
          [x],
        ),
      (x) => layer('Reshape', 'tokens', { target_shape: [4, c] }, [x]),
      ln('ln_1'),
      (x) => mha('mha', { num_heads: 2, key_dim: 3, attention_axes: [1] }, [x, x]),
      () => operation('keras.src.ops.numpy', 'Add', 'add', {}, ['tokens', 'mha']),
      ln('ln_2'),
      (x) => layer('Dense', 'mlp_up', { units: 12, activation: 'gelu' }, [x]),
      (x) => layer('Dense', 'mlp_down', { units: c }, [x]),
      () => layer('Add', 'residual', {}, [['add', 'mlp_down']]),
      ln('ln_3'),
      (x) => layer('GlobalAveragePooling1D', 'pool', { data_format: 'channels_last', keepdims: false }, [x]),
      (x) => layer('Dense', 'head', { units: 3 }, [x]),
    ],
    false,
  );
  const datasets: Dataset[] = [
    { path: 'layers/conv2d/vars/0', shape: [2, 2, 3, c], data: patchKernel },
    { path: 'layers/conv2d/vars/1', shape: [c], data: patchBias },
    ...norms.flatMap(([gamma, beta], i) => [
      { path: `layers/layer_normalization${i ? `_${i}` : ''}/vars/0`, shape: [c], data: gamma },
      { path: `layers/layer_normalization${i ? `_${i}` : ''}/vars/1`, shape: [c], data: beta },
    ]),
    ...attentionDatasets(w, { q: c, v: c, k: c }, c).datasets,
    ...[
      [up, [c, 12]],
      [upBias, [12]],
      [down, [12, c]],
      [downBias, [c]],
      [head, [c, 3]],
      [headBias, [3]],
    ].map(([data, shape], i) => ({
      path: `layers/dense${i < 2 ? '' : `_${Math.floor(i / 2)}`}/vars/${i % 2}`,
      shape: shape as number[],
      data: data as Float32Array,
    })),
  ];
  const reference = (image: ArrayLike<number>) => {
    // Patch (py, px) flattened in the kernel's (dy, dx, channel) order.
    const patches = [0, 1, 2, 3].flatMap((p) =>
      [0, 1, 2, 3].flatMap((q) =>
        [0, 1, 2].map((ch) => image[((2 * Math.floor(p / 2) + Math.floor(q / 2)) * 4 + 2 * (p % 2) + (q % 2)) * 3 + ch]),
      ),
    );
    const tokens = dense(patches, patchKernel, patchBias, 12, c);
    const normed = layerNorm(tokens, c, norms[0][0], norms[0][1], 1e-6);
    const added = attention(normed, normed, normed, w, { q: c, v: c, k: c }, c).map((v, i) => v + tokens[i]);
    const mlp = dense(dense(layerNorm(added, c, norms[1][0], norms[1][1], 1e-6), up, upBias, c, 12).map(geluExact), down, downBias, 12, c);
    const out = layerNorm(
      mlp.map((v, i) => v + added[i]),
      c,
      norms[2][0],
      norms[2][1],
      1e-6,
    );
    const pooled = Array.from({ length: c }, (_, ch) => (out[ch] + out[c + ch] + out[2 * c + ch] + out[3 * c + ch]) / 4);
    return dense(pooled, head, headBias, c, 3);
  };
  return { config, datasets, inputShape: [4, 4, 3], reference };
}

/** Keras's ConvNeXt PreStem and a block of its own (keras/src/applications/convnext.py) on a 5×5 RGB image, with its head. */
function tinyConvNext(): Model {
  const c = 3;
  const mean = [0.485 * 255, 0.456 * 255, 0.406 * 255];
  const variance = [(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2];
  const [dwKernel, dwBias] = [numbers(7 * 7 * c, 71, 0.4), numbers(c, 72, 0.1)];
  const norms = [73, 75].map((s) => [Float32Array.from(numbers(c, s, 0.3), (v) => 1 + v), numbers(c, s + 1, 0.2)]);
  const [up, upBias, down, downBias, head, headBias] = [
    numbers(c * 16, 77, 0.5),
    numbers(16, 78, 0.1),
    numbers(16 * c, 79, 0.5),
    numbers(c, 80, 0.1),
    numbers(c * 3, 81),
    numbers(3, 82),
  ];
  const gamma = numbers(c, 83, 1);
  const block = 'stage_0_block_0';
  const config = chain(
    [5, 5, c],
    [
      (x) => layer('Normalization', 'prestem', { axis: [-1], invert: false, mean, variance }, [x]),
      (x) =>
        layer(
          'Conv2D',
          `${block}_depthwise_conv`,
          {
            filters: c,
            kernel_size: [7, 7],
            strides: [1, 1],
            padding: 'same',
            data_format: 'channels_last',
            dilation_rate: [1, 1],
            groups: c,
            activation: 'linear',
            use_bias: true,
          },
          [x],
        ),
      (x) => layer('LayerNormalization', `${block}_layernorm`, { axis: [3], epsilon: 1e-6 }, [x]),
      (x) => layer('Dense', `${block}_pointwise_conv_1`, { units: 16, activation: 'linear' }, [x]),
      (x) => layer('Activation', `${block}_gelu`, { activation: 'gelu' }, [x]),
      (x) => layer('Dense', `${block}_pointwise_conv_2`, { units: c, activation: 'linear' }, [x]),
      (x) =>
        layer('LayerScale', `${block}_layer_scale`, { init_values: 1e-6, projection_dim: c }, [x], {
          module: 'keras.src.applications.convnext',
          registeredName: 'LayerScale',
        }),
      (x) => layer('Activation', `${block}_identity`, { activation: 'linear' }, [x]),
      (x) => operation('keras.src.ops.numpy', 'Add', 'add', {}, ['prestem', x]),
      (x) => layer('GlobalAveragePooling2D', 'head_gap', { data_format: 'channels_last', keepdims: false }, [x]),
      (x) => layer('LayerNormalization', 'head_layernorm', { axis: [1], epsilon: 1e-6 }, [x]),
      (x) => layer('Dense', 'head_dense', { units: 3, activation: null }, [x]),
    ],
    false,
  );
  const pair = (group: string, kernel: [number[], Float32Array], bias: [number[], Float32Array]): Dataset[] => [
    { path: `layers/${group}/vars/0`, shape: kernel[0], data: kernel[1] },
    { path: `layers/${group}/vars/1`, shape: bias[0], data: bias[1] },
  ];
  const datasets = [
    ...pair('conv2d', [[7, 7, 1, c], dwKernel], [[c], dwBias]),
    ...pair('layer_normalization', [[c], norms[0][0]], [[c], norms[0][1]]),
    ...pair('dense', [[c, 16], up], [[16], upBias]),
    ...pair('dense_1', [[16, c], down], [[c], downBias]),
    { path: 'layers/layer_scale/vars/0', shape: [c], data: gamma },
    ...pair('layer_normalization_1', [[c], norms[1][0]], [[c], norms[1][1]]),
    ...pair('dense_2', [[c, 3], head], [[3], headBias]),
  ];
  const reference = (image: ArrayLike<number>) => {
    const x = Array.from(image, (v, i) => (v - mean[i % c]) / Math.sqrt(variance[i % c]));
    const conv = depthwiseSame(x, [5, 5, c], dwKernel, 7, 1, dwBias);
    const mlp = dense(dense(layerNorm(conv, c, norms[0][0], norms[0][1], 1e-6), up, upBias, c, 16).map(geluExact), down, downBias, 16, c);
    const out = mlp.map((v, i) => x[i] + v * gamma[i % c]);
    const pooled = Array.from({ length: c }, (_, ch) => out.filter((_, i) => i % c === ch).reduce((a, b) => a + b, 0) / 25);
    return dense(layerNorm(pooled, c, norms[1][0], norms[1][1], 1e-6), head, headBias, c, 3);
  };
  return { config, datasets, inputShape: [5, 5, c], reference };
}

/** Scores, the input gradient of class 1 (against central differences of the reference) and a saliency map. */
async function checkModel(name: string, model: Model, backend: 'cpu' | 'wasm', image: Float32Array, pixels: number[]): Promise<void> {
  const engine = await Engine.create({ backend, onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
  const file = await writeKerasArchive(path.join(tempDir(), `${name}.keras`), model.config, model.datasets);
  await loadChecked(file, async (loaded) => {
    assertClose(predict(loaded, image), model.reference(image), 1e-4, `${name} scores on ${backend}`);
    const gradient = tf.tidy(() => {
      const score = (x: tf.Tensor) =>
        loaded.adapter
          .scores(x as Tensor4D)
          .slice([0, 1], [1, 1])
          .sum();
      return tf
        .grad(score)(tf.tensor(Array.from(image), [1, ...model.inputShape]))
        .dataSync();
    });
    const h = 1e-4;
    for (const i of pixels) {
      // In doubles: a float32 pixel near 125 would round the step itself by several per cent.
      const [plus, minus] = [h, -h].map((d) => model.reference(Array.from(image, (v, j) => (j === i ? v + d : v)))[1]);
      const numeric = (plus - minus) / (2 * h);
      assert.ok(
        Math.abs(gradient[i] - numeric) <= 2e-4 * Math.abs(numeric) + 1e-7,
        `${name} on ${backend}: d score / d input ${i} is ${gradient[i]}, by differences ${numeric}`,
      );
    }
    const [height, width] = model.inputShape;
    const result = await engine.explain(loaded, noiseImage(width, height, 3), { technique: 'saliency', classTarget: 1 });
    assert.ok(
      result.rawMap.data.some((v) => v > 0),
      `${name} on ${backend}: saliency gives a map`,
    );
  });
}

describe('Keras import: ViT- and ConvNeXt-style models end to end', () => {
  after(async () => {
    await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`a ViT in miniature on ${backend}`, async () => {
      await checkModel('vit', tinyVit(), backend, numbers(48, 70, 1.5), [0, 7, 20, 33, 47]);
    });

    it(`a ConvNeXt block on ${backend}`, async () => {
      const image = Float32Array.from(numbers(75, 84, 120), (v) => v + 125);
      await checkModel('convnext', tinyConvNext(), backend, image, [0, 13, 50, 61, 74]);
    });
  }
});
