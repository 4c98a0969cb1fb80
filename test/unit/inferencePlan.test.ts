import { Acceleration } from '../../src/engine/accel/ortRuntime';
import { strict as assert } from 'node:assert';
import { LayersAdapter } from '../../src/engine/models/layers/layersAdapter';
import { tf, tfl } from '../../src/engine/tfjs/tf';

/** Conv→BN→ReLU, depthwise→BN→ReLU6, a conv with its own ReLU, a BN read twice (not fused), LeakyReLU, dense (sigmoid). */
function mixedModel(depthMultiplier: number): tfl.LayersModel {
  // Seeded weights: the same model every run (random ones could leave every rectifier off, and no gradient).
  let seed = 1;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  const input = tfl.input({ shape: [9, 9, 3] });
  const bn = () =>
    tfl.layers.batchNormalization({
      betaInitializer: tfl.initializers.randomNormal({ stddev: 0.3, seed: seed++ }),
      gammaInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: seed++ }),
      movingMeanInitializer: tfl.initializers.randomNormal({ stddev: 0.3, seed: seed++ }),
      movingVarianceInitializer: tfl.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: seed++ }),
    });
  let x = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init() })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(bn().apply(x)) as tfl.SymbolicTensor;
  x = tfl.layers
    .depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier, useBias: true, depthwiseInitializer: init() })
    .apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ maxValue: 6 }).apply(bn().apply(x)) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu', kernelInitializer: init() }).apply(x) as tfl.SymbolicTensor;
  const shared = bn().apply(
    tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'valid', kernelInitializer: init() }).apply(x),
  ) as tfl.SymbolicTensor;
  const joined = tfl.layers
    .add()
    .apply([tfl.layers.leakyReLU({ alpha: 0.2 }).apply(shared) as tfl.SymbolicTensor, shared]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(joined) as tfl.SymbolicTensor;
  const hidden = tfl.layers.dense({ units: 5, activation: 'sigmoid', kernelInitializer: init() }).apply(pooled) as tfl.SymbolicTensor;
  // Linear scores, so model.predict gives the very values the adapter scores.
  const out = tfl.layers.dense({ units: 3, kernelInitializer: init() }).apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

const maxGap = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(a.sub(b))).dataSync()[0]);

/** The fused plan is TF.js's path: onnxruntime (which would otherwise run these models) is kept out. */
const TFJS_ONLY = new Acceleration('off');

