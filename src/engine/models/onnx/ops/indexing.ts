/**
 * Index arithmetic that exporters emit while building masks and position tables (Swin's shifted-window
 * mask, relative position indices): Range and ScatterND.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { attr, numbers, plain, plainValue, required, type OpFn, type Registry } from './types';

/** Range(start, limit, delta): ⌈(limit − start) / delta⌉ elements (none if negative), in the inputs' type. */
const range: OpFn = (inputs, node) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => numbers(required(inputs, i, node))![0]);
  if (delta === 0) throw new Error(`Range node "${node.name}" has delta 0.`);
  const dtype = required(inputs, 0, node).tensor.dtype === 'int32' ? 'int32' : 'float32';
  const count = Math.max(Math.ceil((limit - start) / delta), 0);
  return [
    plainValue(
      tf.tensor1d(
        Array.from({ length: count }, (_, i) => start + i * delta),
        dtype,
      ),
    ),
  ];
};

/**
 * ScatterND: a copy of data with slices at the index tuples replaced by (or, with a reduction, combined
 * with) the updates. Float data keeps a gradient (tfjs has none for scatterND): data's where it was not
 * overwritten (everywhere for 'add'), the updates' gathered at their indices.
 */
const scatterND: OpFn = (inputs, node) => {
  const data = plain(required(inputs, 0, node));
  const indicesValue = required(inputs, 1, node);
  const updates = plain(required(inputs, 2, node));
  const reduction = attr.string(node, 'reduction', 'none');
  const k = indicesValue.tensor.shape[indicesValue.tensor.rank - 1];
  const shape = data.shape;
  const raw = numbers(indicesValue) ?? [];
  const strides = shape.slice(0, k).map((_, i) => shape.slice(i + 1, k).reduce((a, b) => a * b, 1));
  const flat: number[] = [];
  const tuples: number[] = [];
  for (let t = 0; t < raw.length / k; t++) {
    let offset = 0;
    for (let i = 0; i < k; i++) {
      const dim = shape[i];
      const v = raw[t * k + i];
      if (v < -dim || v >= dim) throw new Error(`ScatterND node "${node.name}": index ${v} is out of range for size ${dim}.`);
      const j = v < 0 ? v + dim : v;
      tuples.push(j);
      offset += j * strides[i];
    }
    flat.push(offset);
  }
  if (!['none', 'add', 'mul', 'max', 'min'].includes(reduction))
    throw new Error(`ScatterND node "${node.name}" has reduction "${reduction}", which CNN Lens does not support.`);
  if (flat.length === 0) return [plainValue(data)];
  const rows = [flat.length, ...shape.slice(k)];
  // Repeated indices: in rounds of distinct ones, in order (the last write wins; mul, max, min combine).
  const rounds: number[][] = [];
  if (reduction !== 'add' && new Set(flat).size !== flat.length) {
    const seen = new Map<number, number>();
    flat.forEach((offset, t) => {
      const round = seen.get(offset) ?? 0;
      seen.set(offset, round + 1);
      (rounds[round] ??= []).push(t);
    });
  } else rounds.push(flat.map((_, t) => t));
  const scatterRound = (x: Tensor, u: Tensor, members: number[]): Tensor => {
    const all = members.length === flat.length;
    const indices = tf.tensor(all ? tuples : members.flatMap((t) => tuples.slice(t * k, t * k + k)), [members.length, k], 'int32');
    const part = all ? u : tf.gather(u, tf.tensor1d(members, 'int32'));
    const hit = tf.scatterND(indices, tf.onesLike(part), shape).greater(tf.scalar(0, x.dtype));
    const scattered = tf.scatterND(indices, part, shape);
    const combined =
      reduction === 'none'
        ? scattered
        : reduction === 'add'
          ? x.add(scattered)
          : reduction === 'mul'
            ? x.mul(scattered)
            : reduction === 'max'
              ? x.maximum(scattered)
              : x.minimum(scattered);
    return tf.where(hit, combined, x);
  };
  const run = (x: Tensor, u: Tensor): Tensor => {
    const dtype = x.dtype === 'bool' ? 'int32' : x.dtype;
    const us = u.cast(dtype).reshape(rows);
    const y = rounds.reduce((acc, members) => scatterRound(acc, us, members), x.cast(dtype));
    return x.dtype === 'bool' ? y.cast('bool') : y;
  };
  if (data.dtype !== 'float32' || (reduction !== 'none' && reduction !== 'add') || rounds.length > 1)
    return [plainValue(run(data, updates))];
  const indices = tf.tensor(tuples, [flat.length, k], 'int32');
  // The indices go through save: tensors a gradient function merely closes over are gone by the time it runs.
  const differentiable = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [x, u, index, save] = args as [Tensor, Tensor, Tensor, tf.GradSaveFunc];
    save([index]);
    return {
      value: run(x, u),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [at] = saved;
        const throughData = reduction === 'add' ? dy : tf.where(tf.scatterND(at, tf.ones(rows), shape).greater(0), tf.zerosLike(dy), dy);
        return [throughData, tf.gatherND(dy, at).reshape(u.shape), tf.zeros(at.shape)];
      },
    };
  });
  return [plainValue(differentiable(data, updates, indices))];
};

export const indexingOps: Registry = { Range: range, ScatterND: scatterND };
