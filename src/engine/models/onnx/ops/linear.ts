/** Gemm and MatMul (numpy semantics: 1-D operands promoted, batch dimensions broadcast). */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { attr, plain, plainValue, required, type OpFn, type Registry } from './types';

const gemm: OpFn = (inputs, node) => {
  const a = plain(required(inputs, 0, node));
  const b = plain(required(inputs, 1, node));
  if (a.rank !== 2 || b.rank !== 2) throw new Error(`Gemm node "${node.name}" needs 2-D inputs; got [${a.shape.join(', ')}] and [${b.shape.join(', ')}].`);
  const alpha = attr.float(node, 'alpha', 1);
  const beta = attr.float(node, 'beta', 1);
  let y: Tensor = tf.matMul(a, b, attr.int(node, 'transA', 0) === 1, attr.int(node, 'transB', 0) === 1);
  if (alpha !== 1) y = y.mul(alpha);
  const c = inputs[2] ? plain(inputs[2]) : null;
  if (c && beta !== 0) y = y.add(beta === 1 ? c : c.mul(beta));
  return [plainValue(y)];
};

const matMul: OpFn = (inputs, node) => {
  let a = plain(required(inputs, 0, node));
  let b = plain(required(inputs, 1, node));
  const aVector = a.rank === 1;
  const bVector = b.rank === 1;
  if (aVector) a = a.expandDims(0);
  if (bVector) b = b.expandDims(1);
  if (a.rank !== b.rank) {
    const rank = Math.max(a.rank, b.rank);
    a = a.reshape([...Array(rank - a.rank).fill(1), ...a.shape]);
    b = b.reshape([...Array(rank - b.rank).fill(1), ...b.shape]);
  }
  let y = tf.matMul(a, b);
  if (aVector) y = y.squeeze([y.rank - 2]);
  if (bVector) y = y.squeeze([y.rank - 1]);
  return [plainValue(y)];
};

export const linearOps: Registry = { Gemm: gemm, MatMul: matMul };
