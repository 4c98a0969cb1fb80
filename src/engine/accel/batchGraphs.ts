/**
 * Graph edits that let one onnxruntime run do a technique's batch work, so that neither the batch nor its
 * gradients cross over to TF.js: Score-CAM's masked copies of the image, integrated gradients' path and
 * SmoothGrad's noisy copies built from the image inside the graph, their gradients summed there, and
 * Grad-CAM's map combined where the layer's gradient is. Each edits an exported graph (accelerator.ts);
 * `input` names its image input, which the feeds replace with a computed tensor.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { UnsupportedLayerError } from './layoutWriter';
import type { OnnxGraph } from './onnxGraph';
import type { OrtArray } from './ortRuntime';

export const BASE = 'cnn_lens_base';
export const MAPS = 'cnn_lens_maps';
export const CAM = 'cnn_lens_cam';
export const ORIGIN = 'cnn_lens_origin';
export const STEP = 'cnn_lens_step';
export const ALPHAS = 'cnn_lens_alphas';
export const WEIGHTS = 'cnn_lens_weights';
export const OFFSETS = 'cnn_lens_offsets';
export const SUM = 'cnn_lens_sum';
export const SQUARES = 'cnn_lens_squares';

/**
 * Points for gradient sums, each [1, h, w, c] but the offsets: a path origin + αᵢ·step with quadrature
 * weights, or noisy copies origin + offsetᵢ (offsets [n, h, w, c], as generated).
 */
export type PointBatch =
  | { kind: 'path'; origin: Tensor4D; step: Tensor4D; alphas: number[]; weights: number[] }
  | { kind: 'noise'; origin: Tensor4D; offsets: OrtArray; /** Sum gradient × point (gradient × image) instead. */ timesInput?: boolean };

/** A reduction over `axes`: opset 18 moved them from an attribute to an input (opset 13 for ReduceSum). */
export function reduce(
  graph: OnnxGraph,
  op: 'ReduceMean' | 'ReduceSum' | 'ReduceMin' | 'ReduceMax',
  x: string,
  axes: number[],
  keepdims: boolean,
): string {
  const axesAsInput = graph.opset >= (op === 'ReduceSum' ? 13 : 18);
  return axesAsInput
    ? graph.op(op, [x, graph.ints(axes)], { keepdims: keepdims ? 1 : 0 })
    : graph.op(op, [x], { axes, keepdims: keepdims ? 1 : 0 });
}

/**
 * `input` becomes the image BASE [1, h, w, c] times each map of MAPS [b, mh, mw, 1], upsampled (bilinear,
 * half-pixel centres, as tf.image.resizeBilinear) and min-max scaled to 0..1 on its own. Where the graph
 * only reads the image through its channels-first transpose, the masks multiply the image channels-first:
 * a broadcast over whole rows instead of one per pixel, and no transpose of the batch (the two took a
 * third of Score-CAM's run on MobileNet v1 0.25).
 */
export function feedMaskedImage(graph: OnnxGraph, input: string, [h, w, c]: readonly number[], [mh, mw]: number[]): void {
  const start = graph.nodes.length;
  const readers = graph.nodes.filter((node) => node.inputs.includes(input));
  const channelsFirst =
    readers.length > 0 && readers.every((node) => node.op === 'Transpose' && (node.attributes.perm as number[]).join() === '0,3,1,2');
  graph.removeInput(input);
  graph.input(BASE, [h, w, c]);
  graph.input(MAPS, [mh, mw, 1]);
  const nchw = graph.op('Reshape', [MAPS, graph.ints([0, 1, mh, mw])]);
  const sizes = graph.op(
    'Concat',
    [graph.op('Slice', [graph.op('Shape', [MAPS]), graph.ints([0]), graph.ints([1])]), graph.ints([1, h, w])],
    { axis: 0 },
  );
  const empty = graph.floats(new Float32Array(0), [0], 'no_scales');
  const masks = graph.op('Resize', [nchw, '', empty, sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  const low = reduce(graph, 'ReduceMin', masks, [1, 2, 3], true);
  const high = reduce(graph, 'ReduceMax', masks, [1, 2, 3], true);
  const scaled = graph.op('Div', [graph.op('Sub', [masks, low]), graph.op('Add', [graph.op('Sub', [high, low]), graph.scalar(1e-8)])]);
  if (channelsFirst) {
    const masked = graph.op('Mul', [graph.op('Transpose', [BASE], { perm: [0, 3, 1, 2] }), scaled]);
    for (const reader of readers) Object.assign(reader, { op: 'Identity', inputs: [masked], attributes: {} });
  } else {
    graph.nodes.push({
      op: 'Mul',
      inputs: [BASE, graph.op('Reshape', [scaled, graph.ints([0, h, w, 1])])],
      outputs: [input],
      attributes: {},
    });
  }
  graph.moveToFront(start);
}

/** `input` becomes the batch of points: ORIGIN + ALPHAS[i]·STEP (a path), or ORIGIN + OFFSETS[i] (noisy copies). */
export function feedPointBatch(graph: OnnxGraph, input: string, [h, w, c]: readonly number[], kind: PointBatch['kind']): void {
  const start = graph.nodes.length;
  graph.removeInput(input);
  graph.input(ORIGIN, [h, w, c]);
  let offsets: string;
  if (kind === 'noise') {
    offsets = graph.input(OFFSETS, [h, w, c]);
  } else {
    graph.input(STEP, [h, w, c]);
    graph.input(ALPHAS, []);
    offsets = graph.op('Mul', [graph.op('Reshape', [ALPHAS, graph.ints([-1, 1, 1, 1])]), STEP]);
  }
  graph.nodes.push({ op: 'Add', inputs: [ORIGIN, offsets], outputs: [input], attributes: {} });
  graph.moveToFront(start);
}

/**
 * SUM: the gradients weighted by WEIGHTS (a path) and summed over the batch; noisy copies: plain sums (of
 * gradient × point with `timesInput`, whose points are `input`), and SQUARES.
 */
export function sumGradients(graph: OnnxGraph, gradient: string, kind: PointBatch['kind'], input: string, timesInput = false): void {
  if (kind === 'noise') {
    const attribution = timesInput ? graph.op('Mul', [gradient, input]) : gradient;
    graph.nameOutput(reduce(graph, 'ReduceSum', attribution, [0], true), SUM);
    graph.nameOutput(reduce(graph, 'ReduceSum', graph.op('Mul', [attribution, attribution]), [0], true), SQUARES);
    return;
  }
  graph.input(WEIGHTS, []);
  const weights = graph.op('Reshape', [WEIGHTS, graph.ints([-1, 1, 1, 1])]);
  graph.nameOutput(reduce(graph, 'ReduceSum', graph.op('Mul', [gradient, weights]), [0], true), SUM);
}

/**
 * CAM: Grad-CAM's map before its ReLU, [batch, h, w] — Σ_k mean(gradient_k) · A_k, in the layer's own layout
 * (channels-first where the export transposes it for TF.js, else channels-last).
 */
export function addGradCamMap(graph: OnnxGraph, layer: string, gradient: string, channelsFirst: boolean): void {
  if (graph.shapeOf(layer).length !== 3) throw new UnsupportedLayerError('Grad-CAM needs a spatial layer');
  const [channels, spatial] = channelsFirst ? [1, [2, 3]] : [3, [1, 2]];
  const weights = reduce(graph, 'ReduceMean', gradient, spatial, true);
  graph.nameOutput(reduce(graph, 'ReduceSum', graph.op('Mul', [layer, weights]), [channels], false), CAM);
}
