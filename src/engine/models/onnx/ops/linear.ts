/** Gemm, MatMul (numpy semantics: 1-D operands promoted, batch dimensions broadcast) and Einsum. */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import type { OnnxNode } from '../onnxFile';
import { broadcastShapes } from './shape';
import { attr, plain, plainValue, required, type OpFn, type Registry } from './types';

/**
 * Gemm. B transposed (transB, as PyTorch's Linear exports) is multiplied as B transposed beforehand — at
 * load where B is a constant (the executor's prepared weight): wasm's matMul with transposeB is ~10× slower
 * on weight-sized matrices.
 */
const gemm: OpFn = (inputs, node, ctx) => {
  const a = plain(required(inputs, 0, node));
  const b = plain(required(inputs, 1, node));
  if (a.rank !== 2 || b.rank !== 2)
    throw new Error(`Gemm node "${node.name}" needs 2-D inputs; got [${a.shape.join(', ')}] and [${b.shape.join(', ')}].`);
  const alpha = attr.float(node, 'alpha', 1);
  const beta = attr.float(node, 'beta', 1);
  const transB = attr.int(node, 'transB', 0) === 1;
  const right = transB ? ((ctx.prepared as Tensor | null) ?? tf.transpose(b)) : b;
  let y: Tensor = tf.matMul(a, right, attr.int(node, 'transA', 0) === 1, false);
  if (alpha !== 1) y = y.mul(alpha);
  const c = inputs[2] ? plain(inputs[2]) : null;
  if (c && beta !== 0) y = y.add(beta === 1 ? c : c.mul(beta));
  return [plainValue(y)];
};

/**
 * a · b over the last two axes, the batch axes broadcast. A 2-D b (a weight) multiplies every row of a at
 * once, as one [rows, k] × [k, n] product; tfjs indexes broadcast batches modulo each operand's batch
 * count, so batch shapes that differ other than by a lone 1 are broadcast first.
 */
export function batchedMatMul(a: Tensor, b: Tensor, transposeB = false): Tensor {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    const dtype = a.dtype === 'float32' || b.dtype === 'float32' ? 'float32' : 'int32';
    const y = batchedMatMul(a.toFloat(), b.toFloat(), transposeB);
    return dtype === 'float32' ? y : tf.round(y).cast(dtype);
  }
  if (b.rank === 2 && a.rank > 2) {
    const [rows, columns] = b.shape as [number, number];
    const k = (a.shape as number[])[a.rank - 1];
    return tf.matMul(a.reshape([-1, k]), b, false, transposeB).reshape([...a.shape.slice(0, -1), transposeB ? rows : columns]);
  }
  const rank = Math.max(a.rank, b.rank);
  if (a.rank !== rank) a = a.reshape([...Array(rank - a.rank).fill(1), ...a.shape]);
  if (b.rank !== rank) b = b.reshape([...Array(rank - b.rank).fill(1), ...b.shape]);
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const count = (s: number[]) => s.reduce((p, d) => p * d, 1);
  if (batchA.join() !== batchB.join() && count(batchA) !== 1 && count(batchB) !== 1) {
    const batch = broadcastShapes(batchA, batchB);
    if (!batch) throw new Error(`MatMul: batch shapes [${batchA.join(', ')}] and [${batchB.join(', ')}] do not broadcast.`);
    a = tf.broadcastTo(a, [...batch, ...a.shape.slice(-2)]);
    b = tf.broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
  }
  return tf.matMul(a, b, false, transposeB);
}

const matMul: OpFn = (inputs, node) => {
  let a = plain(required(inputs, 0, node));
  let b = plain(required(inputs, 1, node));
  const aVector = a.rank === 1;
  const bVector = b.rank === 1;
  if (aVector) a = a.expandDims(0);
  if (bVector) b = b.expandDims(1);
  let y = batchedMatMul(a, b);
  if (aVector) y = y.squeeze([y.rank - 2]);
  if (bVector) y = y.squeeze([y.rank - 1]);
  return [plainValue(y)];
};

