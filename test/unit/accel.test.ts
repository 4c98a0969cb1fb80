/**
 * onnxruntime runs CNN Lens's own ONNX export of a layers model: scores, the head after a layer, input
 * gradients (under ReLU rules too) and a layer's gradients must equal TF.js's on the same model. TF.js
 * (cpu backend, its own autodiff) is the independent reference here; its gradients are themselves
 * checked against finite differences in gradientTechniques.test.ts.
 */
import { strict as assert } from 'node:assert';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { MAX_SESSIONS } from '../../src/engine/accel/accelerator';
import { bundledModelPath } from '../../src/engine/bundledModel';
import { Engine } from '../../src/engine/engine';
import { loadModel } from '../../src/engine/models/loadModel';
import { LayersAdapter } from '../../src/engine/models/layers/layersAdapter';
import type { ReluRule } from '../../src/engine/models/reluRules';
import { pearson } from '../../src/engine/metrics/rankCorrelation';
import { gaussianValues } from '../../src/engine/random';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { fixture, requireFixtures } from './helpers/fixtures';
import { acceleration, collectLog, onTfjs, relativeGap } from './helpers/acceleration';
import { inGraphGradCam } from '../../src/engine/techniques/gradCam';
import { inGraphPathSum } from '../../src/engine/techniques/integratedGradients';
import { inGraphMaskedScores } from '../../src/engine/techniques/scoreCam';
import { inGraphNoiseSums } from '../../src/engine/techniques/smoothGrad';
import { noiseImage, saveModel, tempDir } from './helpers/tinyModels';

type Sym = tfl.SymbolicTensor;
type Initializer = ReturnType<typeof tfl.initializers.randomNormal>;

function seeded(): () => Initializer {
  let seed = 11;
  return () => tfl.initializers.randomNormal({ stddev: 0.4, seed: seed++ });
}

function bn(init: () => Initializer) {
  return tfl.layers.batchNormalization({
    betaInitializer: init(),
    gammaInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 3 }),
    movingMeanInitializer: init(),
    movingVarianceInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: 4 }),
  });
}

/**
 * Every op with a gradient rule: strided and valid convolutions, a depthwise one with a multiplier,
 * batch norm, ReLU/ReLU6/LeakyReLU/sigmoid/tanh, zero padding, max pooling with 'same' padding (overlapping
 * windows, and windows that do not overlap), a residual Add, Concatenate, a Multiply of two computed tensors, GAP and a softmax Dense.
 */
function gradientModel(): tfl.LayersModel {
  const init = seeded();
  const input = tfl.input({ shape: [13, 13, 3] });
  let x = tfl.layers
    .conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init(), biasInitializer: init(), name: 'stem' })
    .apply(input) as Sym;
  x = tfl.layers.reLU({ maxValue: 6 }).apply(bn(init).apply(x)) as Sym;
  x = tfl.layers
    .zeroPadding2d({
      padding: [
        [1, 0],
        [0, 2],
      ],
    })
    .apply(x) as Sym;
  x = tfl.layers
    .depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid', depthwiseInitializer: init(), name: 'dw' })
    .apply(x) as Sym;
  x = tfl.layers.leakyReLU({ alpha: 0.2 }).apply(x) as Sym;
  x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as Sym;
  const branch = tfl.layers
    .conv2d({ filters: 12, kernelSize: 3, padding: 'same', activation: 'tanh', kernelInitializer: init(), name: 'branch' })
    .apply(x) as Sym;
  const residual = tfl.layers.add().apply([x, branch]) as Sym;
  const gate = tfl.layers
    .conv2d({ filters: 12, kernelSize: 1, activation: 'sigmoid', kernelInitializer: init(), name: 'gate' })
    .apply(residual) as Sym;
  const gated = tfl.layers.multiply().apply([residual, gate]) as Sym;
  const joined = tfl.layers.concatenate().apply([gated, residual]) as Sym;
  const features = tfl.layers
    .conv2d({ filters: 8, kernelSize: 1, activation: 'relu', kernelInitializer: init(), biasInitializer: init(), name: 'features' })
    .apply(joined) as Sym;
  // Windows that do not overlap, padded at the bottom ('same' on 3 rows): the MaxUnpool route.
  const halved = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(features) as Sym;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(halved) as Sym;
  const out = tfl.layers.dense({ units: 5, activation: 'softmax', kernelInitializer: init(), name: 'scores' }).apply(pooled) as Sym;
  return tfl.model({ inputs: input, outputs: out });
}

