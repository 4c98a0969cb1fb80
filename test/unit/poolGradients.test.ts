import { strict as assert } from 'node:assert';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { tf } from '../../src/engine/tfjs/tf';

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
      const gradient = tf.grad((input: tf.Tensor) =>
        tf
          .maxPool(input as tf.Tensor4D, 2, 2, 'valid')
          .mul(weights)
          .sum(),
      )(x);
      assert.deepEqual(Array.from(gradient.dataSync()), expected, backend);
      // 'same' padding on an odd size, several channels, all-negative values: as the cpu backend.
      const negative = tf.randomUniform([2, 5, 5, 3], -5, -1, 'float32', 3) as tf.Tensor4D;
      const dy = tf.randomNormal([2, 3, 3, 3], 0, 1, 'float32', 4);
      const padded = tf.grad((input: tf.Tensor) =>
        tf
          .maxPool(input as tf.Tensor4D, 2, 2, 'same')
          .mul(dy)
          .sum(),
      )(negative);
      const values = Array.from(padded.dataSync());
      await selectBackend({ choice: 'cpu', log: () => undefined });
      const reference = tf.grad((input: tf.Tensor) =>
        tf
          .maxPool(input as tf.Tensor4D, 2, 2, 'same')
          .mul(dy)
          .sum(),
      )(negative);
      assert.deepEqual(values, Array.from(reference.dataSync()), `${backend}: 'same' padding, negative values`);
      tf.dispose([x, weights, gradient, negative, dy, padded, reference]);
      assert.equal(tf.memory().numTensors, before);
    }
  });
});

describe('average-pooling gradient (tfjs 4.22 divides border windows by their full size)', () => {
  after(async () => {
    await selectBackend({ choice: 'cpu', log: () => undefined });
  });

  /** The adjoint of the average the forward pass takes: each pooled gradient shared by the cells its window averaged. */
  function spread(
    dy: Float32Array,
    [n, h, w, c]: number[],
    [oh, ow]: number[],
    kernel: number,
    stride: number,
    [top, left]: number[],
  ): Float32Array {
    const dx = new Float32Array(n * h * w * c);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const rows = [Math.max(i * stride - top, 0), Math.min(i * stride - top + kernel, h)];
          const cols = [Math.max(j * stride - left, 0), Math.min(j * stride - left + kernel, w)];
          const cells = (rows[1] - rows[0]) * (cols[1] - cols[0]);
          for (let y = rows[0]; y < rows[1]; y++)
            for (let x = cols[0]; x < cols[1]; x++)
              for (let k = 0; k < c; k++) dx[((b * h + y) * w + x) * c + k] += dy[((b * oh + i) * ow + j) * c + k] / cells;
        }
    return dx;
  }

  // [kernel, stride, padding, pads before (top, left)]: 'same' on odd and even sizes, explicit asymmetric pads, none.
  const cases: [number, number, 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]], number[]][] = [
    [2, 2, 'same', [0, 0]],
    [3, 2, 'same', [1, 0]],
    [3, 1, 'same', [1, 1]],
    [
      3,
      2,
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
      [1, 0],
    ],
    [2, 2, 'valid', [0, 0]],
  ];
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const [kernel, stride, padding, before] of cases) {
      it(`shares each window's gradient among the cells it averaged: kernel ${kernel}, stride ${stride}, ${JSON.stringify(padding)}, on ${backend}`, async () => {
        await selectBackend({ choice: backend, log: () => undefined });
        const start = tf.memory().numTensors;
        const x = tf.randomUniform([2, 5, 6, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
        const pooled = tf.avgPool(x, kernel, stride, padding);
        const dy = tf.randomNormal(pooled.shape, 0, 1, 'float32', 9);
        const gradient = tf.grad((input: tf.Tensor) =>
          tf
            .avgPool(input as tf.Tensor4D, kernel, stride, padding)
            .mul(dy)
            .sum(),
        )(x);
        const expected = spread(dy.dataSync() as Float32Array, x.shape, pooled.shape.slice(1, 3), kernel, stride, before);
        Array.from(gradient.dataSync()).forEach((v, i) =>
          assert.ok(Math.abs(v - expected[i]) < 1e-5, `element ${i}: ${v} vs ${expected[i]}`),
        );
        tf.dispose([x, pooled, dy, gradient]);
        assert.equal(tf.memory().numTensors, start);
      });
    }
  }
});
