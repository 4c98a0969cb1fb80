/**
 * Conv and ConvTranspose (2-D; groups, dilations, pads, auto_pad; output_padding and output_shape for the
 * transposed one). Weights are turned from ONNX's OIHW into tfjs's HWIO (or depthwise [kh, kw, in,
 * multiplier]) once, at load, with a following BatchNormalization folded in where the graph allows; the
 * input gradient goes through `convolveInputOnly`, so gradient techniques run on wasm. A transposed
 * convolution runs as a forward one over the zero-inserted input with the flipped kernel (wasm's
 * Conv2DBackpropInput is a plain loop, its forward convolution XNNPACK).
 */
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../../../tfjs/tf';
import { convolveInputOnly, gradientKernelOf, type Padding } from '../../inputGradOps';
import type { OnnxNode } from '../onnxFile';
import { asNhwc, attr, nhwcValue, plain, required, type OpFn, type Registry } from './types';

export interface ConvWeights {
  mode: 'conv2d' | 'depthwise' | 'grouped';
  /** One HWIO filter (depthwise: [kh, kw, in, multiplier]); one per group for grouped convolutions. */
  filters: Tensor4D[];
  /** For conv2d / depthwise: the kernel the input gradient convolves with. */
  gradientKernel: Tensor4D | null;
  bias: Tensor1D | null;
}

/** A BatchNormalization folded into the convolution before it: y = conv(x) · scale + shift. */
export interface FoldedNorm {
  scale: Tensor1D;
  shift: Tensor1D;
}

/** Per-channel scale and shift of an inference BatchNormalization. */
export function batchNormAffine(gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor, epsilon: number): FoldedNorm {
  return tf.tidy(() => {
    const scale = tf.rsqrt(variance.add(epsilon)).mul(gamma) as Tensor1D;
    return { scale, shift: beta.sub(mean.mul(scale)) as Tensor1D };
  });
}

/** Builds tfjs filters from an OIHW weight (and bias), folding `norm` in. The caller keeps or disposes them. */
export function prepareConv(weight: Tensor, bias: Tensor | null, group: number, norm: FoldedNorm | null, node: OnnxNode): ConvWeights {
  if (weight.rank !== 4)
    throw new Error(`Conv node "${node.name}" has a ${weight.rank - 2}-D kernel; CNN Lens runs 2-D convolutions only.`);
  const [outChannels, inPerGroup] = weight.shape;
  if (group < 1 || outChannels % group !== 0)
    throw new Error(`Conv node "${node.name}": ${outChannels} output channels do not split into ${group} groups.`);
  // tidy keeps every tensor of the returned object (its TensorContainer type does not admit null members).
  return tf.tidy(
    () =>
      (() => {
        let w = weight;
        let b = bias;
        if (norm) {
          w = w.mul(norm.scale.reshape([outChannels, 1, 1, 1]));
          b = b ? b.mul(norm.scale).add(norm.shift) : norm.shift;
        }
        const biasOut = b ? (b.reshape([outChannels]) as Tensor1D) : null;
        if (group === 1) {
          const filter = tf.transpose(w, [2, 3, 1, 0]) as Tensor4D;
          return { mode: 'conv2d' as const, filters: [filter], gradientKernel: gradientKernelOf('conv2d', filter), bias: biasOut };
        }
        if (inPerGroup === 1) {
          // Depthwise: output channel g·m + j reads input channel g, as tfjs's depthwise multiplier does.
          const [, , kh, kw] = w.shape;
          const filter = tf.transpose(w.reshape([group, outChannels / group, kh, kw]), [2, 3, 0, 1]) as Tensor4D;
          const gradientKernel = filter.shape[3] === 1 ? gradientKernelOf('depthwise', filter) : null;
          return { mode: 'depthwise' as const, filters: [filter], gradientKernel, bias: biasOut };
        }
        const perGroup = outChannels / group;
        const filters = Array.from(
          { length: group },
          (_, g) => tf.transpose(w.slice([g * perGroup, 0, 0, 0], [perGroup, -1, -1, -1]), [2, 3, 1, 0]) as Tensor4D,
        );
        return { mode: 'grouped' as const, filters, gradientKernel: null, bias: biasOut };
      })() as unknown as tf.TensorContainer,
  ) as unknown as ConvWeights;
}

