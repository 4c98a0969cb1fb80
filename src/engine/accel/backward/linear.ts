/** Gemm and MatMul by a constant matrix (the weights held fixed). */
import { UnsupportedLayerError } from '../layoutWriter';
import type { BackwardRules } from './types';

export const linearRules: BackwardRules = {
  Gemm: ({ g, node, x, dy, shape, accumulate }) => {
    if (node.attributes.transA || !g.isConstant(node.inputs[1])) throw new UnsupportedLayerError('no gradient rule for this Gemm');
    // y = α·x·B (+ c) → dx = α·dy·Bᵀ; B stored transposed (PyTorch's Linear) needs no transpose back.
    const alpha = (node.attributes.alpha as { float: number } | undefined)?.float ?? 1;
    accumulate(x, g.op('Gemm', [dy, node.inputs[1]], { transB: node.attributes.transB ? 0 : 1, alpha: { float: alpha } }, shape));
  },
  MatMul: ({ g, node, x, dy, shape, accumulate }) => {
    if (!g.isConstant(node.inputs[1])) throw new UnsupportedLayerError('no gradient rule for a MatMul of two computed tensors');
    accumulate(x, g.op('MatMul', [dy, g.op('Transpose', [node.inputs[1]])], {}, shape));
  },
};
