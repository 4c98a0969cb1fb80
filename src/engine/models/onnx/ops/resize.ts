/**
 * Resize (and the older Upsample): nearest, linear and cubic interpolation along any axes, every
 * coordinate_transformation_mode (tf_crop_and_resize with its roi and extrapolation_value), scales or
 * sizes, exclude_outside, antialias, axes and keep_aspect_ratio_policy.
 *
 * Each resized axis gets an interpolation table computed on the host exactly as ONNX defines it (source
 * coordinate, neighbours clamped to the edge, coefficients, exclude_outside, antialias: resizeTables.ts). A forward pass
 * whose tables on both spatial axes equal those of tfjs's ResizeBilinear / ResizeNearestNeighbor kernels
 * (the usual export: sizes or integer scales with half_pixel, align_corners or asymmetric) runs the
 * kernel, in NHWC; otherwise, and whenever gradients are recorded, each axis is one matrix product with
 * its [out, in] table (differentiable, the same on every backend).
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { recordingGradients, tf } from '../../../tfjs/tf';
import type { OnnxNode } from '../onnxFile';
import { onnxTable, planOf, settingsOf, tableMatrix, type Plan, type PlanArguments, type Table } from './resizeTables';
import { NHWC_AXIS, asNhwc, attr, logicalShape, nhwcValue, normaliseAxis, numbers, type OpFn, type Registry, type Value } from './types';

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
  return (
    table.indices.length === input &&
    table.indices.every((row, i) =>
      sameTable({ indices: [row], weights: [table.weights[i]], outside: [false] }, { indices: [[i]], weights: [[1]], outside: [false] }),
    )
  );
}

function matrixOf(table: Table, input: number): Tensor {
  return tf.tensor2d(tableMatrix(table, input), [table.indices.length, input]);
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

/** Output shape and per-axis scales from the node's scales or sizes (resizeTables.ts). */
function planOfNode(inputs: (Value | undefined)[], node: OnnxNode, opset: number, shape: number[]): Plan {
  const rank = shape.length;
  const args: PlanArguments = {
    scales: null,
    sizes: null,
    roi: null,
    axes: null,
    policy: attr.string(node, 'keep_aspect_ratio_policy', 'stretch'),
  };
  if (node.opType === 'Upsample')
    args.scales = opset < 9 ? ((node.attributes.get('scales') as number[] | undefined) ?? null) : numbers(inputs[1]);
  else if (opset < 11) args.scales = numbers(inputs[1]);
  else {
    args.roi = numbers(inputs[1]);
    args.scales = numbers(inputs[2]);
    args.sizes = numbers(inputs[3]);
  }
  args.axes = (opset >= 18 ? attr.ints(node, 'axes') : null)?.map((a) => normaliseAxis(a, rank, node)) ?? null;
  return planOf(args, shape, `${node.opType} node "${node.name}"`);
}

const resize: OpFn = (inputs, node, ctx) => {
  const value = inputs[0];
  if (!value) throw new Error(`${node.opType} node "${node.name}" lacks its input.`);
  const shape = logicalShape(value);
  const settings = settingsOf(
    node.opType,
    ctx.opset,
    (name) => node.attributes.get(name) as string | number | undefined,
    `${node.opType} node "${node.name}"`,
  );
  const { outputShape, scales, roi } = planOfNode(inputs, node, ctx.opset, shape);
  const tables = shape.map((d, a) => onnxTable(d, outputShape[a], scales[a], settings, roi[a]));
  const moved = shape.map((d, a) => !isIdentity(tables[a], d));
  const dtype = value.tensor.dtype;
  // tfjs's kernels: 4-D, only the spatial axes resized, and the same tables; for forward passes only, as
  // tfjs 4.22's ResizeBilinearGrad is wrong on cpu (height and width swapped) and on wasm (measured here).
  if (shape.length === 4 && !moved[0] && !moved[1] && settings.mode !== 'cubic' && !recordingGradients()) {
    const kernelMode = settings.mode;
    for (const [alignCorners, halfPixel] of [
      [false, true],
      [true, false],
      [false, false],
    ]) {
      const fits = [2, 3].every((a) => sameTable(tables[a], tfjsTable(shape[a], outputShape[a], kernelMode, alignCorners, halfPixel)));
      if (!fits) continue;
      const x = asNhwc(value, node.opType);
      const input = dtype === 'float32' ? x : (x.toFloat() as Tensor4D);
      const size: [number, number] = [outputShape[2], outputShape[3]];
      const y =
        kernelMode === 'linear'
          ? tf.image.resizeBilinear(input, size, alignCorners, halfPixel)
          : tf.image.resizeNearestNeighbor(input, size, alignCorners, halfPixel);
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
    const mask = inside.reduce<Tensor>(
      (m, [p, v]) => m.mul(v.reshape(y.shape.map((d, i) => (i === p ? d : 1)))),
      tf.ones(y.shape.map(() => 1)),
    );
    y = y.add(tf.scalar(1).sub(mask).mul(extrapolation));
  }
  if (dtype !== 'float32') y = (settings.mode === 'nearest' ? tf.round(y) : y).cast(dtype);
  return [{ tensor: y, nhwc: value.nhwc }];
};

export const resizeOps: Registry = { Resize: resize, Upsample: resize };