/**
 * Filters of a ConvTranspose weight [in, out / group, kh, kw]: per group, the spatially flipped kernel
 * with in and out as tfjs's HWIO (depthwise when every group is one channel in and out).
 */
export function prepareConvTranspose(weight: Tensor, bias: Tensor | null, group: number, node: OnnxNode): ConvWeights {
  if (weight.rank !== 4)
    throw new Error(`ConvTranspose node "${node.name}" has a ${weight.rank - 2}-D kernel; CNN Lens runs 2-D convolutions only.`);
  const [inChannels, outPerGroup] = weight.shape;
  if (group < 1 || inChannels % group !== 0)
    throw new Error(`ConvTranspose node "${node.name}": ${inChannels} input channels do not split into ${group} groups.`);
  return tf.tidy(
    () =>
      (() => {
        // Dilations are written into the kernel (zeros between taps): tfjs has no gradient for dilated depthwise convolutions.
        const flipped = tf.reverse(dilatedKernel(weight, pair(node, 'dilations', 1)), [2, 3]);
        const biasOut = bias ? (bias.reshape([outPerGroup * group]) as Tensor1D) : null;
        if (group === 1) {
          const filter = tf.transpose(flipped, [2, 3, 0, 1]) as Tensor4D;
          return { mode: 'conv2d' as const, filters: [filter], gradientKernel: gradientKernelOf('conv2d', filter), bias: biasOut };
        }
        if (inChannels === group && outPerGroup === 1) {
          const filter = tf.transpose(flipped, [2, 3, 0, 1]) as Tensor4D; // [kh, kw, channels, 1]
          return { mode: 'depthwise' as const, filters: [filter], gradientKernel: gradientKernelOf('depthwise', filter), bias: biasOut };
        }
        const perGroup = inChannels / group;
        const filters = Array.from(
          { length: group },
          (_, g) => tf.transpose(flipped.slice([g * perGroup, 0, 0, 0], [perGroup, -1, -1, -1]), [2, 3, 0, 1]) as Tensor4D,
        );
        return { mode: 'grouped' as const, filters, gradientKernel: null, bias: biasOut };
      })() as unknown as tf.TensorContainer,
  ) as unknown as ConvWeights;
}

/** A [.., .., kh, kw] kernel with (dilation − 1) zeros between its taps: [.., .., (kh−1)·dh+1, (kw−1)·dw+1]. */
function dilatedKernel(weight: Tensor, [dh, dw]: [number, number]): Tensor {
  const [a, b, kh, kw] = weight.shape;
  let w = weight;
  if (dh > 1) {
    w = tf
      .pad(w.reshape([a * b, kh, 1, kw]), [
        [0, 0],
        [0, 0],
        [0, dh - 1],
        [0, 0],
      ])
      .reshape([a * b, kh * dh, kw]);
    w = tf.slice(w, [0, 0, 0], [a * b, (kh - 1) * dh + 1, kw]).reshape([a, b, (kh - 1) * dh + 1, kw]);
  }
  if (dw > 1) {
    const rows = w.shape[2] as number;
    w = tf
      .pad(w.reshape([a * b * rows, kw, 1]), [
        [0, 0],
        [0, 0],
        [0, dw - 1],
      ])
      .reshape([a * b * rows, kw * dw]);
    w = tf.slice(w, [0, 0], [a * b * rows, (kw - 1) * dw + 1]).reshape([a, b, rows, (kw - 1) * dw + 1]);
  }
  return w;
}

export function convWeightTensors(weights: ConvWeights): Tensor[] {
  return [...weights.filters, ...(weights.gradientKernel ? [weights.gradientKernel] : []), ...(weights.bias ? [weights.bias] : [])];
}

/**
 * ONNX pads ([top, left, bottom, right]) or auto_pad for a 2-D window, as tfjs padding (NHWC).
 * SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start.
 */
