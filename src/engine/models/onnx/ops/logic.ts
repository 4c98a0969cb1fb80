/**
 * Comparisons and logic (bool results, layout-aware with numpy broadcasting): Equal, Greater, Less,
 * GreaterOrEqual, LessOrEqual, And, Or, Xor, Not; and Where, which selects between two values. The bool
 * results are kept off the gradient tape (tfjs has no gradients for them); Where passes gradients to x and y.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { required, sameLayout, withoutGradient, type OpFn, type Registry } from './types';

/** Operands of one dtype: ONNX's are, but bools compare as int32 and mixed integer widths meet as int32. */
function comparable(a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (a.dtype === b.dtype && a.dtype !== 'bool') return [a, b];
  const dtype = a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : 'int32';
  return [a.dtype === dtype ? a : a.cast(dtype), b.dtype === dtype ? b : b.cast(dtype)];
}

function compare(fn: (a: Tensor, b: Tensor) => Tensor): OpFn {
  return (inputs, node) => {
    const { tensors, nhwc } = sameLayout([required(inputs, 0, node), required(inputs, 1, node)]);
    return [{ tensor: withoutGradient(comparable(tensors[0], tensors[1]), fn), nhwc }];
  };
}

function logical(fn: (a: Tensor, b: Tensor) => Tensor): OpFn {
  return (inputs, node) => {
    const { tensors, nhwc } = sameLayout([required(inputs, 0, node), required(inputs, 1, node)]);
    return [
      {
        tensor: withoutGradient(tensors, (a, b) => fn(a.dtype === 'bool' ? a : a.cast('bool'), b.dtype === 'bool' ? b : b.cast('bool'))),
        nhwc,
      },
    ];
  };
}

const not: OpFn = (inputs, node) => {
  const x = required(inputs, 0, node);
  return [{ tensor: withoutGradient([x.tensor], (t) => tf.logicalNot(t.dtype === 'bool' ? t : t.cast('bool'))), nhwc: x.nhwc }];
};

/** Where(condition, x, y): tfjs broadcasts all three; the gradient reaches x and y through the mask. */
const where: OpFn = (inputs, node) => {
  const { tensors, nhwc } = sameLayout([required(inputs, 0, node), required(inputs, 1, node), required(inputs, 2, node)]);
  const [condition, x, y] = tensors;
  const mask = condition.dtype === 'bool' ? condition : withoutGradient([condition], (c) => c.cast('bool'));
  return [{ tensor: tf.where(mask, x, y), nhwc }];
};

export const logicOps: Registry = {
  Equal: compare((a, b) => tf.equal(a, b)),
  Greater: compare((a, b) => tf.greater(a, b)),
  Less: compare((a, b) => tf.less(a, b)),
  GreaterOrEqual: compare((a, b) => tf.greaterEqual(a, b)),
  LessOrEqual: compare((a, b) => tf.lessEqual(a, b)),
  And: logical((a, b) => tf.logicalAnd(a, b)),
  Or: logical((a, b) => tf.logicalOr(a, b)),
  Xor: logical((a, b) => tf.logicalXor(a, b)),
  Not: not,
  Where: where,
};