/** One operand's letters, with '...' spelled out as the capital letters the broadcast axes get. */
function operandLetters(term: string, rank: number, ellipsis: string[], node: OnnxNode, equation: string): string[] {
  const parts = term.split('...');
  if (parts.length > 2) throw new Error(`Einsum node "${node.name}": equation "${equation}" has two ellipses in one term.`);
  const named = parts.join('').length;
  const spread = parts.length === 2 ? rank - named : 0;
  if (spread < 0 || (parts.length === 1 && named !== rank))
    throw new Error(`Einsum node "${node.name}": term "${term}" of "${equation}" does not match an operand of rank ${rank}.`);
  return [...parts[0], ...ellipsis.slice(ellipsis.length - spread), ...(parts[1] ?? '')];
}

/** Sums over letters, then permutes to the order wanted: one operand's part of an Einsum. */
function reduceTo(x: Tensor, letters: string[], keep: Set<string>): { tensor: Tensor; letters: string[] } {
  const summed = letters.map((l, i) => (keep.has(l) ? -1 : i)).filter((i) => i >= 0);
  return { tensor: summed.length ? tf.sum(x, summed) : x, letters: letters.filter((l) => keep.has(l)) };
}

function permuted(x: Tensor, letters: string[], order: string[]): Tensor {
  const perm = order.map((l) => letters.indexOf(l));
  return perm.every((p, i) => p === i) ? x : tf.transpose(x, perm);
}

/**
 * Two operands contracted as one batched matrix product: shared letters kept in the result are the batch,
 * shared letters summed are the inner dimension, the rest are each side's rows and columns.
 */
function contract(
  a: Tensor,
  la: string[],
  b: Tensor,
  lb: string[],
  keep: Set<string>,
  sizes: Map<string, number>,
): { tensor: Tensor; letters: string[] } {
  const inB = new Set(lb);
  const inA = new Set(la);
  ({ tensor: a, letters: la } = reduceTo(a, la, new Set([...keep, ...lb])));
  ({ tensor: b, letters: lb } = reduceTo(b, lb, new Set([...keep, ...la])));
  const batch = la.filter((l) => inB.has(l) && keep.has(l));
  const inner = la.filter((l) => inB.has(l) && !keep.has(l));
  const rows = la.filter((l) => !inB.has(l));
  const cols = lb.filter((l) => !inA.has(l));
  const size = (ls: string[]) => ls.reduce((p, l) => p * sizes.get(l)!, 1);
  const dims = (t: Tensor, ls: string[]) => new Map(ls.map((l, i) => [l, t.shape[i]]));
  const da = dims(a, la);
  const db = dims(b, lb);
  // Batch axes of size 1 on one side broadcast: bring both to the full size first.
  const full = (t: Tensor, ls: string[], d: Map<string, number>) => {
    const target = ls.map((l) => (batch.includes(l) ? sizes.get(l)! : d.get(l)!));
    return target.every((n, i) => n === t.shape[i]) ? t : tf.broadcastTo(t, target);
  };
  a = full(a, la, da);
  b = full(b, lb, db);
  const letters = [...batch, ...rows, ...cols];
  const shape = letters.map((l) => sizes.get(l)!);
  if (inner.length === 0) {
    // No summed axis: an outer product per batch element, by broadcasting.
    const x = permuted(a, la, [...batch, ...rows]).reshape([size(batch), size(rows), 1]);
    const y = permuted(b, lb, [...batch, ...cols]).reshape([size(batch), 1, size(cols)]);
    return { tensor: tf.mul(x, y).reshape(shape), letters };
  }
  const x = permuted(a, la, [...batch, ...rows, ...inner]).reshape([size(batch), size(rows), size(inner)]);
  // b as [batch, cols, inner] when that is its order already (attention's q·kᵀ): matMul transposes for free.
  const bt = lb.join() === [...batch, ...cols, ...inner].join();
  const y = bt
    ? b.reshape([size(batch), size(cols), size(inner)])
    : permuted(b, lb, [...batch, ...inner, ...cols]).reshape([size(batch), size(inner), size(cols)]);
  return { tensor: tf.matMul(x, y, false, bt).reshape(shape), letters };
}

