/**
 * Resize (and the older Upsample): nearest, linear and cubic interpolation along any axes, every
 * coordinate_transformation_mode (tf_crop_and_resize with its roi and extrapolation_value), scales or
 * sizes, exclude_outside, antialias, axes and keep_aspect_ratio_policy.
 *
 * Each resized axis gets an interpolation table computed on the host exactly as ONNX defines it (source
 * coordinate, neighbours clamped to the edge, coefficients, exclude_outside, antialias). A forward pass
 * whose tables on both spatial axes equal those of tfjs's ResizeBilinear / ResizeNearestNeighbor kernels
 * (the usual export: sizes or integer scales with half_pixel, align_corners or asymmetric) runs the
 * kernel, in NHWC; otherwise, and whenever gradients are recorded, each axis is one matrix product with
 * its [out, in] table (differentiable, the same on every backend).
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { recordingGradients, tf } from '../../../tfjs/tf';
import type { OnnxNode } from '../onnxFile';
import { NHWC_AXIS, asNhwc, attr, logicalShape, nhwcValue, normaliseAxis, numbers, type OpFn, type Registry, type Value } from './types';

/** Output i reads input indices[i][k] with weight weights[i][k]; outside[i]: tf_crop_and_resize's extrapolation. */
interface Table {
  indices: number[][];
  weights: number[][];
  outside: boolean[];
}

interface Settings {
  mode: 'nearest' | 'linear' | 'cubic';
  transform: string;
  nearest: string;
  cubicA: number;
  excludeOutside: boolean;
  antialias: boolean;
}

function nearestCoefficients(ratio: number, mode: string, downsampling: boolean): number[] {
  if (Number.isInteger(ratio)) return [0, 1];
  switch (mode) {
    case 'round_prefer_floor':
      return ratio <= 0.5 ? [1, 0] : [0, 1];
    case 'round_prefer_ceil':
      return ratio < 0.5 ? [1, 0] : [0, 1];
    case 'floor':
      return [1, 0];
    case 'ceil':
      return [0, 1];
    case 'simple': // Upsample and Resize-10 as onnxruntime runs them: ceil when downsampling, else floor
      return downsampling ? [0, 1] : [1, 0];
  }
  throw new Error(`nearest_mode "${mode}" is not one CNN Lens knows.`);
}

function cubicCoefficients(ratio: number, a: number): number[] {
  const r = ratio;
  const s = 1 - ratio;
  return [
    ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
    ((a + 2) * r - (a + 3)) * r * r + 1,
    ((a + 2) * s - (a + 3)) * s * s + 1,
    ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a,
  ];
}

/** Antialiased linear or cubic coefficients when downsampling: the filter widened by 1 / scale. */
function antialiasCoefficients(ratio: number, scale: number, cubic: boolean, a: number): number[] {
  const s = Math.min(scale, 1);
  const reach = cubic ? 2 : 1;
  const start = Math.floor(-reach / s) + 1;
  const count = 2 - 2 * start;
  const kernel = (x: number) => {
    const t = Math.abs(x);
    if (!cubic) return Math.max(1 - t, 0);
    if (t <= 1) return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1;
    if (t < 2) return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a;
    return 0;
  };
  const raw = Array.from({ length: count }, (_, i) => kernel(s * (start + i - ratio)));
  const sum = raw.reduce((p, c) => p + c, 0);
  return raw.map((c) => c / sum);
}

