/**
 * Element-wise arithmetic, layout-aware with numpy broadcasting: Add, Sub, Mul, Div, Pow, Mod, Sum, Mean,
 * Max, Min, and the unary Neg, Sqrt, Erf (exact GELU), Abs, Exp, Log, Reciprocal, Floor, Ceil; and
 * BatchNormalization at inference.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { batchNormAffine } from './conv';
import {
  asNhwc,
  attr,
  nhwcValue,
  numbers,
  plain,
  plainValue,
  required,
  sameLayout,
  withoutGradient,
  type OpFn,
  type Registry,
  type Value,
} from './types';

function binary(fn: (a: Tensor, b: Tensor) => Tensor): OpFn {
  return (inputs, node) => {
    const { tensors, nhwc } = sameLayout([required(inputs, 0, node), required(inputs, 1, node)]);
    return [{ tensor: fn(tensors[0], tensors[1]), nhwc }];
  };
}

/** A unary op that keeps the value's layout. */
export function elementwise(fn: (x: Tensor) => Tensor): OpFn {
  return (inputs, node) => {
    const x = required(inputs, 0, node);
    return [{ tensor: fn(x.tensor), nhwc: x.nhwc }];
  };
}

/**
 * Pow. A constant scalar exponent of 2, 1, 0.5 or 3 (LayerNorm's variance, RMS norms) takes one cheap
 * kernel with a simple gradient; the output keeps the base's data type.
 */
const pow: OpFn = (inputs, node) => {
  const base = required(inputs, 0, node);
  const exponent = required(inputs, 1, node);
  if (exponent.tensor.size === 1 && base.tensor.dtype === 'float32') {
    const e = numbers(exponent)![0];
    const shape = base.tensor.rank >= exponent.tensor.rank ? null : exponent.tensor.shape;
    const special =
      e === 2
        ? tf.square(base.tensor)
        : e === 1
          ? base.tensor
          : e === 0.5
            ? tf.sqrt(base.tensor)
            : e === 3
              ? base.tensor.square().mul(base.tensor)
              : null;
    if (special)
      return [
        {
          tensor: shape ? special.reshape([...Array(shape.length - base.tensor.rank).fill(1), ...base.tensor.shape]) : special,
          nhwc: base.nhwc,
        },
      ];
  }
  const { tensors, nhwc } = sameLayout([base, exponent]);
  const [a, b] = tensors;
  const y = tf.pow(a.toFloat(), b.toFloat());
  if (a.dtype === 'float32') return [{ tensor: y, nhwc }];
  // Integer bases: an integer exponent gives an integer (rounded off powf's last bit), a float one truncates.
  return [{ tensor: (b.dtype === 'float32' ? y : tf.round(y)).cast(a.dtype), nhwc }];
};

/** ONNX's integer Div truncates toward zero; tfjs divides integers with floor. */
function truncatedDivision(a: Tensor, b: Tensor): Tensor {
  return withoutGradient([a, b], (x, y) => {
    const q = tf.floorDiv(x, y);
    const zero = tf.scalar(0, 'int32');
    const inexact = tf.notEqual(tf.mul(q, y), x);
    const negative = tf.notEqual(tf.less(x, zero), tf.less(y, zero));
    return tf.where(tf.logicalAnd(inexact, negative), tf.add(q, tf.scalar(1, 'int32')), q);
  });
}

/** Sum, Mean, Max, Min of any number of inputs, broadcast (numpy), layout-aware. */
function variadic(fn: (a: Tensor, b: Tensor) => Tensor, mean = false): OpFn {
  return (inputs, node) => {
    const values = inputs.filter((v): v is Value => !!v);
    if (!values.length) throw new Error(`${node.opType} node "${node.name}" has no input.`);
    const { tensors, nhwc } = sameLayout(values);
    const combined = tensors.slice(1).reduce(fn, tensors[0]);
    return [{ tensor: mean && tensors.length > 1 ? combined.div(tf.scalar(tensors.length)) : combined, nhwc }];
  };
}

/**
 * Mod: fmod 0 is the integer remainder with the divisor's sign (Python's %, tfjs's mod); fmod 1 is C's
 * fmod, with the dividend's sign: the floored remainder, less the divisor where the two signs differ.
 */
const mod: OpFn = (inputs, node) => {
  const { tensors, nhwc } = sameLayout([required(inputs, 0, node), required(inputs, 1, node)]);
  const [a, b] = tensors;
  const dtype = a.dtype;
  const floored = tf.mod(a, b);
  if (attr.int(node, 'fmod', 0) === 0) return [{ tensor: floored, nhwc }];
  const differ = withoutGradient([floored, a, b], (r, x, y) => {
    const zero = tf.scalar(0, dtype);
    return tf.logicalAnd(tf.notEqual(r, zero), tf.notEqual(tf.less(x, zero), tf.less(y, zero)));
  });
  return [{ tensor: tf.where(differ, tf.sub(floored, b), floored), nhwc }];
};

const batchNormalization: OpFn = (inputs, node) => {
  if (attr.int(node, 'training_mode', 0) === 1 || node.outputs.slice(1).some(Boolean)) {
    throw new Error(
      `BatchNormalization node "${node.name}" is in training mode; CNN Lens runs models for inference (export in eval mode).`,
    );
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
  Div: binary((a, b) => (a.dtype === 'int32' && b.dtype === 'int32' ? truncatedDivision(a, b) : tf.div(a, b))),
  Pow: pow,
  Mod: mod,
  Sum: variadic((a, b) => tf.add(a, b)),
  Mean: variadic((a, b) => tf.add(a, b), true),
  Max: variadic((a, b) => tf.maximum(a, b)),
  Min: variadic((a, b) => tf.minimum(a, b)),
  Neg: elementwise((x) => tf.neg(x)),
  Sqrt: elementwise((x) => tf.sqrt(x)),
  Erf: elementwise((x) => tf.erf(x)),
  Abs: elementwise((x) => tf.abs(x)),
  Exp: elementwise((x) => tf.exp(x)),
  Log: elementwise((x) => tf.log(x)),
  Reciprocal: elementwise((x) => tf.reciprocal(x)),
  Floor: elementwise((x) => tf.floor(x)),
  Ceil: elementwise((x) => tf.ceil(x)),
  BatchNormalization: batchNormalization,
};