/**
 * Forward-only ops (no gradient rule, or none needed): a dilated convolution (TF.js cannot differentiate
 * it), average pooling, ELU, swish, flatten, global max pooling, dropout.
 */
function forwardModel(): tfl.LayersModel {
  const init = seeded();
  const input = tfl.input({ shape: [12, 12, 2] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'elu', kernelInitializer: init() }).apply(input) as Sym;
  x = tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(x) as Sym;
  x = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', dilationRate: 2, activation: 'swish', kernelInitializer: init() })
    .apply(x) as Sym;
  const averaged = tfl.layers
    .average()
    .apply([x, tfl.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: init() }).apply(x) as Sym]) as Sym;
  const flat = tfl.layers.flatten().apply(tfl.layers.dropout({ rate: 0.5 }).apply(averaged) as Sym) as Sym;
  const maxed = tfl.layers.globalMaxPooling2d({}).apply(averaged) as Sym;
  const both = tfl.layers.concatenate().apply([flat, maxed]) as Sym;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: init() }).apply(both) as Sym;
  return tfl.model({ inputs: input, outputs: out });
}

describe('onnxruntime acceleration (exported layers models)', function () {
  before(async function () {
    // TF.js's own gradients are the reference: the cpu backend has every gradient kernel (wasm lacks some).
    await selectBackend({ choice: 'cpu', log: () => undefined });
    const { runtime, reason } = acceleration.state;
    // onnxruntime-node is an optional dependency that npm ci installs here and on CI: its absence is a failure.
    assert.ok(runtime, `onnxruntime-node should load: ${reason}`);
  });

  it('gives TF.js scores, input gradients (stock, guided, deconvnet) and layer gradients, leaking nothing', () => {
    const before = tf.memory().numTensors;
    const model = gradientModel();
    const adapter = new LayersAdapter(model, acceleration);
    const x = tf.randomUniform([3, 13, 13, 3], -3, 3, 'float32', 5) as tf.Tensor4D;
    const scores = adapter.scores(x);
    const reference = onTfjs(() => adapter.scores(x));
    assert.ok(relativeGap(scores, reference) < 1e-5, `scores: ${relativeGap(scores, reference)}`);
    for (const rule of [null, 'guided', 'deconvnet'] as (ReluRule | null)[]) {
      const fast = adapter.accelerated()!.inputGradient(x, 2, rule);
      assert.ok(fast, `the ${rule ?? 'stock'} gradient runs on onnxruntime`);
      const slow = onTfjs(() =>
        tf.grad((input: tf.Tensor) =>
          adapter
            .scores(input as tf.Tensor4D, rule)
            .slice([0, 2], [-1, 1])
            .sum(),
        )(x),
      );
      assert.ok(tf.tidy(() => tf.max(tf.abs(slow)).dataSync()[0]) > 0, 'the class score depends on the input');
      assert.ok(relativeGap(fast, slow) < 1e-4, `${rule ?? 'stock'} input gradient: ${relativeGap(fast, slow)}`);
      tf.dispose([fast, slow]);
    }
    for (const layer of ['dw', 'branch', 'features']) {
      // split keeps its forward pass's tensors for the head: it runs inside a tidy.
      const gaps = tf.tidy(() => {
        const image = x.slice([1, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
        const fast = adapter.accelerated()!.layerGradient(image, layer, 4);
        assert.ok(fast, `layer ${layer} runs on onnxruntime`);
        const split = onTfjs(() => adapter.split(image, layer));
        const slow = onTfjs(() =>
          tf.grad((a: tf.Tensor) =>
            split
              .head(a as tf.Tensor4D)
              .slice([0, 4], [-1, 1])
              .sum(),
          )(split.activations),
        );
        // The head (Ablation-CAM's batched forward passes) from replaced activations.
        const replaced = split.activations.mul(tf.randomUniform(split.activations.shape, 0, 2, 'float32', 9)) as tf.Tensor4D;
        return {
          activations: relativeGap(fast.activations, split.activations),
          gradients: relativeGap(fast.gradients, slow),
          head: relativeGap(
            split.head(replaced),
            onTfjs(() => split.head(replaced)),
          ),
        };
      });
      assert.ok(gaps.activations < 1e-5, `${layer} activations: ${gaps.activations}`);
      assert.ok(gaps.gradients < 1e-4, `${layer} gradient: ${gaps.gradients}`);
      assert.ok(gaps.head < 1e-5, `${layer} head: ${gaps.head}`);
    }
    // Score-CAM's masked batch, built and scored in one onnxruntime run, against the same masks in TF.js.
    const maskedGap = tf.tidy(() => {
      const image = x.slice([0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
      const maps = tf.randomUniform([5, 4, 4, 1], -1, 2, 'float32', 8) as tf.Tensor4D;
      const fast = inGraphMaskedScores(adapter, image, maps);
      assert.ok(fast, 'the masked batch runs on onnxruntime');
      const masks = tf.image.resizeBilinear(maps, [13, 13], false, true);
      const low = tf.min(masks, [1, 2, 3], true);
      const scaled = masks.sub(low).div(tf.max(masks, [1, 2, 3], true).sub(low).add(1e-8));
      return relativeGap(
        fast,
        onTfjs(() => adapter.scores(image.mul(scaled) as tf.Tensor4D)),
      );
    });
    assert.ok(maskedGap < 1e-5, `masked scores: ${maskedGap}`);
    tf.dispose([x, scores, reference]);
    adapter.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it('reads layers (after and before their rectifiers) differentiably: gradients of any objective through them, under ReLU rules too', () => {
    const before = tf.memory().numTensors;
    const model = gradientModel();
    const adapter = new LayersAdapter(model, acceleration);
    const x = tf.randomUniform([2, 13, 13, 3], -3, 3, 'float32', 13) as tf.Tensor4D;
    // A TF.js objective around the layer, as activation maximisation and deep dream use.
    const objective = (a: tf.Tensor) => tf.sum(tf.square(a.slice([0, 0, 0, 1], [-1, -1, -1, 1])));
    const rectifiers = adapter.layers.filter((l) => l.kind === 'ReLU' || l.kind === 'LeakyReLU').map((l) => l.name);
    assert.equal(rectifiers.length, 2);
    const lines: string[] = [];
    collectLog(lines);
    for (const layer of ['stem', 'dw', 'branch', 'features', ...rectifiers]) {
      for (const beforeRectifier of [false, true]) {
        for (const rule of [null, 'guided'] as (ReluRule | null)[]) {
          const gaps = tf.tidy(() => {
            const value = adapter.layerOutput(x, layer, rule, beforeRectifier);
            const reference = onTfjs(() => adapter.layerOutput(x, layer, rule, beforeRectifier));
            const gradient = tf.grad((input: tf.Tensor) =>
              objective(adapter.layerOutput(input as tf.Tensor4D, layer, rule, beforeRectifier)),
            )(x);
            const gradientReference = onTfjs(() =>
              tf.grad((input: tf.Tensor) => objective(adapter.layerOutput(input as tf.Tensor4D, layer, rule, beforeRectifier)))(x),
            );
            return { value: relativeGap(value, reference), gradient: relativeGap(gradient, gradientReference) };
          });
          const what = `${layer}${beforeRectifier ? ' before its rectifier' : ''}, ${rule ?? 'stock'}`;
          assert.ok(gaps.value < 1e-5, `${what}: value ${gaps.value}`);
          assert.ok(gaps.gradient < 1e-4, `${what}: gradient ${gaps.gradient}`);
        }
      }
    }
    // The class score under tf.grad (class-image generation), and an input of another size (deep dream's octaves): TF.js.
    const gaps = tf.tidy(() => {
      const score = (input: tf.Tensor) =>
        adapter
          .scores(input as tf.Tensor4D, 'guided')
          .slice([0, 3], [-1, 1])
          .sum();
      const small = tf.randomUniform([1, 9, 9, 3], -3, 3, 'float32', 2) as tf.Tensor4D;
      return {
        score: relativeGap(
          tf.grad(score)(x),
          onTfjs(() => tf.grad(score)(x)),
        ),
        small: relativeGap(
          adapter.layerOutput(small, 'dw'),
          onTfjs(() => adapter.layerOutput(small, 'dw')),
        ),
      };
    });
    assert.ok(gaps.score < 1e-4, `class score gradient: ${gaps.score}`);
    assert.deepEqual(lines, [], 'everything above ran on onnxruntime');
    const sessions = [...(adapter as unknown as { accelerator: { sessions: Map<string, unknown> } }).accelerator.sessions.keys()];
    assert.ok(
      sessions.some((key) => /^out:\d+:value$/.test(key)) && sessions.some((key) => /^gradient:\d+:value:guided$/.test(key)),
      sessions.join(', '),
    );
    assert.ok(gaps.small < 1e-6, `another input size: ${gaps.small}`);
    tf.dispose(x);
    adapter.dispose();
    assert.equal(tf.memory().numTensors, before);
  });

  it("computes Grad-CAM's map inside onnxruntime as TF.js combines its own gradients, at every spatial layer, leaking nothing", () => {
    const adapter = new LayersAdapter(gradientModel(), acceleration);
    const image = tf.randomUniform([1, 13, 13, 3], -3, 3, 'float32', 12) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const layers = adapter.layers.filter((l) => l.outputShape.length === 3).map((l) => l.name);
    for (const layer of layers) {
      const gap = tf.tidy(() => {
        const fast = inGraphGradCam(adapter, image, layer, 1);
        assert.ok(fast, `${layer}: onnxruntime computes it`);
        const slow = onTfjs(() => {
          const { activations, head } = adapter.split(image, layer);
          const gradients = tf.grad((a: tf.Tensor) =>
            head(a as tf.Tensor4D)
              .slice([0, 1], [1, 1])
              .sum(),
          )(activations);
          return tf.sum(activations.mul(tf.mean(gradients, [1, 2], true)), 3);
        });
        assert.deepEqual(fast.shape, slow.shape);
        return relativeGap(fast, slow);
      });
      assert.ok(gap < 1e-5, `${layer}: ${gap}`);
    }
    assert.equal(tf.memory().numTensors, before);
    image.dispose();
    adapter.dispose();
  });

  it("sums input gradients along integrated gradients' path and over SmoothGrad's noisy copies inside onnxruntime as TF.js does", () => {
    const adapter = new LayersAdapter(gradientModel(), acceleration);
    const before = tf.memory().numTensors;
    const gaps = tf.tidy(() => {
      const origin = tf.randomUniform([1, 13, 13, 3], -3, 3, 'float32', 21) as tf.Tensor4D;
      const step = tf.randomUniform([1, 13, 13, 3], -3, 3, 'float32', 22) as tf.Tensor4D;
      const classGradient = (points: tf.Tensor4D, rule: ReluRule | null) =>
        onTfjs(() =>
          tf.grad((v: tf.Tensor) =>
            adapter
              .scores(v as tf.Tensor4D, rule)
              .slice([0, 1], [-1, 1])
              .sum(),
          )(points),
        );
      const path = { origin, step, alphas: [0.1, 0.5, 0.9], weights: [0.2, 0.3, 0.5] };
      const alongPath = inGraphPathSum(adapter, path, 1);
      assert.ok(alongPath, 'onnxruntime sums the path');
      const pathPoints = origin.add(step.mul(tf.tensor1d(path.alphas).reshape([-1, 1, 1, 1]))) as tf.Tensor4D;
      const pathReference = tf.sum(classGradient(pathPoints, null).mul(tf.tensor1d(path.weights).reshape([-1, 1, 1, 1])), 0, true);
      const found: Record<string, number> = { path: relativeGap(alongPath, pathReference) };
      const dims = [4, 13, 13, 3];
      const offsets = { data: gaussianValues(4 * 13 * 13 * 3, 0, 0.5, 4), dims };
      for (const rule of [null, 'guided'] as const) {
        const noisy = inGraphNoiseSums(adapter, { origin, offsets }, 1, { rule, timesInput: false });
        assert.ok(noisy?.squares, `onnxruntime sums the noisy copies (${rule})`);
        const gradients = classGradient(origin.add(tf.tensor(offsets.data, dims)) as tf.Tensor4D, rule);
        found[`noise ${rule} sum`] = relativeGap(noisy.sum, tf.sum(gradients, 0, true));
        found[`noise ${rule} squares`] = relativeGap(noisy.squares, tf.sum(gradients.square(), 0, true));
      }
      // Gradient × image over the noisy copies: each gradient times its own copy.
      const copies = origin.add(tf.tensor(offsets.data, dims)) as tf.Tensor4D;
      const timesInput = inGraphNoiseSums(adapter, { origin, offsets }, 1, { rule: null, timesInput: true });
      assert.ok(timesInput?.squares, 'onnxruntime sums gradient × copy');
      const products = classGradient(copies, null).mul(copies);
      found['noise × input sum'] = relativeGap(timesInput.sum, tf.sum(products, 0, true));
      found['noise × input squares'] = relativeGap(timesInput.squares, tf.sum(products.square(), 0, true));
      return found;
    });
    for (const [what, gap] of Object.entries(gaps)) assert.ok(gap < 1e-5, `${what}: ${gap}`);
    assert.equal(tf.memory().numTensors, before);
    adapter.dispose();
  });

  it('keeps at most MAX_SESSIONS sessions, evicting the least recently used, and re-exports an evicted one', () => {
    const model = gradientModel();
    const adapter = new LayersAdapter(model, acceleration);
    const image = tf.randomUniform([1, 13, 13, 3], -3, 3, 'float32', 12) as tf.Tensor4D;
    const layers = adapter.layers.filter((l) => l.outputShape.length === 3).map((l) => l.name);
    assert.ok(layers.length > MAX_SESSIONS, 'more target layers than sessions kept');
    const gradientAt = (layer: string) =>
      tf.tidy(() => Array.from(adapter.accelerated()!.layerGradient(image, layer, 1)!.gradients.dataSync()));
    // The accelerator is the adapter's own; its session map is read here only to check the bound.
    const sessions = (adapter as unknown as { accelerator: { sessions: Map<string, unknown> } }).accelerator.sessions;
    const first = gradientAt(layers[0]);
    const firstKey = [...sessions.keys()].find((key) => key.startsWith('layer:'))!;
    layers.slice(1).forEach(gradientAt);
    assert.ok(sessions.size <= MAX_SESSIONS, `${sessions.size} sessions kept`);
    assert.ok(!sessions.has(firstKey), 'the least recently used went first');
    assert.deepEqual(gradientAt(layers[0]), first, 'an evicted layer is exported again, same gradients');
    image.dispose();
    adapter.dispose();
  });

  it('runs dilated convolution, average pooling, ELU, swish, flatten, an average and global max pooling, gradients included', () => {
    const model = forwardModel();
    const adapter = new LayersAdapter(model, acceleration);
    const before = tf.memory().numTensors;
    // tfjs has no gradient for dilated convolutions: central differences along random directions are the reference.
    const gaps = tf.tidy(() => {
      const x = tf.randomUniform([1, 12, 12, 2], -2, 2, 'float32', 8) as tf.Tensor4D;
      const gradient = adapter.accelerated()!.inputGradient(x, 0, null);
      assert.ok(gradient, 'every layer has a gradient rule');
      const directions = tf.randomNormal([6, 12, 12, 2], 0, 1, 'float32', 9) as tf.Tensor4D;
      const step = 1e-3;
      const score = (v: tf.Tensor) =>
        adapter
          .scores(v as tf.Tensor4D)
          .slice([0, 0], [-1, 1])
          .reshape([-1]);
      const differences = score(x.add(directions.mul(step)))
        .sub(score(x.sub(directions.mul(step))))
        .div(2 * step);
      const predicted = tf.sum(directions.mul(gradient), [1, 2, 3]);
      return {
        scores: relativeGap(
          adapter.scores(x),
          onTfjs(() => adapter.scores(x)),
        ),
        gradient: relativeGap(predicted, differences),
      };
    });
    assert.ok(gaps.scores < 1e-5, `scores: ${gaps.scores}`);
    assert.ok(gaps.gradient < 2e-3, `directional derivatives: ${gaps.gradient}`);
    assert.equal(tf.memory().numTensors, before);
    adapter.dispose();
  });

  it('falls back to TF.js for a gradient without a rule (softplus), saying which op', () => {
    const lines: string[] = [];
    collectLog(lines);
    const input = tfl.input({ shape: [6, 6, 1] });
    const conv = tfl.layers
      .conv2d({ filters: 2, kernelSize: 3, activation: 'softplus', kernelInitializer: seeded()() })
      .apply(input) as Sym;
    const out = tfl.layers.dense({ units: 2 }).apply(tfl.layers.globalAveragePooling2d({}).apply(conv) as Sym) as Sym;
    const adapter = new LayersAdapter(tfl.model({ inputs: input, outputs: out }), acceleration);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomUniform([1, 6, 6, 1], -1, 1, 'float32', 2) as tf.Tensor4D;
      assert.ok(
        relativeGap(
          adapter.scores(x),
          onTfjs(() => adapter.scores(x)),
        ) < 1e-5,
        'the forward pass still runs on onnxruntime',
      );
      assert.equal(adapter.accelerated()!.inputGradient(x, 0, null), null, 'TF.js differentiates');
    });
    assert.ok(
      lines.some((line) => /TF\.js computes the gradient .*no gradient rule for Softplus/.test(line)),
      lines.join('\n'),
    );
    assert.equal(tf.memory().numTensors, before);
    adapter.dispose();
  });

  it('Grad-CAM through a head without gradient rules: activations from onnxruntime, the head differentiated on TF.js, the same map', async () => {
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: 'auto', log: () => undefined });
    const tfjsEngine = await Engine.create({ backend: 'cpu', onnxRuntime: 'off', log: () => undefined });
    const input = tfl.input({ shape: [8, 8, 3] });
    const a = tfl.layers
      .conv2d({ filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: seeded()(), name: 'conv_a' })
      .apply(input) as Sym;
    const b = tfl.layers
      .conv2d({ filters: 4, kernelSize: 1, activation: 'softplus', kernelInitializer: seeded()(), name: 'conv_b' })
      .apply(a) as Sym;
    const out = tfl.layers
      .dense({ units: 3, kernelInitializer: seeded()(), name: 'logits' })
      .apply(tfl.layers.globalAveragePooling2d({}).apply(b) as Sym) as Sym;
    const saved = await saveModel(tfl.model({ inputs: input, outputs: out }), tempDir(), { preprocess: 'zero-one' });
    const image = noiseImage(8, 8, 3);
    const request = { technique: 'gradcam', layer: 'conv_a', classTarget: 1 };
    const fast = await engine.explain(await engine.loadModel(saved), image, request);
    const slow = await tfjsEngine.explain(await tfjsEngine.loadModel(saved), image, request);
    tfjsEngine.dispose();
    const scale = Math.max(...slow.rawMap.data);
    assert.ok(scale > 0, 'a map to compare');
    fast.rawMap.data.forEach((v, i) =>
      assert.ok(Math.abs(v - slow.rawMap.data[i]) < 1e-5 * scale, `cell ${i}: ${v} vs ${slow.rawMap.data[i]}`),
    );
    engine.dispose();
  });

  it(`differentiates average pooling exactly on onnxruntime and on TF.js (corrected), padded borders averaging fewer cells`, () => {
    // Linear in the input: the gradient is f(eᵢ) − f(0) for each cell, exactly.
    const init = seeded();
    const input = tfl.input({ shape: [5, 5, 2] });
    const pooled = tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(input) as Sym;
    const strided = tfl.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(pooled) as Sym;
    const flat = tfl.layers.flatten().apply(strided) as Sym;
    const model = tfl.model({
      inputs: input,
      outputs: tfl.layers.dense({ units: 3, kernelInitializer: init(), name: 'scores' }).apply(flat) as Sym,
    });
    const adapter = new LayersAdapter(model, acceleration);
    const before = tf.memory().numTensors;
    const [expected, actual, onTfjsAlone] = tf.tidy(() => {
      const basis = tf.concat([tf.zeros([1, 50]), tf.eye(50)]).reshape([51, 5, 5, 2]) as tf.Tensor4D;
      const scores = onTfjs(() => adapter.scores(basis))
        .slice([0, 1], [-1, 1])
        .reshape([51]);
      const differences = scores.slice(1).sub(scores.slice(0, 1));
      const x = tf.randomUniform([1, 5, 5, 2], -1, 1, 'float32', 3) as tf.Tensor4D;
      const gradient = adapter.accelerated()!.inputGradient(x, 1, null);
      assert.ok(gradient, 'average pooling has a gradient rule');
      const taped = onTfjs(() =>
        tf.grad((v: tf.Tensor) =>
          adapter
            .scores(v as tf.Tensor4D)
            .slice([0, 1], [-1, 1])
            .sum(),
        )(x),
      );
      return [differences, gradient, taped].map((t) => Array.from(t.dataSync()));
    });
    const scale = Math.max(...expected.map(Math.abs));
    expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) < 1e-5 * scale, `onnxruntime, cell ${i}: ${actual[i]} vs ${e}`));
    expected.forEach((e, i) => assert.ok(Math.abs(onTfjsAlone[i] - e) < 1e-5 * scale, `TF.js, cell ${i}: ${onTfjsAlone[i]} vs ${e}`));
    assert.equal(tf.memory().numTensors, before);
    adapter.dispose();
  });

  it('drops a session that fails at run time: that call and later ones fall back to TF.js, said once, nothing leaked', () => {
    const lines: string[] = [];
    collectLog(lines);
    const adapter = new LayersAdapter(gradientModel(), acceleration);
    const image = tf.randomUniform([1, 13, 13, 3], -3, 3, 'float32', 12) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    tf.tidy(() => assert.ok(adapter.accelerated()!.inputGradient(image, 1, null), 'onnxruntime differentiates it'));
    // The accelerator is the adapter's own: its gradient session is made to fail as onnxruntime does on a bad shape.
    const sessions = (adapter as unknown as { accelerator: { sessions: Map<string, { run: () => never } | null> } }).accelerator.sessions;
    const key = [...sessions.keys()].find((k) => k.startsWith('gradient:scores:'))!;
    sessions.get(key)!.run = () => {
      throw new Error('Non-zero status code returned while running MaxUnpool node');
    };
    tf.tidy(() => {
      assert.equal(adapter.accelerated()!.inputGradient(image, 1, null), null, 'TF.js differentiates instead');
      assert.equal(adapter.accelerated()!.inputGradient(image, 1, null), null, 'and keeps doing so');
    });
    assert.equal(sessions.get(key), null, 'the session is dropped');
    assert.equal(
      lines.filter((line) => /TF\.js computes the gradient .*run failed: Error: Non-zero status/.test(line)).length,
      1,
      lines.join('\n'),
    );
    assert.equal(tf.memory().numTensors, before);
    image.dispose();
    adapter.dispose();
  });

  it('keeps a model with a layer it cannot export on TF.js, saying which layer', () => {
    const lines: string[] = [];
    collectLog(lines);
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: 'relu' }),
        tfl.layers.upSampling2d({ size: [2, 2], name: 'upsample' }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 2 }),
      ],
    });
    const adapter = new LayersAdapter(model, acceleration);
    const x = tf.randomUniform([2, 6, 6, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    const scores = adapter.scores(x);
    const predicted = model.predict(x) as tf.Tensor;
    assert.ok(relativeGap(scores, predicted) < 1e-6);
    assert.ok(
      lines.some((line) => /TF\.js computes the scores .*"upsample" \(UpSampling2D\)/.test(line)),
      lines.join('\n'),
    );
    tf.dispose([x, scores, predicted]);
    adapter.dispose();
  });

  it('re-exports after the randomisation check replaces weights, and again after it restores them', async () => {
    const model = gradientModel();
    const adapter = new LayersAdapter(model, acceleration);
    const x = tf.randomUniform([1, 13, 13, 3], -3, 3, 'float32', 6) as tf.Tensor4D;
    const original = adapter.scores(x);
    const [fast, slow] = await adapter.withRandomWeights(['features', 'branch'], 3, async () => [
      adapter.scores(x),
      onTfjs(() => adapter.scores(x)),
    ]);
    assert.ok(relativeGap(fast, slow) < 1e-5, 'onnxruntime sees the random weights');
    assert.ok(relativeGap(fast, original) > 1e-3, 'the random weights change the scores');
    const restored = adapter.scores(x);
    assert.ok(relativeGap(restored, original) < 1e-6);
    tf.dispose([x, original, fast, slow, restored]);
    adapter.dispose();
  });

  it('gives the same maps through the engine with and without onnxruntime (bundled model)', async () => {
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: 'auto', log: () => undefined });
    const tfjsEngine = await Engine.create({ backend: 'cpu', onnxRuntime: 'off', log: () => undefined });
    const loaded = await engine.loadModel(bundledModelPath());
    const tfjsLoaded = await tfjsEngine.loadModel(bundledModelPath());
    const image = noiseImage(28, 28, 4);
    // Ablation-CAM twice: at the last block (its copies made after the head's pooling) and inside the network.
    // SmoothGrad over saliency and guided backprop (sums made inside onnxruntime) and over grad × image (copy by copy).
    const smoothed = ['saliency', 'guided-backprop', 'grad-x-image'].map((base) => ({
      technique: 'smoothgrad',
      parameters: { base, samples: 10 } as { base: string; samples: number },
    }));
    const runs = [
      ...[
        'saliency',
        'guided-backprop',
        'deconvnet',
        'gradcam',
        'gradcam++',
        'scorecam',
        'ablationcam',
        'eigencam',
        'integrated-gradients',
      ].map((technique) => ({ technique })),
      { technique: 'ablationcam', layer: 'block3_relu1' },
      ...smoothed,
    ];
    for (const run of runs) {
      const technique = `${run.technique}${'layer' in run ? ` at ${run.layer}` : ''}${'parameters' in run ? ` over ${(run.parameters as { base: string }).base}` : ''}`;
      const fast = await engine.explain(loaded, image, { ...run, classTarget: 3 });
      const slow = await tfjsEngine.explain(tfjsLoaded, image, { ...run, classTarget: 3 });
      const r = pearson(Array.from(fast.rawMap.data), Array.from(slow.rawMap.data));
      assert.ok(r > 0.9999, `${technique}: r = ${r}`);
      assert.deepEqual(
        fast.predictions.map((p) => p.index),
        slow.predictions.map((p) => p.index),
      );
    }
    engine.dispose();
    tfjsEngine.dispose();
  });

  it('matches TF.js on the pretrained MobileNet v1 0.25 (scores to 1e-4 of their range, Grad-CAM and saliency maps)', async function () {
    requireFixtures(this);
    const { adapter, summary } = await loadModel(fixture('models/mobilenet_v1_0.25_224_layers'), {}, {}, acceleration);
    const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const scores = adapter.scores(x);
    const reference = onTfjs(() => adapter.scores(x));
    const range = tf.tidy(() => tf.max(reference).sub(tf.min(reference)).dataSync()[0]);
    const gap = tf.tidy(() => tf.max(tf.abs(scores.sub(reference))).dataSync()[0]);
    assert.ok(gap / range < 1e-4, `scores: ${gap / range} of the logit range`);
    const image = x.slice([0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
    const layer = summary.defaultLayer!;
    const fast = adapter.accelerated()!.layerGradient(image, layer, 56)!;
    const split = onTfjs(() => adapter.split(image, layer));
    const slow = onTfjs(() =>
      tf.grad((a: tf.Tensor) =>
        split
          .head(a as tf.Tensor4D)
          .slice([0, 56], [-1, 1])
          .sum(),
      )(split.activations),
    );
    assert.ok(relativeGap(fast.gradients, slow) < 1e-4, `Grad-CAM gradient at ${layer}`);
    const saliency = adapter.accelerated()!.inputGradient(image, 56, null)!;
    const saliencyReference = onTfjs(() =>
      tf.grad((input: tf.Tensor) =>
        adapter
          .scores(input as tf.Tensor4D)
          .slice([0, 56], [-1, 1])
          .sum(),
      )(image),
    );
    // Deep ReLU6 masks may flip for units within rounding of 0 or 6; the maps agree, not every pixel to 1e-4.
    const r = pearson(Array.from(saliency.dataSync()), Array.from(saliencyReference.dataSync()));
    assert.ok(r > 0.9999, `saliency r = ${r}`);
    tf.dispose([
      x,
      scores,
      reference,
      image,
      fast.activations,
      fast.gradients,
      split.activations,
      split.scores,
      slow,
      saliency,
      saliencyReference,
    ]);
    adapter.dispose();
  });
});
