/** MaxPool, AveragePool (2-D; pads, auto_pad, ceil_mode, count_include_pad), GlobalAveragePool, GlobalMaxPool. */
import { cellsInside } from '../../tfjs/avgPoolGradientFix';
import { UnsupportedLayerError } from '../layoutWriter';
import { DATA_TYPE, type GraphNode, type OnnxGraph } from '../onnxGraph';
import type { BackwardRules, BackwardStep } from './types';
import { padsOfWindow, transposedConvolution, windowOf } from './window';

/** Each channel's gradient spread evenly over its h × w cells. */
export function globalAverageGradient({ g, x, shape }: BackwardStep, dy: string): string {
  const [, h, w] = g.shapeOf(x);
  return g.op('Expand', [g.op('Mul', [dy, g.scalar(1 / (h * w))]), g.op('Shape', [x])], {}, shape);
}

/**
 * Routes each pooled gradient to the input cell that won (ties: the one MaxPool reports). Windows that do not
 * overlap send at most one gradient to a cell: MaxUnpool places them (half the time of the general scatter,
 * which sums overlaps).
 */
function maxPoolInputGradient(g: OnnxGraph, node: GraphNode, dy: string): string {
  const [x] = node.inputs;
  // Row-major indices (storage_order 0), as MaxUnpool and the scatter read them.
  const [, indices] = g.node('MaxPool', [x], { ...node.attributes, storage_order: 0 }, undefined, 2);
  const window = windowOf(g, node);
  const { kernel, strides, dilations } = window;
  if (dilations.every((d) => d === 1) && kernel.every((k, i) => strides[i] >= k)) {
    // Explicit pads (auto_pad and ceil_mode resolved): MaxUnpool's own size rule then fits the input.
    return g.op(
      'MaxUnpool',
      [dy, indices, g.op('Shape', [x])],
      { kernel_shape: kernel, strides, pads: padsOfWindow(window) },
      g.shapeOf(x),
    );
  }
  const flat = g.ints([-1]);
  const zeros = g.op('ConstantOfShape', [g.op('Reshape', [g.op('Size', [x]), flat])]);
  const scattered = g.op('ScatterElements', [zeros, g.op('Reshape', [indices, flat]), g.op('Reshape', [dy, flat])], {
    axis: 0,
    reduction: 'add',
  });
  return g.op('Reshape', [scattered, g.op('Shape', [x])], {}, g.shapeOf(x));
}

/**
 * Each pooled gradient spread evenly over its window: divided by the cells the window averaged (padding
 * left out unless counted), then a transposed convolution with a kernel of ones per channel.
 */
function averagePoolInputGradient(g: OnnxGraph, node: GraphNode, dy: string): string {
  const window = windowOf(g, node);
  const { kernel, strides, dilations, before } = window;
  const countsPadding = node.attributes.count_include_pad === 1;
  if (dilations.some((d) => d !== 1)) throw new UnsupportedLayerError('no gradient rule for a dilated AveragePool');
  // Which cells ceil_mode's or auto_pad SAME's padding counts in is left open by ONNX: not guessed.
  if (countsPadding && (node.attributes.ceil_mode === 1 || String(node.attributes.auto_pad ?? '').startsWith('SAME')))
    throw new UnsupportedLayerError('no gradient rule for an AveragePool counting implicit padding');
  const [c, inH, inW] = g.shapeOf(node.inputs[0]);
  const [, outH, outW] = g.shapeOf(node.outputs[0]);
  const covered = (out: number, axis: number, size: number) => cellsInside(out * strides[axis] - before[axis], kernel[axis], size);
  const share = new Float32Array(outH * outW);
  for (let i = 0; i < outH; i++)
    for (let j = 0; j < outW; j++)
      share[i * outW + j] = 1 / (countsPadding ? kernel[0] * kernel[1] : covered(i, 0, inH) * covered(j, 1, inW));
  const scaled = g.op('Mul', [dy, g.floats(share, [1, 1, outH, outW], 'pool_share')]);
  const ones = g.floats(new Float32Array(c * kernel[0] * kernel[1]).fill(1), [c, 1, kernel[0], kernel[1]], 'pool_ones');
  return transposedConvolution(g, node, scaled, ones, window, c);
}

export const poolRules: BackwardRules = {
  MaxPool: ({ g, node, x, dy, accumulate }) => accumulate(x, maxPoolInputGradient(g, node, dy)),
  AveragePool: ({ g, node, x, dy, accumulate }) => accumulate(x, averagePoolInputGradient(g, node, dy)),
  GlobalAveragePool: (step) => step.accumulate(step.x, globalAverageGradient(step, step.dy)),
  // Every cell equal to its channel's maximum gets the gradient (tfjs's rule for max).
  GlobalMaxPool: ({ g, x, y, dy, shape, accumulate }) =>
    accumulate(x, g.op('Mul', [dy, g.op('Cast', [g.op('Equal', [x, y])], { to: DATA_TYPE.FLOAT })], {}, shape)),
};
