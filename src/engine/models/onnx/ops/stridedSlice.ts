/**
 * A strided slice TF.js can differentiate: tfjs registers no gradient for StridedSlice, which Swin's patch
 * merging (x[..., 0::2, 1::2, :]) and reversed slices need. The gradient puts each output cell back where
 * it was read, with zeros between (dy interleaved with zeros, then padded to x's extent), axis by axis.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';

/** `begin` holds in-range start indices (as the Slice op computes them); `endMask` marks "through the first" ends. */
export function stridedSliceWithGradient(x: Tensor, begin: number[], end: number[], strides: number[], endMask: number): Tensor {
  const slice = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as Tensor;
    const value = tf.stridedSlice(input, begin, end, strides, 0, endMask);
    const outputShape = value.shape;
    return { value, gradFunc: (dy: Tensor | Tensor[]) => spreadBack(dy as Tensor, input.shape, begin, strides, outputShape) };
  });
  return slice(x);
}

function spreadBack(dy: Tensor, inputShape: number[], begin: number[], strides: number[], outputShape: number[]): Tensor {
  let g = dy;
  strides.forEach((stride, axis) => {
    const count = outputShape[axis];
    const size = inputShape[axis];
    const step = Math.abs(stride);
    if (count === 0) {
      g = tf.zeros(g.shape.map((d, i) => (i === axis ? size : d)));
      return;
    }
    // Read backwards from `begin`: the same cells as a forward read from the last one.
    if (stride < 0) g = tf.reverse(g, axis);
    const first = stride < 0 ? begin[axis] - (count - 1) * step : begin[axis];
    if (step > 1) {
      const spaced = g.expandDims(axis + 1);
      const pads = spaced.shape.map((_, i): [number, number] => (i === axis + 1 ? [0, step - 1] : [0, 0]));
      const flat = tf.pad(spaced, pads).reshape(g.shape.map((d, i) => (i === axis ? d * step : d)));
      g = tf.slice(flat, g.shape.map(() => 0), g.shape.map((d, i) => (i === axis ? (count - 1) * step + 1 : d)));
    }
    const extent = (count - 1) * step + 1;
    g = tf.pad(g, g.shape.map((_, i): [number, number] => (i === axis ? [first, size - first - extent] : [0, 0])));
  });
  return g;
}
