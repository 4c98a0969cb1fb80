/**
 * Conv (2-D; groups, dilations, pads, auto_pad) and ConvTranspose (any rank; groups, dilations, pads,
 * output_padding): their input gradients, the weights held fixed.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import type { GraphNode, OnnxGraph } from '../onnxGraph';
import type { BackwardRule, BackwardRules } from './types';
import { transposedConvolution, windowOf, type Window } from './window';

/**
 * The input gradient of a convolution: the transposed convolution with the same kernel and geometry. With
 * stride 1 it is computed as a plain convolution with the flipped, channel-swapped kernel instead, which
 * onnxruntime runs ~3× faster (its grouped ConvTranspose took half of a MobileNet input gradient).
 */
function convInputGradient(g: OnnxGraph, node: GraphNode, dy: string): string {
  const weights = node.inputs[1];
  const window = windowOf(g, node);
  const unitStride = window.strides.every((s) => s === 1) && window.dilations.every((d) => d === 1);
  const constantKernel = g.constantValue(weights);
  if (unitStride && constantKernel) return flippedConvolution(g, node, dy, constantKernel, window);
  return transposedConvolution(g, node, dy, weights, window, (node.attributes.group as number | undefined) ?? 1);
}

function flippedConvolution(
  g: OnnxGraph,
  node: GraphNode,
  dy: string,
  kernel: { dims: number[]; data: Float32Array },
  window: Window,
): string {
  const [outChannels, perGroupIn, kh, kw] = kernel.dims;
  const group = (node.attributes.group as number | undefined) ?? 1;
  const perGroupOut = outChannels / group;
  // W[o][i][y][x] (o in group j at j·perGroupOut + o', i within the group) → W'[j·perGroupIn + i][o'][kh−1−y][kw−1−x].
  const flipped = new Float32Array(kernel.data.length);
  for (let o = 0; o < outChannels; o++) {
    const j = Math.floor(o / perGroupOut);
    const oInGroup = o % perGroupOut;
    for (let i = 0; i < perGroupIn; i++)
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++) {
          const from = ((o * perGroupIn + i) * kh + y) * kw + xx;
          const to = (((j * perGroupIn + i) * perGroupOut + oInGroup) * kh + (kh - 1 - y)) * kw + (kw - 1 - xx);
          flipped[to] = kernel.data[from];
        }
  }
  const [top, left] = window.before;
  const [bottom, right] = window.after;
  const pads = [kh - 1 - top, kw - 1 - left, kh - 1 - bottom, kw - 1 - right];
  if (pads.some((p) => p < 0)) throw new UnsupportedLayerError('no gradient rule for a convolution padded by more than its kernel');
  const attributes = { kernel_shape: [kh, kw], strides: [1, 1], dilations: [1, 1], pads, group };
  return g.op(
    'Conv',
    [dy, g.floats(flipped, [group * perGroupIn, perGroupOut, kh, kw], 'W_flipped')],
    attributes,
    g.shapeOf(node.inputs[0]),
  );
}

/**
 * A transposed convolution is the input gradient of the convolution with the same weights, strides,
 * dilations, groups and pads; its own input gradient is that convolution, of dy. The convolution reads
 * output_padding fewer rows after dy (none where the pad is smaller: its last window then ends inside dy).
 * auto_pad SAME and output_shape arrive resolved into pads (onnxFileAccelerator.ts writes the executor's).
 */
const convTranspose: BackwardRule = ({ g, node, x, y, dy, shape, wants, accumulate }) => {
  const [, weights, bias] = node.inputs;
  if (wants(weights) || (bias && wants(bias)))
    throw new UnsupportedLayerError('no gradient rule for a ConvTranspose with computed weights');
  const { attributes } = node;
  const autoPad = (attributes.auto_pad as string | undefined) ?? 'NOTSET';
  if ((autoPad !== 'NOTSET' && autoPad !== 'VALID') || attributes.output_shape)
    throw new UnsupportedLayerError(
      `no gradient rule for a ConvTranspose with ${attributes.output_shape ? 'output_shape' : `auto_pad ${autoPad}`}`,
    );
  const kernel = (attributes.kernel_shape as number[] | undefined) ?? g.constantDims(weights)?.slice(2);
  if (!kernel) throw new UnsupportedLayerError('no gradient rule for a ConvTranspose of unknown kernel size');
  const n = kernel.length;
  const each = (name: string, fallback: number) => (attributes[name] as number[] | undefined) ?? Array<number>(n).fill(fallback);
  const [strides, dilations, extra] = [each('strides', 1), each('dilations', 1), each('output_padding', 0)];
  const pads =
    autoPad === 'VALID' ? Array<number>(2 * n).fill(0) : ((attributes.pads as number[] | undefined) ?? Array<number>(2 * n).fill(0));
  const [inSize, outSize] = [g.shapeOf(x).slice(1), g.shapeOf(y).slice(1)];
  const after = inSize.map((size, i) => {
    const span = (kernel[i] - 1) * dilations[i] + 1;
    if (outSize[i] !== strides[i] * (size - 1) + span + extra[i] - pads[i] - pads[n + i])
      throw new UnsupportedLayerError('no gradient rule for a ConvTranspose whose output is not the size its attributes give');
    // output_padding a stride or more past the pad: the convolution would give one more row than x has.
    if (extra[i] - pads[n + i] >= strides[i])
      throw new UnsupportedLayerError('no gradient rule for a ConvTranspose padded a stride past its pads');
    return Math.max(pads[n + i] - extra[i], 0);
  });
  const group = (attributes.group as number | undefined) ?? 1;
  const conv = { kernel_shape: kernel, strides, dilations, group, pads: [...pads.slice(0, n), ...after] };
  accumulate(x, g.op('Conv', [dy, weights], conv, shape));
};

export const convRules: BackwardRules = {
  Conv: ({ g, node, x, dy, accumulate }) => accumulate(x, convInputGradient(g, node, dy)),
  ConvTranspose: convTranspose,
};
