/**
 * Normalizations computed from the input itself: LayerNormalization (ONNX 17; earlier exports spell it out
 * with ReduceMean, Pow and Sqrt), InstanceNormalization and LRN. BatchNormalization, an affine map at
 * inference, is in elementwise.ts.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { asNhwc, attr, nhwcValue, normaliseAxis, plain, plainValue, required, type OpFn, type Registry } from './types';

/**
 * (x − mean) / √(var + ε) over the axes from `axis` on, times Scale, plus B. Nine kernels: the deviation
 * is computed once and serves both the variance and the output. The optional Mean and InvStdDev outputs
 * come with it.
 */
const layerNormalization: OpFn = (inputs, node) => {
  const x = plain(required(inputs, 0, node));
  const scale = plain(required(inputs, 1, node));
  const bias = inputs[2] ? plain(inputs[2]) : null;
  const axis = normaliseAxis(attr.int(node, 'axis', -1), x.rank, node);
  const axes = Array.from({ length: x.rank - axis }, (_, i) => axis + i);
  const mean = tf.mean(x, axes, true);
  const deviation = tf.sub(x, mean);
  const variance = tf.mean(tf.square(deviation), axes, true);
  const inverse = tf.rsqrt(tf.add(variance, tf.scalar(attr.float(node, 'epsilon', 1e-5))));
  let y = deviation.mul(inverse).mul(scale);
  if (bias) y = y.add(bias);
  return [plainValue(y), plainValue(mean), plainValue(inverse)];
};

/** Per sample and channel over the spatial axes, then a per-channel scale and shift. */
const instanceNormalization: OpFn = (inputs, node) => {
  const value = required(inputs, 0, node);
  const [scale, bias] = [1, 2].map((i) => plain(required(inputs, i, node)));
  const epsilon = tf.scalar(attr.float(node, 'epsilon', 1e-5));
  if (value.nhwc || value.tensor.rank === 4) {
    const x = asNhwc(value, 'InstanceNormalization');
    const { mean, variance } = tf.moments(x, [1, 2], true);
    return [
      nhwcValue(
        x
          .sub(mean)
          .mul(tf.rsqrt(variance.add(epsilon)))
          .mul(scale)
          .add(bias),
      ),
    ];
  }
  const x = value.tensor;
  const axes = Array.from({ length: x.rank - 2 }, (_, i) => i + 2);
  const { mean, variance } = tf.moments(x, axes, true);
  const shape = [-1, ...axes.map(() => 1)];
  return [
    plainValue(
      x
        .sub(mean)
        .mul(tf.rsqrt(variance.add(epsilon)))
        .mul(scale.reshape(shape))
        .add(bias.reshape(shape)),
    ),
  ];
};

/**
 * Local response normalization across channels: x / (bias + α/size · Σ x²)^β over the window from
 * c − ⌊(size−1)/2⌋ to c + ⌈(size−1)/2⌉. An odd window is tfjs's LRN (NHWC, with a gradient on every
 * backend); an even one, lopsided, is summed from shifted slices.
 */
const lrn: OpFn = (inputs, node) => {
  const x = asNhwc(required(inputs, 0, node), 'LRN');
  const size = attr.int(node, 'size', 0);
  if (size < 1) throw new Error(`LRN node "${node.name}" has size ${size}.`);
  const alpha = attr.float(node, 'alpha', 1e-4);
  const beta = attr.float(node, 'beta', 0.75);
  const bias = attr.float(node, 'bias', 1);
  if (size % 2 === 1) return [nhwcValue(tf.localResponseNormalization(x, (size - 1) / 2, bias, alpha / size, beta))];
  const before = Math.floor((size - 1) / 2);
  const after = size - 1 - before;
  const channels = x.shape[3];
  const padded = tf.pad(tf.square(x), [
    [0, 0],
    [0, 0],
    [0, 0],
    [before, after],
  ]);
  let sum: Tensor = tf.slice(padded, [0, 0, 0, 0], [-1, -1, -1, channels]);
  for (let i = 1; i < size; i++) sum = sum.add(tf.slice(padded, [0, 0, 0, i], [-1, -1, -1, channels]));
  const denominator = tf.pow(sum.mul(alpha / size).add(bias), tf.scalar(beta));
  return [nhwcValue(x.div(denominator) as Tensor4D)];
};

export const normalizationOps: Registry = {
  LayerNormalization: layerNormalization,
  InstanceNormalization: instanceNormalization,
  LRN: lrn,
};
