/** The strided slice TF.js differentiates (ops/stridedSlice.ts): its gradient puts each read cell back, by hand. */
import { strict as assert } from 'node:assert';
import { stridedSliceWithGradient } from '../../src/engine/models/onnx/ops/stridedSlice';
import { tf } from '../../src/engine/tfjs/tf';

/** The input cells a 1-D strided read takes, in output order. */
function positions(size: number, begin: number, end: number, stride: number, throughFirst: boolean): number[] {
  const out: number[] = [];
  if (stride > 0) for (let i = begin; i < end; i += stride) out.push(i);
  else for (let i = begin; throughFirst ? i >= 0 : i > end; i += stride) out.push(i);
  return out.filter((i) => i >= 0 && i < size);
}

describe('strided slice gradient', () => {
  const cases: { begin: number[]; end: number[]; strides: number[]; endMask: number }[] = [
    { begin: [0, 0, 0], end: [6, 7, 3], strides: [2, 2, 1], endMask: 0 }, // Swin's x[..., 0::2, 0::2, :]
    { begin: [1, 1, 0], end: [6, 7, 3], strides: [2, 3, 1], endMask: 0 },
    { begin: [5, 6, 2], end: [0, 0, 0], strides: [-1, -2, -1], endMask: 0b111 }, // reversed, through the first
    { begin: [4, 2, 0], end: [1, 7, 3], strides: [-2, 1, 2], endMask: 0 },
  ];
  for (const c of cases) {
    it(`begin [${c.begin}] strides [${c.strides}]: values and gradient`, () => {
      const shape = [6, 7, 3];
      const start = tf.memory().numTensors;
      const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
      const y = stridedSliceWithGradient(x, c.begin, c.end, c.strides, c.endMask);
      const axes = shape.map((size, a) => positions(size, c.begin[a], c.end[a], c.strides[a], ((c.endMask >> a) & 1) === 1));
      assert.deepEqual(
        y.shape,
        axes.map((p) => p.length),
      );
      const weights = tf.randomNormal(y.shape, 0, 1, 'float32', 4);
      const gradient = tf.grad((input: tf.Tensor) =>
        tf.sum(stridedSliceWithGradient(input, c.begin, c.end, c.strides, c.endMask).mul(weights)),
      )(x);
      const expected = new Float32Array(6 * 7 * 3);
      const w = weights.dataSync();
      const xs = x.dataSync();
      const ys = y.dataSync();
      let k = 0;
      for (const i of axes[0])
        for (const j of axes[1])
          for (const l of axes[2]) {
            const at = (i * 7 + j) * 3 + l;
            assert.equal(ys[k], xs[at]);
            expected[at] += w[k++];
          }
      assert.deepEqual(Array.from(gradient.dataSync()), Array.from(expected));
      tf.dispose([x, y, weights, gradient]);
      assert.equal(tf.memory().numTensors, start);
    });
  }
});
