/**
 * Reductions over listed axes (ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare,
 * ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp): axes are an attribute before the opset where they
 * became an input (13 for ReduceSum, 18 for the others), and an NHWC-stored value is reduced in place.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { NHWC_AXIS, attr, nhwcValue, normaliseAxis, numbers, plain, plainValue, required, type OpFn, type Registry } from './types';

type Reducer = (x: Tensor, axes: number[], keepDims: boolean) => Tensor;

/** A reduction over an empty set of elements: ONNX's identity element (0, 1, ±∞) of the reduction. */
function emptyValue(opType: string): number {
  if (opType === 'ReduceProd') return 1;
  if (opType === 'ReduceMax' || opType === 'ReduceLogSumExp' || opType === 'ReduceLogSum') return -Infinity;
  if (opType === 'ReduceMin') return Infinity;
  if (opType === 'ReduceMean') return NaN;
  return 0;
}

function reduction(fn: Reducer, axesInputSince: number): OpFn {
  return (inputs, node, ctx) => {
    const value = required(inputs, 0, node);
    const rank = value.tensor.rank;
    const keepDims = attr.int(node, 'keepdims', 1) === 1;
    let axes = ctx.opset < axesInputSince ? attr.ints(node, 'axes') : numbers(inputs[1]);
    if (!axes || axes.length === 0) {
      if (ctx.opset >= axesInputSince && attr.int(node, 'noop_with_empty_axes', 0) === 1) return [value];
      axes = Array.from({ length: rank }, (_, i) => i);
    }
    const logical = [...new Set(axes.map((a) => normaliseAxis(a, rank, node)))];
    const x = value.tensor;
    const isBool = x.dtype === 'bool';
    const input = isBool ? x.cast('int32') : x;
    if (input.size === 0) {
      const shape = (value.nhwc ? plain(value) : x).shape
        .map((d, i) => (logical.includes(i) ? 1 : d))
        .filter((_, i) => keepDims || !logical.includes(i));
      return [plainValue(tf.fill(shape, emptyValue(node.opType), x.dtype === 'int32' ? 'int32' : 'float32'))];
    }
    if (!value.nhwc) return [plainValue(fn(input, logical, keepDims))];
    const reduced = fn(
      input,
      logical.map((a) => NHWC_AXIS[a]),
      true,
    );
    if (keepDims) return [nhwcValue(reduced)];
    const back = plain(nhwcValue(reduced));
    return [plainValue(back.reshape(back.shape.filter((_, i) => !logical.includes(i))))];
  };
}

export const reduceOps: Registry = {
  ReduceMean: reduction((x, axes, keep) => tf.mean(x, axes, keep), 18),
  ReduceSum: reduction((x, axes, keep) => tf.sum(x, axes, keep), 13),
  ReduceMax: reduction((x, axes, keep) => tf.max(x, axes, keep), 18),
  ReduceMin: reduction((x, axes, keep) => tf.min(x, axes, keep), 18),
  ReduceProd: reduction((x, axes, keep) => tf.prod(x, axes, keep), 18),
  ReduceSumSquare: reduction((x, axes, keep) => tf.sum(tf.square(x), axes, keep), 18),
  ReduceL1: reduction((x, axes, keep) => tf.sum(tf.abs(x), axes, keep), 18),
  ReduceL2: reduction((x, axes, keep) => tf.sqrt(tf.sum(tf.square(x.toFloat()), axes, keep)), 18),
  ReduceLogSum: reduction((x, axes, keep) => tf.log(tf.sum(x, axes, keep)), 18),
  ReduceLogSumExp: reduction((x, axes, keep) => tf.logSumExp(x, axes, keep), 18),
};
