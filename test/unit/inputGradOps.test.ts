import { strict as assert } from 'node:assert';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { convolveInputOnly, gradientKernelOf, type ConvKind, type Padding } from '../../src/engine/models/inputGradOps';
import { tf } from '../../src/engine/tfjs/tf';

const stockOp = (kind: ConvKind) => (kind === 'depthwise' ? tf.depthwiseConv2d : tf.conv2d);

/** Stock tfjs gradient on the cpu backend: the reference the input-only gradient must reproduce. */
async function stockGradient(
  kind: ConvKind,
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  stride: number,
  padding: Padding,
  dy: tf.Tensor4D,
): Promise<Float32Array> {
  await selectBackend({ choice: 'cpu', log: () => undefined });
  return tf.tidy(() => {
    const f = (input: tf.Tensor) => tf.sum(stockOp(kind)(input as tf.Tensor4D, filter, stride, padding).mul(dy));
    return tf.grad(f)(x).dataSync() as Float32Array;
  });
}

for (const kind of ['depthwise', 'conv2d'] as const) {
  describe(`input-only ${kind} gradient`, () => {
    const cases: [number, number, number, Padding][] = [
      [7, 3, 1, 'same'],
      [7, 3, 2, 'same'],
      [8, 3, 2, 'same'],
      [8, 3, 2, 'valid'],
      [9, 5, 2, 'valid'],
      [6, 1, 1, 'valid'],
      [5, 3, 3, 'same'],
    ];
    for (const [size, kernel, stride, padding] of cases) {
      for (const backend of ['cpu', 'wasm'] as const) {
        it(`equals the stock gradient: ${size}×${size}, kernel ${kernel}, stride ${stride}, ${padding}, on ${backend}`, async () => {
          const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
          const filter = tf.randomNormal([kernel, kernel, 3, kind === 'depthwise' ? 1 : 4], 0, 1, 'float32', 2) as tf.Tensor4D;
          const outShape = stockOp(kind)(x, filter, stride, padding).shape;
          const dy = tf.randomNormal(outShape, 0, 1, 'float32', 3) as tf.Tensor4D;
          const expected = await stockGradient(kind, x, filter, stride, padding, dy);
          await selectBackend({ choice: backend, log: () => undefined });
          const gradientKernel = gradientKernelOf(kind, filter);
          const start = tf.memory().numTensors;
          const actual = tf.tidy(() => {
            const f = (input: tf.Tensor) =>
              tf.sum(convolveInputOnly(kind, input as tf.Tensor4D, filter, gradientKernel, [stride, stride], padding, [1, 1]).mul(dy));
            return tf.grad(f)(x).dataSync() as Float32Array;
          });
          assert.equal(tf.memory().numTensors, start);
          const scale = Math.max(...Array.from(expected, Math.abs));
          actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= 1e-5 * scale, `element ${i}: ${v} vs ${expected[i]}`));
          tf.dispose([x, filter, dy, gradientKernel]);
        });
      }
    }
  });
}

describe('input-only gradient with a kernel made in the forward pass', () => {
  // ONNX weights computed in the graph (torch.onnx routes deduplicated initializers through Identity) give
  // a gradient kernel that the forward scope owns and disposes before the backward pass reads it.
  for (const kind of ['depthwise', 'conv2d'] as const) {
    it(`${kind} on wasm: equals the stock gradient and leaves nothing behind`, async () => {
      const x = tf.randomNormal([1, 6, 6, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      const filter = tf.randomNormal([3, 3, 3, kind === 'depthwise' ? 1 : 2], 0, 1, 'float32', 5) as tf.Tensor4D;
      const dy = tf.randomNormal(stockOp(kind)(x, filter, 1, 'same').shape, 0, 1, 'float32', 6) as tf.Tensor4D;
      const expected = await stockGradient(kind, x, filter, 1, 'same', dy);
      await selectBackend({ choice: 'wasm', log: () => undefined });
      const start = tf.memory().numTensors;
      const actual = tf.tidy(() => {
        const f = (input: tf.Tensor) => {
          const gradientKernel = gradientKernelOf(kind, filter);
          return tf.sum(convolveInputOnly(kind, input as tf.Tensor4D, filter, gradientKernel, [1, 1], 'same', [1, 1]).mul(dy));
        };
        return tf.grad(f)(x).dataSync() as Float32Array;
      });
      assert.equal(tf.memory().numTensors, start);
      const scale = Math.max(...Array.from(expected, Math.abs));
      actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= 1e-5 * scale, `element ${i}: ${v} vs ${expected[i]}`));
      tf.dispose([x, filter, dy]);
    });
  }
});