/** A letter repeated within one operand ("ii->i", "...ii->...i"): its diagonal, as a masked sum. */
function diagonal(x: Tensor, letters: string[], node: OnnxNode, equation: string): { tensor: Tensor; letters: string[] } {
  for (let q = letters.length - 1; q > 0; q--) {
    const p = letters.indexOf(letters[q]);
    if (p === q) continue;
    const n = x.shape[p];
    if (x.shape[q] !== n)
      throw new Error(`Einsum node "${node.name}": "${letters[q]}" has sizes ${n} and ${x.shape[q]} in one operand of "${equation}".`);
    const eye = tf.eye(n).reshape(x.shape.map((d, i) => (i === p || i === q ? n : 1)));
    return diagonal(
      tf.sum(x.mul(eye), q),
      letters.filter((_, i) => i !== q),
      node,
      equation,
    );
  }
  return { tensor: x, letters };
}

/**
 * Einsum with one or more operands (contracted left to right) and explicit or implicit output, '...'
 * and diagonals (a letter repeated within one operand) included.
 */
const einsum: OpFn = (inputs, node) => {
  const equation = attr.string(node, 'equation', '').replace(/\s/g, '');
  const given = inputs.map((_, i) => plain(required(inputs, i, node)));
  // wasm multiplies float32 only: integers go through float32, exact below 2²⁴.
  const dtype = given[0].dtype;
  const operands = given.map((t) => (t.dtype === 'float32' ? t : t.toFloat()));
  const [lhs, rhs] = equation.includes('->') ? equation.split('->') : [equation, null];
  const terms = lhs.split(',');
  if (terms.length !== operands.length)
    throw new Error(`Einsum node "${node.name}": equation "${equation}" names ${terms.length} operands; the node has ${operands.length}.`);
  const maxSpread = Math.max(0, ...terms.map((t, i) => (t.includes('...') ? operands[i].rank - t.replace('...', '').length : 0)));
  const ellipsis = Array.from({ length: maxSpread }, (_, i) => String.fromCharCode(65 + i));
  if (/[A-Z]/.test(equation) && maxSpread > 0)
    throw new Error(
      `Einsum node "${node.name}": equation "${equation}" mixes capital letters with '...', which CNN Lens does not support.`,
    );
  const written = terms.map((t, i) => operandLetters(t, operands[i].rank, ellipsis, node, equation));
  const diagonals = written.map((ls, i) => diagonal(operands[i], ls, node, equation));
  const letters = diagonals.map((d) => d.letters);
  diagonals.forEach((d, i) => (operands[i] = d.tensor));
  const sizes = new Map<string, number>();
  letters.forEach((ls, i) => {
    ls.forEach((l, j) => {
      const d = operands[i].shape[j];
      const known = sizes.get(l);
      if (known !== undefined && known !== d && known !== 1 && d !== 1)
        throw new Error(`Einsum node "${node.name}": "${l}" has sizes ${known} and ${d} in "${equation}".`);
      sizes.set(l, known === undefined || known === 1 ? d : known);
    });
  });
  let output: string[];
  if (rhs === null) {
    const counts = new Map<string, number>();
    written.flat().forEach((l) => counts.set(l, (counts.get(l) ?? 0) + 1));
    output = [
      ...ellipsis.filter((l) => counts.has(l)),
      ...[...counts]
        .filter(([l, c]) => c === 1 && !ellipsis.includes(l))
        .map(([l]) => l)
        .sort(),
    ];
  } else {
    const spread = Math.max(0, ...letters.map((ls) => ls.filter((l) => ellipsis.includes(l)).length));
    output = operandLetters(rhs, rhs.replace('...', '').length + (rhs.includes('...') ? spread : 0), ellipsis, node, equation);
  }
  if (output.some((l) => !sizes.has(l)))
    throw new Error(`Einsum node "${node.name}": the output of "${equation}" names a letter no operand has.`);
  let current = { tensor: operands[0], letters: letters[0] };
  for (let i = 1; i < operands.length; i++) {
    const later = new Set([...output, ...letters.slice(i + 1).flat()]);
    current = contract(current.tensor, current.letters, operands[i], letters[i], later, sizes);
  }
  const reduced = reduceTo(current.tensor, current.letters, new Set(output));
  let y = permuted(reduced.tensor, reduced.letters, output);
  const target = output.map((l) => sizes.get(l)!);
  if (!target.every((d, i) => d === y.shape[i])) y = tf.broadcastTo(y, target);
  return [plainValue(dtype === 'float32' ? y : tf.round(y).cast(dtype))];
};

export const linearOps: Registry = { Gemm: gemm, MatMul: matMul, Einsum: einsum };
