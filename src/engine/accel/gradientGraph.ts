/**
 * Reverse-mode differentiation of an exported graph, written into the graph itself, for the input (or a
 * layer's activations) only: no weight gradients, and the backward pass runs in onnxruntime with the
 * forward one. Each forward op's rule is the textbook one (a convolution's input gradient is the
 * transposed convolution with the same kernel); rectifiers follow the ReLU rule when one is asked for
 * (guided backprop, deconvnet: models/reluRules.ts). An op without a rule here makes the gradient graph
 * fail, and the technique then runs on TF.js.
 */
import { cellsInside } from '../tfjs/avgPoolGradientFix';
import type { ReluRule } from '../models/reluRules';
import { DATA_TYPE, type GraphNode, type OnnxGraph } from './onnxGraph';
import { UnsupportedLayerError } from './layoutWriter';

/**
 * Adds d(Σ seed · output)/d(x) for each x of `wrt` to the graph and returns their names. `seed` is a graph
 * input shaped like `output` (a one-hot row per image gives one class score's gradient per image).
 */
export function addGradients(graph: OnnxGraph, output: string, seed: string, wrt: string[], rule: ReluRule | null = null): string[] {
  const forward = [...graph.nodes];
  const dependsOnWrt = new Set(wrt);
  for (const node of forward)
    if (node.inputs.some((name) => dependsOnWrt.has(name))) node.outputs.forEach((name) => dependsOnWrt.add(name));
  const leadsToOutput = new Set([output]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    if (node.outputs.some((name) => leadsToOutput.has(name))) node.inputs.forEach((name) => leadsToOutput.add(name));
  }
  const grads = new Map<string, string>([[output, seed]]);
  const accumulate = (name: string, gradient: string) => {
    if (!dependsOnWrt.has(name) || !leadsToOutput.has(name)) return;
    const existing = grads.get(name);
    grads.set(name, existing ? graph.op('Add', [existing, gradient], {}, graph.shapes.get(name)) : gradient);
  };
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    const dy = grads.get(node.outputs[0]);
    if (!dy || !node.inputs.some((name) => dependsOnWrt.has(name))) continue;
    backward(graph, node, dy, rule, accumulate);
  }
  return wrt.map((name) => {
    const gradient = grads.get(name);
    if (!gradient) throw new UnsupportedLayerError(`${name} does not lead to ${output}`);
    return gradient;
  });
}

type Accumulate = (name: string, gradient: string) => void;