describe('fused plan (batch norm folded, ops fused, input-only gradients on wasm)', () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`gives model.predict's scores and tfjs's own input gradients, and frees what it made (${backend})`, async () => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      // wasm runs depthwise convolutions with a channel multiplier layer by layer; cpu tests one.
      const model = mixedModel(backend === 'cpu' ? 2 : 1);
      const adapter = new LayersAdapter(model, TFJS_ONLY);
      // Wide enough that some ReLU6 units saturate (their gradient is 0 above 6).
      const x = tf.randomUniform([3, 9, 9, 3], -30, 30, 'float32', 7) as tf.Tensor4D;
      const classScore = (scores: tf.Tensor) => scores.slice([0, 1], [-1, 1]).sum();
      const scores = adapter.scores(x);
      const predicted = model.predict(x) as tf.Tensor;
      const gradient = tf.grad((input: tf.Tensor) => classScore(adapter.scores(input as tf.Tensor4D)))(x);
      // The reference: tfjs-layers' own forward pass differentiated by tfjs, on cpu (wasm lacks kernels for it).
      await tf.setBackend('cpu');
      const reference = tf.grad((input: tf.Tensor) => classScore(model.apply(input) as tf.Tensor))(x);
      const scale = tf.tidy(() => tf.max(tf.abs(reference)).dataSync()[0]);
      assert.ok(scale > 0, 'the class score depends on the input');
      const gradientGap = maxGap(gradient, reference) / scale;
      await tf.setBackend(backend);
      assert.ok(maxGap(scores, predicted) < 1e-5, `scores vs predict: ${maxGap(scores, predicted)}`);
      assert.ok(gradientGap < 1e-4, `input gradient vs tfjs's: ${gradientGap} of its largest value`);
      tf.dispose([x, scores, predicted, gradient, reference]);
      adapter.dispose();
      assert.equal(tf.memory().numTensors, before, 'folded kernels, biases and gradient kernels are disposed with the adapter');
    });
  }

  it('reads a layer whose output also feeds a side branch off the scores path (fusion counts every consumer)', async () => {
    await tf.setBackend('wasm');
    const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
    const input = tfl.input({ shape: [6, 6, 2] });
    const a = tfl.layers
      .conv2d({ filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: init(1), name: 'a' })
      .apply(input) as tfl.SymbolicTensor;
    const main = tfl.layers.reLU().apply(tfl.layers.batchNormalization({ name: 'bn' }).apply(a)) as tfl.SymbolicTensor;
    const scores = tfl.layers
      .dense({ units: 2, kernelInitializer: init(2), name: 'scores' })
      .apply(tfl.layers.globalAveragePooling2d({}).apply(main)) as tfl.SymbolicTensor;
    const side = tfl.layers.conv2d({ filters: 1, kernelSize: 1, kernelInitializer: init(3), name: 'side' }).apply(a) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: [scores, side] });
    // Two outputs: the scores are the one to explain (the side branch is a feature map).
    const adapter = new LayersAdapter(model, TFJS_ONLY, 'layers', { output: 'scores' });
    const x = tf.randomUniform([2, 6, 6, 2], -1, 1, 'float32', 3) as tf.Tensor4D;
    const [, sideReference] = model.predict(x) as tf.Tensor[];
    const sideOutput = adapter.layerOutput(x, 'side');
    const aOutput = adapter.layerOutput(x, 'a');
    const aReference = model.getLayer('a').apply(x) as tf.Tensor;
    assert.ok(maxGap(sideOutput, sideReference) < 1e-5, 'the side branch reads the convolution before its batch norm');
    assert.ok(maxGap(aOutput, aReference) < 1e-5);
    tf.dispose([x, sideReference, sideOutput, aOutput, aReference]);
    adapter.dispose();
    await tf.setBackend('cpu');
  });

  it('backpropagates through the randomised weights of a fused convolution without batch norm on wasm', async () => {
    await tf.setBackend('wasm');
    const model = mixedModel(1);
    const adapter = new LayersAdapter(model, TFJS_ONLY);
    const x = tf.randomUniform([1, 9, 9, 3], -3, 3, 'float32', 4) as tf.Tensor4D;
    const classScore = (scores: tf.Tensor) => scores.slice([0, 0], [-1, 1]).sum();
    // The 1×1 convolution with its own ReLU is fused without a batch norm: its gradient kernel is a copy.
    const pointwise = model.layers.find(
      (l) => l.getClassName() === 'Conv2D' && (l.getConfig() as { kernelSize: number[] }).kernelSize[0] === 1,
    )!;
    const [gradient, reference] = await adapter.withRandomWeights([pointwise.name], 5, async () => {
      const onWasm = tf.grad((input: tf.Tensor) => classScore(adapter.scores(input as tf.Tensor4D)))(x);
      await tf.setBackend('cpu');
      const onCpu = tf.grad((input: tf.Tensor) => classScore(model.apply(input) as tf.Tensor))(x);
      await tf.setBackend('wasm');
      return [onWasm, onCpu];
    });
    const scale = tf.tidy(() => tf.max(tf.abs(reference)).dataSync()[0]);
    assert.ok(scale > 0);
    assert.ok(maxGap(gradient, reference) / scale < 1e-4, `gradient with random weights: ${maxGap(gradient, reference) / scale}`);
    tf.dispose([x, gradient, reference]);
    adapter.dispose();
    await tf.setBackend('cpu');
  });
});
