import { strict as assert } from 'node:assert';
import { LayersAdapter } from '../../src/engine/models/layersAdapter';
import { tf, tfl } from '../../src/engine/tf';

/** Conv→BN→ReLU, depthwise→BN→ReLU6, a conv with its own ReLU, a BN read twice (not fused), LeakyReLU, dense. */
function mixedModel(depthMultiplier: number): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 3] });
  const bn = () => tfl.layers.batchNormalization({ betaInitializer: 'randomNormal', gammaInitializer: 'randomUniform', movingMeanInitializer: 'randomNormal', movingVarianceInitializer: 'ones' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(bn().apply(x)) as tfl.SymbolicTensor;
  x = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier, useBias: true }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ maxValue: 6 }).apply(bn().apply(x)) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const shared = bn().apply(tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'valid' }).apply(x)) as tfl.SymbolicTensor;
  const joined = tfl.layers.add().apply([tfl.layers.leakyReLU({ alpha: 0.2 }).apply(shared) as tfl.SymbolicTensor, shared]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(joined) as tfl.SymbolicTensor;
  const hidden = tfl.layers.dense({ units: 5, activation: 'relu' }).apply(pooled) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describe('forward-only plan (batch norm folded, ops fused)', () => {
  for (const backend of ['cpu', 'wasm']) {
    it(`gives the stock scores and model.predict's probabilities, and frees what it made (${backend})`, async () => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      // wasm has no gradient kernel for depthwise convolutions with a channel multiplier (the stock path needs one).
      const model = mixedModel(backend === 'cpu' ? 2 : 1);
      const adapter = new LayersAdapter(model);
      const x = tf.randomUniform([3, 9, 9, 3], -1, 1) as tf.Tensor4D;
      const fused = adapter.scores(x);
      // Under a gradient tape the adapter takes its layer-by-layer path.
      let stock: tf.Tensor | undefined;
      tf.grad((input: tf.Tensor) => {
        stock = tf.keep(adapter.scores(input as tf.Tensor4D));
        return stock.sum();
      })(x).dispose();
      const predicted = model.predict(x) as tf.Tensor;
      const gap = tf.tidy(() => tf.max(tf.abs(fused.sub(stock!))).dataSync()[0]);
      const probGap = tf.tidy(() => tf.max(tf.abs(tf.softmax(fused).sub(predicted))).dataSync()[0]);
      assert.ok(gap < 1e-5, `fused vs stock logits: ${gap}`);
      assert.ok(probGap < 1e-6, `softmax(fused) vs predict: ${probGap}`);
      tf.dispose([x, fused, stock!, predicted]);
      adapter.dispose();
      assert.equal(tf.memory().numTensors, before, 'folded kernels and biases are disposed with the adapter');
    });
  }
});