function backward(g: OnnxGraph, node: GraphNode, dy: string, rule: ReluRule | null, accumulate: Accumulate): void {
  const [x] = node.inputs;
  const y = node.outputs[0];
  const shape = g.shapes.get(x);
  // Multiplying by the mask cast to floats: onnxruntime's Where took 2–3× as long (measured on the bundled
  // model's activations, and it was a tenth of its input gradient).
  const masked = (mask: string) => g.op('Mul', [rule ? g.op('Relu', [dy]) : dy, g.op('Cast', [mask], { to: DATA_TYPE.FLOAT })], {}, shape);
  const positive = (t: string) => g.op('Greater', [t, g.scalar(0)]);
  switch (node.op) {
    case 'Identity':
    case 'Dropout':
      return accumulate(x, dy);
    case 'Transpose': {
      const perm = node.attributes.perm as number[];
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return accumulate(x, g.op('Transpose', [dy], { perm: inverse }, shape));
    }
    case 'Flatten':
    case 'Reshape':
    case 'Squeeze':
    case 'Unsqueeze':
      return accumulate(x, g.op('Reshape', [dy, g.op('Shape', [x])], {}, shape));
    case 'Relu':
      if (rule === 'deconvnet') return accumulate(x, g.op('Relu', [dy], {}, shape));
      return accumulate(x, masked(positive(y)));
    case 'Clip': {
      const [, min, max] = node.inputs.map((name) => g.constantValue(name)?.data[0]);
      if (min !== 0 || max === undefined) throw new UnsupportedLayerError(`no gradient rule for Clip(${min}, ${max})`);
      if (rule === 'deconvnet') return accumulate(x, g.op('Relu', [dy], {}, shape));
      return accumulate(x, masked(g.op('And', [positive(y), g.op('Less', [y, g.scalar(max)])])));
    }
    case 'LeakyRelu': {
      if (rule === 'deconvnet') return accumulate(x, g.op('Relu', [dy], {}, shape));
      const alpha = (node.attributes.alpha as { float: number }).float;
      const incoming = rule ? g.op('Relu', [dy]) : dy;
      return accumulate(
        x,
        g.op('Where', [g.op('Greater', [y, g.scalar(0)]), incoming, g.op('Mul', [incoming, g.scalar(alpha)])], {}, shape),
      );
    }
    case 'HardSigmoid':
    case 'HardSwish': {
      // y = x·h (HardSwish) or h, with h = clip(αx + β, 0, 1); its slope α counts where αx + β is within
      // [0, 1], edges included (as tfjs differentiates clipByValue).
      const alpha = node.op === 'HardSwish' ? 1 / 6 : ((node.attributes.alpha as { float: number } | undefined)?.float ?? 0.2);
      const beta = node.op === 'HardSwish' ? 0.5 : ((node.attributes.beta as { float: number } | undefined)?.float ?? 0.5);
      const linear = g.op('Add', [g.op('Mul', [x, g.scalar(alpha)]), g.scalar(beta)]);
      const inside = g.op(
        'Cast',
        [g.op('And', [g.op('GreaterOrEqual', [linear, g.scalar(0)]), g.op('LessOrEqual', [linear, g.scalar(1)])])],
        { to: DATA_TYPE.FLOAT },
      );
      const slope = g.op('Mul', [inside, g.scalar(alpha)]);
      const derivative =
        node.op === 'HardSwish' ? g.op('Add', [g.op('Clip', [linear, g.scalar(0), g.scalar(1)]), g.op('Mul', [x, slope])]) : slope;
      return accumulate(x, g.op('Mul', [dy, derivative], {}, shape));
    }
    case 'Elu': {
      // 1 where the output is ≥ 0, else y + α (= α·eˣ), as tfjs differentiates elu.
      const alpha = (node.attributes.alpha as { float: number } | undefined)?.float ?? 1;
      const slope = g.op('Where', [g.op('GreaterOrEqual', [y, g.scalar(0)]), g.scalar(1), g.op('Add', [y, g.scalar(alpha)])]);
      return accumulate(x, g.op('Mul', [dy, slope], {}, shape));
    }
    case 'Sigmoid':
      return accumulate(x, g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [g.scalar(1), y])])], {}, shape));
    case 'Tanh':
      return accumulate(x, g.op('Mul', [dy, g.op('Sub', [g.scalar(1), g.op('Mul', [y, y])])], {}, shape));
    case 'Conv':
      return accumulate(x, convInputGradient(g, node, dy));
    case 'Gemm': {
      if (node.attributes.transA || !g.isConstant(node.inputs[1])) throw new UnsupportedLayerError('no gradient rule for this Gemm');
      // y = α·x·B (+ c) → dx = α·dy·Bᵀ; B stored transposed (PyTorch's Linear) needs no transpose back.
      const alpha = (node.attributes.alpha as { float: number } | undefined)?.float ?? 1;
      return accumulate(x, g.op('Gemm', [dy, node.inputs[1]], { transB: node.attributes.transB ? 0 : 1, alpha: { float: alpha } }, shape));
    }
    case 'BatchNormalization': {
      const [, scale, , , variance] = node.inputs.map((name) => g.constantValue(name));
      if (!scale || !variance) throw new UnsupportedLayerError('no gradient rule for a batch norm with computed statistics');
      const epsilon = (node.attributes.epsilon as { float: number } | undefined)?.float ?? 1e-5;
      const factor = scale.data.map((s, c) => s / Math.sqrt(variance.data[c] + epsilon));
      const rank = g.shapeOf(x).length;
      return accumulate(x, g.op('Mul', [dy, g.floats(factor, [factor.length, ...Array(rank - 1).fill(1)], 'bn_factor')], {}, shape));
    }
    case 'ReduceMean': {
      const axes = (node.attributes.axes as number[] | undefined) ?? (node.inputs[1] ? g.intValues(node.inputs[1]) : undefined);
      const spatial = axes && axes.length === 2 && axes.every((a) => a === 2 || a === 3 || a === -1 || a === -2);
      if (!spatial) throw new UnsupportedLayerError('no gradient rule for a ReduceMean over other axes than height and width');
      const [, h, w] = g.shapeOf(x);
      // keepdims = 0 dropped the two axes: put them back before broadcasting.
      const kept = node.attributes.keepdims === 0 ? g.op('Reshape', [dy, g.ints([0, 0, 1, 1])]) : dy;
      return accumulate(x, g.op('Expand', [g.op('Mul', [kept, g.scalar(1 / (h * w))]), g.op('Shape', [x])], {}, shape));
    }
    case 'MatMul':
      if (!g.isConstant(node.inputs[1])) throw new UnsupportedLayerError('no gradient rule for a MatMul of two computed tensors');
      return accumulate(x, g.op('MatMul', [dy, g.op('Transpose', [node.inputs[1]])], {}, shape));
    case 'Add':
    case 'Sub':
    case 'Sum':
      return node.inputs.forEach((input, i) => {
        if (g.isConstant(input)) return;
        if (g.shapes.get(input)?.join() !== g.shapes.get(y)?.join())
          throw new UnsupportedLayerError(`no gradient rule for a broadcasting ${node.op}`);
        accumulate(input, node.op === 'Sub' && i === 1 ? g.op('Neg', [dy], {}, shape) : dy);
      });
    case 'Mul': {
      const [a, b] = node.inputs;
      if (g.isConstant(b)) return accumulate(a, g.op('Mul', [dy, b], {}, shape));
      if (g.isConstant(a)) return accumulate(b, g.op('Mul', [dy, a], {}, g.shapes.get(b)));
      // A factor broadcast over others' axes (a squeeze-excitation gate [c, 1, 1]) gets its gradient summed over them.
      const unbroadcast = (gradient: string, of: string) => {
        const target = g.shapeOf(of);
        const full = g.shapeOf(y);
        if (target.join() === full.join()) return gradient;
        if (target.length !== full.length || target.some((d, i) => d !== 1 && d !== full[i]))
          throw new UnsupportedLayerError('no gradient rule for this broadcasting Mul');
        const axes = target.flatMap((d, i) => (d === 1 && full[i] !== 1 ? [i + 1] : []));
        return g.opset >= 13
          ? g.op('ReduceSum', [gradient, g.ints(axes)], { keepdims: 1 }, target)
          : g.op('ReduceSum', [gradient], { axes, keepdims: 1 }, target);
      };
      accumulate(a, unbroadcast(g.op('Mul', [dy, b]), a));
      return accumulate(b, unbroadcast(g.op('Mul', [dy, a]), b));
    }
    case 'Div': {
      const [a, b] = node.inputs;
      if (!g.isConstant(b)) throw new UnsupportedLayerError('no gradient rule for a division by a computed tensor');
      return accumulate(a, g.op('Div', [dy, b], {}, shape));
    }
    case 'GlobalAveragePool': {
      const [, h, w] = g.shapeOf(x);
      return accumulate(x, g.op('Expand', [g.op('Mul', [dy, g.scalar(1 / (h * w))]), g.op('Shape', [x])], {}, shape));
    }
    case 'GlobalMaxPool':
      // Every cell equal to its channel's maximum gets the gradient (tfjs's rule for max).
      return accumulate(x, g.op('Mul', [dy, g.op('Cast', [g.op('Equal', [x, y])], { to: DATA_TYPE.FLOAT })], {}, shape));
    case 'MaxPool':
      return accumulate(x, maxPoolInputGradient(g, node, dy));
    case 'AveragePool':
      return accumulate(x, averagePoolInputGradient(g, node, dy));
    case 'Pad': {
      const pads = padsOf(g, node);
      const [, h, w] = g.shapeOf(x);
      const sliced = g.op('Slice', [dy, g.ints([pads[2], pads[3]]), g.ints([pads[2] + h, pads[3] + w]), g.ints([2, 3])], {}, shape);
      return accumulate(x, sliced);
    }
    case 'Concat': {
      const axis = node.attributes.axis as number;
      let start = 0;
      return node.inputs.forEach((input) => {
        const size = g.shapeOf(input)[axis - 1];
        accumulate(input, g.op('Slice', [dy, g.ints([start]), g.ints([start + size]), g.ints([axis])], {}, g.shapes.get(input)));
        start += size;
      });
    }
    default:
      throw new UnsupportedLayerError(`no gradient rule for ${node.op}`);
  }
}

