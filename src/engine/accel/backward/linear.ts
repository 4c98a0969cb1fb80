/**
 * Gemm by a constant matrix (the weights held fixed), MatMul (batched, broadcast, either operand computed) and
 * Einsum of one or two operands.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import type { OnnxGraph } from '../onnxGraph';
import { dimsOf, range, unbroadcast, unsqueezeNode } from './broadcast';
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

/** An Einsum's letters per operand and of its output; forms without a rule here are refused by name. */
function einsumLetters(equation: string, count: number): { terms: string[][]; output: string[] } {
  const refuse = (why: string) => new UnsupportedLayerError(`no gradient rule for the Einsum "${equation}" (${why})`);
  const [lhs, rhs] = equation.replace(/\s/g, '').split('->');
  if (lhs.includes('.') || rhs?.includes('.')) throw refuse('an ellipsis');
  const terms = lhs.split(',').map((term) => [...term]);
  if (terms.length !== count || count > 2) throw refuse(`${count} operands`);
  if (terms.some((term) => new Set(term).size !== term.length)) throw refuse('a letter repeated within an operand');
  // Implicit output: the letters used once, in alphabetical order (as the executor sorts them).
  const output =
    rhs !== undefined ? [...rhs] : [...new Set(terms.flat())].filter((l) => terms.flat().indexOf(l) === terms.flat().lastIndexOf(l)).sort();
  if (output.length === 0) throw refuse('a scalar output');
  return { terms, output };
}

/**
 * Each operand's gradient is the Einsum of dy with the other operand back to the operand's letters; letters it
 * alone sums over (in neither dy nor the other) are missing from that Einsum, and broadcast back after it.
 */
const einsum: BackwardRule = ({ g, node, dy, wants, accumulate }) => {
  const equation = node.attributes.equation as string;
  const { terms, output } = einsumLetters(equation, node.inputs.length);
  const sizes = new Map<string, number | null>();
  node.inputs.forEach((input, i) => {
    const dims = dimsOf(g, input);
    if (dims.length !== terms[i].length)
      throw new Error(`internal: Einsum "${equation}" names ${terms[i].length} axes of a rank-${dims.length} tensor`);
    terms[i].forEach((letter, axis) => {
      if (sizes.has(letter) && sizes.get(letter) !== dims[axis])
        throw new UnsupportedLayerError(`no gradient rule for the Einsum "${equation}" (its "${letter}" broadcast)`);
      sizes.set(letter, dims[axis]);
    });
  });
  node.inputs.forEach((input, i) => {
    if (!wants(input)) return;
    const others = node.inputs.flatMap((other, j) => (j === i ? [] : [{ name: other, letters: terms[j] }]));
    const reached = new Set([...output, ...others.flatMap((other) => other.letters)]);
    const kept = terms[i].filter((letter) => reached.has(letter));
    const sources = [output, ...others.map((other) => other.letters)].map((letters) => letters.join(''));
    const whole = kept.length === terms[i].length;
    const attributes = { equation: `${sources.join(',')}->${kept.join('')}` };
    const gradient = g.op('Einsum', [dy, ...others.map((other) => other.name)], attributes, whole ? g.shapes.get(input) : undefined);
    if (whole) return accumulate(input, gradient);
    const dropped = terms[i].flatMap((letter, axis) => (reached.has(letter) ? [] : [axis]));
    accumulate(input, g.op('Expand', [unsqueezeNode(g, gradient, dropped), g.op('Shape', [input])], {}, g.shapes.get(input)));
  });
};

export const linearRules: BackwardRules = {
  Gemm: ({ g, node, x, dy, shape, accumulate }) => {
    if (node.attributes.transA || !g.isConstant(node.inputs[1])) throw new UnsupportedLayerError('no gradient rule for this Gemm');
    // y = α·x·B (+ c) → dx = α·dy·Bᵀ; B stored transposed (PyTorch's Linear) needs no transpose back.
    const alpha = (node.attributes.alpha as { float: number } | undefined)?.float ?? 1;
    accumulate(x, g.op('Gemm', [dy, node.inputs[1]], { transB: node.attributes.transB ? 0 : 1, alpha: { float: alpha } }, shape));
  },
  MatMul: matMul,
  Einsum: einsum,
};
