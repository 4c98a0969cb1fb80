import { strict as assert } from 'node:assert';
import { selectBackend } from '../../src/engine/backend';
import { tf } from '../../src/engine/tf';

describe('max-pooling gradient on wasm (tfjs-backend-wasm 4.22 gets windows ≤ 0 and ties wrong)', () => {
  after(async () => {
    await selectBackend({ choice: 'cpu', log: () => undefined });
  });

  it('sends each window’s gradient to its first maximum, negative windows and padding included', async () => {
    // 2×2 windows, stride 2: [1 1; 2 3] → 3 (cell 5); [0 0; 0 0] → first 0 (cell 2);
    // [−1 −2; −3 −1] → first −1 (cell 8); [0 0; 5 5] → first 5 (cell 14).
    const expected = [0, 0, 2, 0, 0, 1, 0, 0, 3, 0, 0, 0, 0, 0, 4, 0];
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend({ choice: backend, log: () => undefined });
      const before = tf.memory().numTensors;
      const x = tf.tensor4d([1, 1, 0, 0, 2, 3, 0, 0, -1, -2, 0, 0, -3, -1, 5, 5], [1, 4, 4, 1]);
      const weights = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
      const gradient = tf.grad((input: tf.Tensor) => tf.maxPool(input as tf.Tensor4D, 2, 2, 'valid').mul(weights).sum())(x);
      assert.deepEqual(Array.from(gradient.dataSync()), expected, backend);
      // 'same' padding on an odd size, several channels, all-negative values: as the cpu backend.
      const negative = tf.randomUniform([2, 5, 5, 3], -5, -1, 'float32', 3) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 3, 3, 3], 0, 1, 'float32', 4);
      const padded = tf.grad((input: tf.Tensor) => tf.maxPool(input as tf.Tensor4D, 2, 2, 'same').mul(dy).sum())(negative);
      const values = Array.from(padded.dataSync());
      await selectBackend({ choice: 'cpu', log: () => undefined });
      const reference = tf.grad((input: tf.Tensor) => tf.maxPool(input as tf.Tensor4D, 2, 2, 'same').mul(dy).sum())(negative);
      assert.deepEqual(values, Array.from(reference.dataSync()), `${backend}: 'same' padding, negative values`);
      tf.dispose([x, weights, gradient, negative, dy, padded, reference]);
      assert.equal(tf.memory().numTensors, before);
    }
  });
});