/**
 * A 2-D window op's geometry as it ran: attribute defaults filled in, auto_pad resolved, and the padding
 * after the input read off the shapes (so ceil_mode's extra window counts, and rows a stride skipped at the
 * end show as a negative `after`).
 */
interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Padding before the input: [top, left]. */
  before: number[];
  /** How far the last window reaches past the input: [bottom, right], negative where it stops short. */
  after: number[];
}

function windowOf(g: OnnxGraph, node: GraphNode): Window {
  const { attributes } = node;
  const kernel =
    (attributes.kernel_shape as number[] | undefined) ?? (node.op === 'Conv' ? g.constantValue(node.inputs[1])?.dims.slice(2) : undefined);
  if (!kernel || kernel.length !== 2) throw new UnsupportedLayerError(`no gradient rule for a ${node.op} that is not 2-D`);
  const strides = (attributes.strides as number[] | undefined) ?? [1, 1];
  const dilations = (attributes.dilations as number[] | undefined) ?? [1, 1];
  const [, inH, inW] = g.shapeOf(node.inputs[0]);
  const [, outH, outW] = g.shapeOf(node.outputs[0]);
  const size = [inH, inW];
  const out = [outH, outW];
  const span = (i: number) => (kernel[i] - 1) * dilations[i] + 1;
  const autoPad = (attributes.auto_pad as string | undefined) ?? 'NOTSET';
  let before: number[];
  if (autoPad === 'NOTSET') before = ((attributes.pads as number[] | undefined) ?? [0, 0, 0, 0]).slice(0, 2);
  else if (autoPad === 'VALID') before = [0, 0];
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    // The odd padded row goes after the input (UPPER) or before it (LOWER).
    before = [0, 1].map((i) => {
      const total = (out[i] - 1) * strides[i] + span(i) - size[i];
      // onnxruntime pads a window narrower than its stride negatively; not followed here.
      if (total < 0) throw new UnsupportedLayerError(`no gradient rule for auto_pad ${autoPad} on a window narrower than its stride`);
      return autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
    });
  } else throw new UnsupportedLayerError(`no gradient rule for auto_pad ${autoPad}`);
  const after = [0, 1].map((i) => (out[i] - 1) * strides[i] + span(i) - before[i] - size[i]);
  return { kernel, strides, dilations, before, after };
}

/** ONNX pads for the window: before, then after where it reaches past the input. */
function padsOfWindow({ before, after }: Window): number[] {
  return [...before, ...after.map((a) => Math.max(a, 0))];
}

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

/** The transposed convolution of `dy` that undoes the window's geometry (back to the input's shape). */
function transposedConvolution(g: OnnxGraph, node: GraphNode, dy: string, weights: string, window: Window, group: number): string {
  const { kernel, strides, dilations, after } = window;
  // Rows (columns) the forward stride skipped at the end come back as output padding.
  const outputPadding = after.map((a) => Math.max(-a, 0));
  const attributes = { kernel_shape: kernel, strides, dilations, pads: padsOfWindow(window), group, output_padding: outputPadding };
  return g.op('ConvTranspose', [dy, weights], attributes, g.shapeOf(node.inputs[0]));
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

function padsOf(g: OnnxGraph, node: GraphNode): number[] {
  const values = g.intValues(node.inputs[1]);
  if (!values) throw new UnsupportedLayerError('no gradient rule for a computed Pad');
  return values;
}
