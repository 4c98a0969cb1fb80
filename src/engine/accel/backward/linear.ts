/** Gemm by a constant matrix (the weights held fixed), and MatMul (batched, broadcast, either operand computed). */
import { UnsupportedLayerError } from '../layoutWriter';
import type { OnnxGraph } from '../onnxGraph';
import { dimsOf, range, unbroadcast } from './broadcast';
import type { BackwardRule, BackwardRules } from './types';

/** A matrix or a stack of them with its last two axes swapped. */
function swapped(g: OnnxGraph, t: string, rank: number): string {
  const perm = range(0, rank);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return g.op('Transpose', [t], { perm });
}

/**
 * y = a·b: da = dy·bᵀ, db = aᵀ·dy, each summed over the batch axes its operand was broadcast along
 * (a stack of matrices times one matrix).
 */
const matMul: BackwardRule = ({ g, node, y, dy, wants, accumulate }) => {
  const [a, b] = node.inputs;
  const [aDims, bDims, yDims] = [dimsOf(g, a), dimsOf(g, b), dimsOf(g, y)];
  if (aDims.length < 2 || bDims.length < 2) throw new UnsupportedLayerError('no gradient rule for a MatMul of a vector');
  const batch = yDims.slice(0, -2);
  if (wants(a)) accumulate(a, unbroadcast(g, g.op('MatMul', [dy, swapped(g, b, bDims.length)]), a, [...batch, ...aDims.slice(-2)]));
  if (wants(b)) accumulate(b, unbroadcast(g, g.op('MatMul', [swapped(g, a, aDims.length), dy]), b, [...batch, ...bDims.slice(-2)]));
};

export const linearRules: BackwardRules = {
  Gemm: ({ g, node, x, dy, shape, accumulate }) => {
    if (node.attributes.transA || !g.isConstant(node.inputs[1])) throw new UnsupportedLayerError('no gradient rule for this Gemm');
    // y = α·x·B (+ c) → dx = α·dy·Bᵀ; B stored transposed (PyTorch's Linear) needs no transpose back.
    const alpha = (node.attributes.alpha as { float: number } | undefined)?.float ?? 1;
    accumulate(x, g.op('Gemm', [dy, node.inputs[1]], { transB: node.attributes.transB ? 0 : 1, alpha: { float: alpha } }, shape));
  },
  MatMul: matMul,
};
