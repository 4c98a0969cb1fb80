/**
 * Relu, Clip, LeakyRelu (rectifiers: they honour ReLU backward rules), PRelu, Sigmoid, HardSigmoid, HardSwish,
 * Tanh, Softmax, LogSoftmax.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { rectifierKindOf, withReluRule, type RectifierKind } from '../../reluRules';
import type { OnnxNode } from '../onnxFile';
import {
  NHWC_AXIS,
  attr,
  normaliseAxis,
  numbers,
  plain,
  plainValue,
  required,
  sameLayout,
  type OpContext,
  type OpFn,
  type Registry,
  type Value,
} from './types';

function clipBounds(inputs: (Value | undefined)[], node: OnnxNode, opset: number): [number, number] {
  if (opset < 11) return [attr.float(node, 'min', -Infinity), attr.float(node, 'max', Infinity)];
  return [numbers(inputs[1])?.[0] ?? -Infinity, numbers(inputs[2])?.[0] ?? Infinity];
}

/** The rectifier a node is ('relu', 'relu6', 'leakyrelu:α'), or null. Clip(0, 6) is ReLU6, Clip(0, ∞) ReLU. */
export function rectifierOf(node: OnnxNode, inputs: (Value | undefined)[], opset: number): RectifierKind | null {
  if (node.opType === 'Relu') return 'relu';
  if (node.opType === 'LeakyRelu') return rectifierKindOf('leakyrelu', attr.float(node, 'alpha', 0.01));
  if (node.opType === 'Clip') {
    const [min, max] = clipBounds(inputs, node, opset);
    if (min === 0 && max === 6) return 'relu6';
    if (min === 0 && max === Infinity) return 'relu';
  }
  return null;
}

/** A unary op that keeps the value's layout. */
function unary(fn: (x: Tensor, inputs: (Value | undefined)[], node: OnnxNode, ctx: OpContext) => Tensor, rectifier = false): OpFn {
  return (inputs, node, ctx) => {
    const x = required(inputs, 0, node);
    const kind = rectifier && ctx.rule ? rectifierOf(node, inputs, ctx.opset) : null;
    const y = kind && ctx.rule ? withReluRule(x.tensor, kind, ctx.rule, (t) => fn(t, inputs, node, ctx)) : fn(x.tensor, inputs, node, ctx);
    return [{ tensor: y, nhwc: x.nhwc }];
  };
}

function hardSigmoid(x: Tensor, alpha: number, beta: number): Tensor {
  return tf.clipByValue(x.mul(alpha).add(beta), 0, 1);
}

/** Softmax (or LogSoftmax) along one logical axis; opsets before 13 flatten to 2-D at the axis first. */
function softmaxOf(fn: (x: Tensor) => Tensor): OpFn {
  return (inputs, node, ctx) => {
    const value = required(inputs, 0, node);
    const rank = value.tensor.rank;
    const axis = normaliseAxis(attr.int(node, 'axis', ctx.opset < 13 ? 1 : -1), rank, node);
    if (ctx.opset < 13) {
      const x = plain(value);
      const rows = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
      return [plainValue(fn(x.reshape([rows, -1])).reshape(x.shape))];
    }
    if (value.nhwc && NHWC_AXIS[axis] === 3) return [{ tensor: fn(value.tensor), nhwc: true }];
    const x = plain(value);
    if (axis === rank - 1) return [plainValue(fn(x))];
    const perm = Array.from({ length: rank }, (_, i) => i);
    perm[axis] = rank - 1;
    perm[rank - 1] = axis;
    return [plainValue(tf.transpose(fn(tf.transpose(x, perm)), perm))];
  };
}

/**
 * PRelu: x where x ≥ 0, slope · x elsewhere, the slope broadcast to x. tfjs's Prelu kernel where the slope
 * is per channel of the stored layout (or one number); max(x, 0) + slope · min(x, 0) otherwise.
 */
const prelu: OpFn = (inputs, node, ctx) => {
  const input = required(inputs, 0, node);
  let slopeValue = required(inputs, 1, node);
  const rank = input.tensor.rank;
  // Before opset 7 a 1-D slope is per channel (axis 1), not numpy-broadcast from the last axis.
  if (ctx.opset < 7 && slopeValue.tensor.rank === 1 && slopeValue.tensor.size > 1 && rank > 2) {
    slopeValue = plainValue(plain(slopeValue).reshape([-1, ...Array(rank - 2).fill(1)]));
  }
  const { tensors, nhwc } = sameLayout([input, slopeValue]);
  const [x, slope] = tensors;
  const last = x.shape[x.rank - 1];
  const perChannel = slope.size === 1 || (slope.shape[slope.rank - 1] === last && slope.size === last && slope.rank <= x.rank);
  if (perChannel) return [{ tensor: tf.prelu(x, slope.size === 1 ? slope.reshape([]) : slope.reshape([last])), nhwc }];
  return [{ tensor: tf.relu(x).add(tf.minimum(x, 0).mul(slope)), nhwc }];
};

export const activationOps: Registry = {
  Relu: unary((x) => tf.relu(x), true),
  LeakyRelu: unary((x, _i, node) => tf.leakyRelu(x, attr.float(node, 'alpha', 0.01)), true),
  Clip: unary((x, inputs, node, ctx) => {
    const [min, max] = clipBounds(inputs, node, ctx.opset);
    if (min === 0 && max === 6) return tf.relu6(x);
    if (min === 0 && max === Infinity) return tf.relu(x);
    if (x.dtype !== 'float32') {
      // wasm's ClipByValue reads float32 only.
      const low = min === -Infinity ? x : tf.maximum(x, tf.scalar(min, x.dtype));
      return max === Infinity ? low : tf.minimum(low, tf.scalar(max, x.dtype));
    }
    return tf.clipByValue(x, min, max);
  }, true),
  Sigmoid: unary((x) => tf.sigmoid(x)),
  Tanh: unary((x) => tf.tanh(x)),
  HardSigmoid: unary((x, _i, node) => hardSigmoid(x, attr.float(node, 'alpha', 0.2), attr.float(node, 'beta', 0.5))),
  HardSwish: unary((x) => x.mul(hardSigmoid(x, 1 / 6, 0.5))),
  PRelu: prelu,
  Softmax: softmaxOf((x) => tf.softmax(x)),
  LogSoftmax: softmaxOf((x) => tf.logSoftmax(x)),
};