export function windowPadding(
  node: OnnxNode,
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  ceil = false,
): Padding {
  const autoPad = attr.string(node, 'auto_pad', 'NOTSET');
  let pads: number[];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = [0, 0, 0, 0];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(size[i] / strides[i]);
      const total = Math.max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i], 0);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + 2] = total - pads[i];
    }
  } else if (autoPad === 'VALID') {
    pads = [0, 0, 0, 0];
  } else {
    pads = attr.ints(node, 'pads') ?? [0, 0, 0, 0];
    if (pads.length !== 4)
      throw new Error(`${node.opType} node "${node.name}" has pads ${JSON.stringify(pads)}; CNN Lens handles 2-D windows only.`);
  }
  if (ceil) {
    // ceil_mode: one more output where a window starts inside the (padded) input; tfjs needs it as padding.
    for (let i = 0; i < 2; i++) {
      const span = (kernel[i] - 1) * dilations[i] + 1;
      const padded = size[i] + pads[i] + pads[i + 2];
      let out = Math.ceil((padded - span) / strides[i]) + 1;
      if ((out - 1) * strides[i] >= size[i] + pads[i]) out--; // the last window must start inside input or leading pad
      const needed = (out - 1) * strides[i] + span - padded;
      if (needed > 0) pads[i + 2] += needed;
    }
  }
  if (pads.every((p) => p === 0)) return 'valid';
  return [
    [0, 0],
    [pads[0], pads[2]],
    [pads[1], pads[3]],
    [0, 0],
  ];
}

/** tfjs padding back as ONNX pads [top, left, bottom, right]. */
export function onnxPads(padding: Padding): number[] {
  return Array.isArray(padding) ? [padding[1][0], padding[2][0], padding[1][1], padding[2][1]] : [0, 0, 0, 0];
}

export function pair(node: OnnxNode, name: string, fallback: number): [number, number] {
  const v = attr.ints(node, name);
  if (!v) return [fallback, fallback];
  if (v.length !== 2)
    throw new Error(`${node.opType} node "${node.name}" has ${name} ${JSON.stringify(v)}; CNN Lens handles 2-D windows only.`);
  return [v[0], v[1]];
}

/** Every stride-th row and column from the first: a stride-1 window op's output → the strided one's. */
export function subsample(y: Tensor4D, strides: [number, number]): Tensor4D {
  return tf.stridedSlice(y, [0, 0, 0, 0], y.shape, [1, strides[0], strides[1], 1]) as Tensor4D;
}

const conv: OpFn = (inputs, node, ctx) => {
  const x = asNhwc(required(inputs, 0, node), 'Conv');
  const weight = required(inputs, 1, node);
  const group = attr.int(node, 'group', 1);
  const prepared = ctx.prepared as ConvWeights | null;
  const weights = prepared ?? prepareConv(plain(weight), inputs[2] ? plain(inputs[2]) : null, group, null, node);
  const [kh, kw] = weights.filters[0].shape;
  const strides = pair(node, 'strides', 1);
  const dilations = pair(node, 'dilations', 1);
  const padding = windowPadding(node, [x.shape[1], x.shape[2]], [kh, kw], strides, dilations);
  let y: Tensor4D;
  if (weights.mode === 'grouped') {
    const parts = tf.split(x, weights.filters.length, 3);
    y = tf.concat(
      parts.map((part, g) => tf.conv2d(part as Tensor4D, weights.filters[g], strides, padding, 'NHWC', dilations)),
      3,
    );
  } else {
    const kernel = weights.filters[0];
    const gradientKernel = weights.gradientKernel ?? kernel;
    // tfjs cannot stride a dilated convolution: convolve densely, then keep every stride-th output.
    const both = dilations.some((d) => d > 1) && strides.some((s) => s > 1);
    y = convolveInputOnly(weights.mode, x, kernel, gradientKernel, both ? [1, 1] : strides, padding, dilations);
    if (both) y = subsample(y, strides);
  }
  return [nhwcValue(weights.bias ? y.add(weights.bias) : y)];
};

/** (stride − 1) zeros after every row and column (the trailing ones included): [n, h·s, w·s, c]. */
function zeroInserted(x: Tensor4D, strides: [number, number]): Tensor4D {
  const [n, h, w, c] = x.shape;
  const [sh, sw] = strides;
  let y: Tensor4D = x;
  if (sh > 1)
    y = tf
      .pad(y.reshape([n, h, 1, w * c]), [
        [0, 0],
        [0, 0],
        [0, sh - 1],
        [0, 0],
      ])
      .reshape([n, h * sh, w, c]);
  if (sw > 1)
    y = tf
      .pad(y.reshape([n * h * sh, w, 1, c]), [
        [0, 0],
        [0, 0],
        [0, sw - 1],
        [0, 0],
      ])
      .reshape([n, h * sh, w * sw, c]);
  return y;
}