/** The source coordinate of output x, as ONNX's coordinate_transformation_mode defines it. */
function sourceOf(x: number, scale: number, input: number, output: number, transform: string, roi: [number, number]): number {
  const width = scale * input;
  switch (transform) {
    case 'align_corners':
      return width === 1 ? 0 : (x * (input - 1)) / (width - 1);
    case 'asymmetric':
      return x / scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / scale;
    case 'pytorch_half_pixel':
      return width === 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case 'half_pixel':
      return (x + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const offset = (input / 2) * (1 - output / width);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case 'tf_crop_and_resize': {
      const [start, end] = roi;
      const base = width === 1 ? ((end - start) * (input - 1)) / 2 : (x * (end - start) * (input - 1)) / (width - 1);
      return base + start * (input - 1);
    }
  }
  throw new Error(`coordinate_transformation_mode "${transform}" is not one CNN Lens knows.`);
}

function onnxTable(input: number, output: number, scale: number, settings: Settings, roi: [number, number]): Table {
  const table: Table = { indices: [], weights: [], outside: [] };
  for (let x = 0; x < output; x++) {
    const source = sourceOf(x, scale, input, output, settings.transform, roi);
    if (settings.transform === 'tf_crop_and_resize' && (source < 0 || source > input - 1)) {
      table.indices.push([]);
      table.weights.push([]);
      table.outside.push(true);
      continue;
    }
    // The neighbour on the left is preferred: ratio in (0, 1].
    const base = Number.isInteger(source) ? source - 1 : Math.floor(source);
    const ratio = source - base;
    let coefficients: number[];
    if (settings.mode === 'nearest') coefficients = nearestCoefficients(ratio, settings.nearest, scale < 1);
    else if (settings.antialias && scale < 1) coefficients = antialiasCoefficients(ratio, scale, settings.mode === 'cubic', settings.cubicA);
    else coefficients = settings.mode === 'linear' ? [1 - ratio, ratio] : cubicCoefficients(ratio, settings.cubicA);
    const first = base + 1 - coefficients.length / 2;
    let indices = coefficients.map((_, k) => first + k);
    if (settings.excludeOutside) {
      coefficients = coefficients.map((c, k) => (indices[k] < 0 || indices[k] >= input ? 0 : c));
      const sum = coefficients.reduce((p, c) => p + c, 0);
      coefficients = coefficients.map((c) => c / sum);
    }
    indices = indices.map((i) => Math.min(Math.max(i, 0), input - 1));
    table.indices.push(indices);
    table.weights.push(coefficients);
    table.outside.push(false);
  }
  return table;
}

/** tfjs's own kernels' tables (tfjs-backend-cpu ResizeBilinear / ResizeNearestNeighbor; wasm's match). */
function tfjsTable(input: number, output: number, mode: 'nearest' | 'linear', alignCorners: boolean, halfPixel: boolean): Table {
  const ratio = alignCorners && output > 1 ? (input - 1) / (output - 1) : input / output;
  const table: Table = { indices: [], weights: [], outside: [] };
  for (let x = 0; x < output; x++) {
    if (mode === 'linear') {
      const frac = halfPixel ? ratio * (x + 0.5) - 0.5 : ratio * x;
      const top = Math.max(0, Math.floor(frac));
      const bottom = Math.min(input - 1, Math.ceil(frac));
      const w = frac - Math.floor(frac);
      table.indices.push([top, bottom]);
      table.weights.push([1 - w, w]);
    } else {
      const frac = halfPixel ? ratio * (x + 0.5) : ratio * x;
      let nearest = Math.min(input - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
      if (halfPixel) nearest = Math.max(0, nearest);
      table.indices.push([nearest]);
      table.weights.push([1]);
    }
    table.outside.push(false);
  }
  return table;
}

/** Index → total weight, per output: tables that read the same inputs alike are equal. */
function sameTable(a: Table, b: Table): boolean {
  if (a.indices.length !== b.indices.length) return false;
  return a.indices.every((row, i) => {
    if (a.outside[i] || b.outside[i]) return false;
    const weights = new Map<number, number>();
    row.forEach((j, k) => weights.set(j, (weights.get(j) ?? 0) + a.weights[i][k]));
    b.indices[i].forEach((j, k) => weights.set(j, (weights.get(j) ?? 0) - b.weights[i][k]));
    return [...weights.values()].every((w) => Math.abs(w) < 1e-6);
  });
}

function isIdentity(table: Table, input: number): boolean {
  return table.indices.length === input && table.indices.every((row, i) => sameTable({ indices: [row], weights: [table.weights[i]], outside: [false] }, { indices: [[i]], weights: [[1]], outside: [false] }));
}

function matrixOf(table: Table, input: number): Tensor {
  const output = table.indices.length;
  const data = new Float32Array(output * input);
  table.indices.forEach((row, i) => row.forEach((j, k) => (data[i * input + j] += table.weights[i][k])));
  return tf.tensor2d(data, [output, input]);
}

/** Interpolation along one physical axis: [before, in, after] → [before, out, after] by one matrix product. */
function alongAxis(x: Tensor, matrix: Tensor, axis: number): Tensor {
  const shape = x.shape;
  const before = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const after = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const [output, input] = matrix.shape;
  const y = tf.matMul(matrix.reshape([1, output, input]), x.reshape([before, input, after]));
  return y.reshape([...shape.slice(0, axis), output, ...shape.slice(axis + 1)]);
}

interface Plan {
  outputShape: number[];
  scales: number[];
  roi: [number, number][];
}

/** Output shape and per-axis scales from scales or sizes (with axes and keep_aspect_ratio_policy, opset 18). */
function planOf(inputs: (Value | undefined)[], node: OnnxNode, opset: number, shape: number[]): Plan {
  const rank = shape.length;
  let scalesIn: number[] | null;
  let sizesIn: number[] | null = null;
  let roiIn: number[] | null = null;
  if (node.opType === 'Upsample') scalesIn = opset < 9 ? ((node.attributes.get('scales') as number[] | undefined) ?? null) : numbers(inputs[1]);
  else if (opset < 11) scalesIn = numbers(inputs[1]);
  else {
    roiIn = numbers(inputs[1]);
    scalesIn = numbers(inputs[2]);
    sizesIn = numbers(inputs[3]);
  }
  if (scalesIn?.length === 0) scalesIn = null;
  if (sizesIn?.length === 0) sizesIn = null;
  if (roiIn?.length === 0) roiIn = null;
  const axes = (opset >= 18 ? attr.ints(node, 'axes') : null)?.map((a) => normaliseAxis(a, rank, node)) ?? Array.from({ length: rank }, (_, i) => i);
  const given = scalesIn ?? sizesIn;
  if (!given) throw new Error(`${node.opType} node "${node.name}" has neither scales nor sizes.`);
  if (given.length !== axes.length) throw new Error(`${node.opType} node "${node.name}" has ${given.length} ${scalesIn ? 'scales' : 'sizes'} for ${axes.length} axes.`);
  const scales = shape.map(() => 1);
  const outputShape = [...shape];
  if (scalesIn) {
    axes.forEach((a, i) => {
      scales[a] = scalesIn![i];
      outputShape[a] = Math.floor(shape[a] * scalesIn![i]);
    });
  } else {
    axes.forEach((a, i) => {
      scales[a] = sizesIn![i] / shape[a];
      outputShape[a] = sizesIn![i];
    });
    const policy = attr.string(node, 'keep_aspect_ratio_policy', 'stretch');
    if (policy !== 'stretch') {
      const chosen = axes.map((a) => scales[a]);
      const scale = policy === 'not_larger' ? Math.min(...chosen) : policy === 'not_smaller' ? Math.max(...chosen) : NaN;
      if (Number.isNaN(scale)) throw new Error(`${node.opType} node "${node.name}" has keep_aspect_ratio_policy "${policy}".`);
      axes.forEach((a) => {
        scales[a] = scale;
        outputShape[a] = Math.floor(scale * shape[a] + 0.5);
      });
    }
  }
  const roi = shape.map((): [number, number] => [0, 1]);
  if (roiIn) axes.forEach((a, i) => (roi[a] = [roiIn![i], roiIn![axes.length + i]]));
  return { outputShape, scales, roi };
}

function settingsOf(node: OnnxNode, opset: number): Settings {
  const raw = attr.string(node, 'mode', 'nearest');
  const mode = raw === 'bilinear' ? 'linear' : raw;
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'cubic') throw new Error(`${node.opType} node "${node.name}" has mode "${raw}".`);
  const legacy = node.opType === 'Upsample' || opset < 11;
  return {
    mode,
    transform: legacy ? 'asymmetric' : attr.string(node, 'coordinate_transformation_mode', 'half_pixel'),
    nearest: legacy ? 'simple' : attr.string(node, 'nearest_mode', 'round_prefer_floor'),
    cubicA: attr.float(node, 'cubic_coeff_a', -0.75),
    excludeOutside: attr.int(node, 'exclude_outside', 0) === 1,
    antialias: attr.int(node, 'antialias', 0) === 1,
  };
}

const resize: OpFn = (inputs, node, ctx) => {
  const value = inputs[0];
  if (!value) throw new Error(`${node.opType} node "${node.name}" lacks its input.`);
  const shape = logicalShape(value);
  const settings = settingsOf(node, ctx.opset);
  const { outputShape, scales, roi } = planOf(inputs, node, ctx.opset, shape);
  const tables = shape.map((d, a) => onnxTable(d, outputShape[a], scales[a], settings, roi[a]));
  const moved = shape.map((d, a) => !isIdentity(tables[a], d));
  const dtype = value.tensor.dtype;
  // tfjs's kernels: 4-D, only the spatial axes resized, and the same tables; for forward passes only, as
  // tfjs 4.22's ResizeBilinearGrad is wrong on cpu (height and width swapped) and on wasm (measured here).
  if (shape.length === 4 && !moved[0] && !moved[1] && settings.mode !== 'cubic' && !recordingGradients()) {
    const kernelMode = settings.mode;
    for (const [alignCorners, halfPixel] of [[false, true], [true, false], [false, false]]) {
      const fits = [2, 3].every((a) => sameTable(tables[a], tfjsTable(shape[a], outputShape[a], kernelMode, alignCorners, halfPixel)));
      if (!fits) continue;
      const x = asNhwc(value, node.opType);
      const input = dtype === 'float32' ? x : (x.toFloat() as Tensor4D);
      const size: [number, number] = [outputShape[2], outputShape[3]];
      const y = kernelMode === 'linear' ? tf.image.resizeBilinear(input, size, alignCorners, halfPixel) : tf.image.resizeNearestNeighbor(input, size, alignCorners, halfPixel);
      return [nhwcValue(dtype === 'float32' ? y : y.cast(dtype))];
    }
  }
  let y: Tensor = dtype === 'float32' ? value.tensor : value.tensor.toFloat();
  const physical = (a: number) => (value.nhwc ? NHWC_AXIS[a] : a);
  const inside: [number, Tensor][] = [];
  shape.forEach((d, a) => {
    if (!moved[a]) return;
    y = alongAxis(y, matrixOf(tables[a], d), physical(a));
    if (tables[a].outside.some(Boolean)) inside.push([physical(a), tf.tensor1d(tables[a].outside.map((o) => (o ? 0 : 1)))]);
  });
  const extrapolation = attr.float(node, 'extrapolation_value', 0);
  if (inside.length && extrapolation !== 0) {
    // tf_crop_and_resize: outputs whose source lies outside the input on any axis take extrapolation_value.
    const mask = inside.reduce<Tensor>((m, [p, v]) => m.mul(v.reshape(y.shape.map((d, i) => (i === p ? d : 1)))), tf.ones(y.shape.map(() => 1)));
    y = y.add(tf.scalar(1).sub(mask).mul(extrapolation));
  }
  if (dtype !== 'float32') y = (settings.mode === 'nearest' ? tf.round(y) : y).cast(dtype);
  return [{ tensor: y, nhwc: value.nhwc }];
};

export const resizeOps: Registry = { Resize: resize, Upsample: resize };
