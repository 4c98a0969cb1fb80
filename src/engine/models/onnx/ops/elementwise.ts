/** Add, Sub, Mul, Div (numpy broadcasting, layout-aware), and BatchNormalization at inference. */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { batchNormAffine } from './conv';
import { asNhwc, attr, nhwcValue, plain, plainValue, required, sameLayout, type OpFn, type Registry } from './types';

function binary(fn: (a: Tensor, b: Tensor) => Tensor): OpFn {
  return (inputs, node) => {
    const { tensors, nhwc } = sameLayout([required(inputs, 0, node), required(inputs, 1, node)]);
    return [{ tensor: fn(tensors[0], tensors[1]), nhwc }];
  };
}

const batchNormalization: OpFn = (inputs, node) => {
  if (attr.int(node, 'training_mode', 0) === 1 || node.outputs.slice(1).some(Boolean)) {
    throw new Error(`BatchNormalization node "${node.name}" is in training mode; CNN Lens runs models for inference (export in eval mode).`);
  }
  const x = required(inputs, 0, node);
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => plain(required(inputs, i, node)));
  const affine = batchNormAffine(scale, bias, mean, variance, attr.float(node, 'epsilon', 1e-5));
  // Runs inside the executor's tidy: the affine terms go with the other intermediates (gradients need them).
  const rank = x.tensor.rank;
  if (x.nhwc || rank === 4) return [nhwcValue(asNhwc(x, 'BatchNormalization').mul(affine.scale).add(affine.shift))];
  if (rank <= 2) return [plainValue(x.tensor.mul(affine.scale).add(affine.shift))];
  const shape = [-1, ...Array(rank - 2).fill(1)];
  return [plainValue(x.tensor.mul(affine.scale.reshape(shape)).add(affine.shift.reshape(shape)))];
};

export const elementwiseOps: Registry = {
  Add: binary((a, b) => tf.add(a, b)),
  Sub: binary((a, b) => tf.sub(a, b)),
  Mul: binary((a, b) => tf.mul(a, b)),
  Div: binary((a, b) => tf.div(a, b)),
  BatchNormalization: batchNormalization,
};