/**
 * A ConvTranspose's begin and end pads of each spatial axis: pads, or auto_pad / output_shape's as ONNX computes
 * them (`kernel`: its span, dilations written in). The onnxruntime export writes these too.
 */
export function transposedPads(
  node: OnnxNode,
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number],
  outputPadding: [number, number],
): [number, number][] {
  const autoPad = attr.string(node, 'auto_pad', 'NOTSET');
  const outputShape = attr.ints(node, 'output_shape');
  const pads = attr.ints(node, 'pads');
  if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const shape = outputShape ? outputShape.slice(-2) : [size[0] * strides[0], size[1] * strides[1]];
    return [0, 1].map((i) => {
      const total = strides[i] * (size[i] - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1 - shape[i];
      const half = Math.floor(total / 2);
      return autoPad === 'SAME_UPPER' ? [half, total - half] : [total - half, half];
    }) as [number, number][];
  }
  if (!pads)
    return [
      [0, 0],
      [0, 0],
    ];
  if (pads.length !== 4)
    throw new Error(`ConvTranspose node "${node.name}" has pads ${JSON.stringify(pads)}; CNN Lens handles 2-D windows only.`);
  return [
    [pads[0], pads[2]],
    [pads[1], pads[3]],
  ];
}

const convTranspose: OpFn = (inputs, node, ctx) => {
  const x = asNhwc(required(inputs, 0, node), 'ConvTranspose');
  const group = attr.int(node, 'group', 1);
  const prepared = ctx.prepared as ConvWeights | null;
  const weights = prepared ?? prepareConvTranspose(plain(required(inputs, 1, node)), inputs[2] ? plain(inputs[2]) : null, group, node);
  // The prepared kernel has its dilations written in.
  const [kh, kw] = weights.filters[0].shape;
  const strides = pair(node, 'strides', 1);
  const dilations: [number, number] = [1, 1];
  const outputPadding = pair(node, 'output_padding', 0);
  const pads = transposedPads(node, [x.shape[1], x.shape[2]], [kh, kw], strides, dilations, outputPadding);
  // The zero-inserted input has stride − 1 extra zeros at the end of each axis; the kernel's reach,
  // less the pads (and plus output_padding), is the padding around it. Negative amounts crop.
  let z = zeroInserted(x, strides);
  const around = [0, 1].map((i) => {
    const reach = (i === 0 ? kh - 1 : kw - 1) * dilations[i];
    return [reach - pads[i][0], reach - pads[i][1] + outputPadding[i] - (strides[i] - 1)];
  });
  if (around.some(([b, e]) => b < 0 || e < 0)) {
    const begin = [0, Math.max(-around[0][0], 0), Math.max(-around[1][0], 0), 0];
    const size = [-1, z.shape[1] - begin[1] - Math.max(-around[0][1], 0), z.shape[2] - begin[2] - Math.max(-around[1][1], 0), -1];
    if (size[1] <= 0 || size[2] <= 0) throw new Error(`ConvTranspose node "${node.name}": its pads leave no output.`);
    z = tf.slice(z, begin, size);
  }
  const padding: Padding = [
    [0, 0],
    [Math.max(around[0][0], 0), Math.max(around[0][1], 0)],
    [Math.max(around[1][0], 0), Math.max(around[1][1], 0)],
    [0, 0],
  ];
  let y: Tensor4D;
  if (weights.mode === 'grouped') {
    const parts = tf.split(z, weights.filters.length, 3);
    y = tf.concat(
      parts.map((part, g) => tf.conv2d(part as Tensor4D, weights.filters[g], 1, padding, 'NHWC', dilations)),
      3,
    );
  } else {
    y = convolveInputOnly(weights.mode, z, weights.filters[0], weights.gradientKernel ?? weights.filters[0], [1, 1], padding, dilations);
  }
  return [nhwcValue(weights.bias ? y.add(weights.bias) : y)];
};

export const convOps: Registry = { Conv: conv, ConvTranspose: convTranspose };
