/**
 * How a layer's output is laid on the image grid, so that transformers are explained like CNNs. A CNN's 4-D
 * tensors are NCHW; Swin's stages and ConvNeXt's block internals hold [n, h, w, c] channels-last tensors;
 * ViT-family encoders hold token sequences [n, special + h·w, c] whose first tokens (class, distillation,
 * registers) have no place on the grid. Techniques see every one of them as [n, h, w, c] maps: special
 * tokens dropped and the patch tokens laid row by row on their grid (the PyTorch CAM tools' reshape
 * transforms), and a replaced map is put back with the special tokens it had.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../../tfjs/tf';
import type { OnnxGraph } from '../../accel/onnxGraph';
import type { Step } from './executor';
import { asNhwc, nhwcValue, plain, plainValue, type Value } from './ops/types';

export type LayerView =
  | { kind: 'nchw' }
  | { kind: 'channels-last' }
  /** [n, special + grid[0]·grid[1], c]: `special` leading tokens, then the patches row by row. */
  | { kind: 'tokens'; special: number; grid: [number, number] };

interface Probe {
  shape: number[];
  dtype: string;
}

/** Most special tokens a ViT-family model puts before its patches (class, distillation, a few registers). */
const MAX_SPECIAL_TOKENS = 8;

/**
 * The patch grid of a token count for an image of `height` × `width`: the fewest leading special tokens
 * that leave h·w tokens with square patches tiling the image.
 */
export function tokenGrid(tokens: number, height: number, width: number): { special: number; grid: [number, number] } | null {
  for (let special = 0; special <= MAX_SPECIAL_TOKENS && special < tokens; special++) {
    const patches = tokens - special;
    // h/w = height/width with h·w = patches.
    const h = Math.round(Math.sqrt((patches * height) / width));
    const w = h > 0 ? patches / h : 0;
    if (h >= 2 && Number.isInteger(w) && w >= 2 && height % h === 0 && width % w === 0 && height / h === width / w) {
      return { special, grid: [h, w] };
    }
  }
  return null;
}

/** Ops that move data around without keeping a tensor's grid in place. */
const REARRANGING = new Set(['Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Gather', 'Expand', 'Tile']);

/**
 * The view of every float tensor that can be laid on the image grid, from one probe run (batch 1). A 4-D
 * tensor is channels-last when a Transpose [0, 2, 3, 1] made it from an NCHW one, or when an op kept the
 * axes of a channels-last input in place (norms, linear layers, activations, residual sums, the strided
 * slices and concatenation of Swin's patch merging), or when it has the shape of an earlier channels-last
 * tensor (Swin's windows reshaped back to the grid); other 4-D tensors are NCHW.
 */
export function findLayerViews(
  steps: Step[],
  probes: Map<string, Probe>,
  inputName: string,
  image: [number, number],
): Map<string, LayerView> {
  const views = new Map<string, LayerView>();
  const channelsLast = new Set<string>();
  const channelsLastShapes = new Set<string>();
  const floatShape = (name: string) => {
    const probe = probes.get(name);
    return probe && probe.dtype === 'float32' ? probe.shape : null;
  };
  for (const { node } of steps) {
    for (const output of node.outputs) {
      const shape = output ? floatShape(output) : null;
      if (!shape || shape[0] !== 1) continue;
      const sameAsChannelsLast =
        node.opType !== 'Conv' && node.opType !== 'Transpose' && shape[1] !== shape[3] && channelsLastShapes.has(shape.join());
      if (shape.length === 4 && (sameAsChannelsLast || keepsChannelsLast(node, output, shape, channelsLast, floatShape, inputName))) {
        channelsLast.add(output);
        channelsLastShapes.add(shape.join());
        views.set(output, { kind: 'channels-last' });
      } else if (shape.length === 4 && !partOfChannelsLast(node, channelsLast)) {
        views.set(output, { kind: 'nchw' });
      } else if (shape.length === 3 && shape[2] > 1) {
        const grid = tokenGrid(shape[1], image[0], image[1]);
        if (grid) views.set(output, { kind: 'tokens', ...grid });
      }
    }
  }
  return views;
}

function keepsChannelsLast(
  node: Step['node'],
  output: string,
  shape: number[],
  channelsLast: Set<string>,
  floatShape: (name: string) => number[] | null,
  inputName: string,
): boolean {
  const [first] = node.inputs;
  if (node.opType === 'Transpose') {
    const perm = (node.attributes.get('perm') as number[] | undefined)?.join();
    const from = floatShape(first);
    return perm === '0,2,3,1' && first !== inputName && from?.length === 4 && !channelsLast.has(first);
  }
  if (REARRANGING.has(node.opType)) return false;
  // Ops that act along the channels or element by element keep the grid axes where they were, though they
  // may crop or pad them (Swin's patch merging takes every other row, then every other column).
  return output !== first && node.inputs.some((name) => channelsLast.has(name) && floatShape(name)![0] === shape[0]);
}

/** A channels-last map rearranged so its axes are no longer the image's (into windows): no view, rather than a misread NCHW one. */
function partOfChannelsLast(node: Step['node'], channelsLast: Set<string>): boolean {
  const backToNchw = node.opType === 'Transpose' && (node.attributes.get('perm') as number[] | undefined)?.join() === '0,3,1,2';
  return !backToNchw && node.inputs.some((name) => channelsLast.has(name));
}

/** [height, width, channels] as techniques see the tensor. */
export function gridShape(view: LayerView, shape: number[]): [number, number, number] {
  if (view.kind === 'nchw') return [shape[2], shape[3], shape[1]];
  if (view.kind === 'channels-last') return [shape[1], shape[2], shape[3]];
  return [view.grid[0], view.grid[1], shape[2]];
}

/** A value as the [n, h, w, c] map techniques read. */
export function toGrid(value: Value, view: LayerView): Tensor4D {
  if (view.kind === 'nchw') return asNhwc(value, 'the layer');
  const x = plain(value);
  if (view.kind === 'channels-last') return x as Tensor4D;
  const [n, tokens, c] = x.shape;
  return x.slice([0, view.special, 0], [n, tokens - view.special, c]).reshape([n, view.grid[0], view.grid[1], c]) as Tensor4D;
}

/**
 * A replaced [n, h, w, c] map as the layer's value again; token layers take their special tokens from
 * `original` (the batch the map came from, broadcast when the map is a larger batch of its copies).
 */
export function fromGrid(map: Tensor4D, view: LayerView, original: Value): Value {
  if (view.kind === 'nchw') return nhwcValue(map);
  if (view.kind === 'channels-last') return plainValue(map);
  const [n, h, w, c] = map.shape;
  const patches = map.reshape([n, h * w, c]);
  if (view.special === 0) return plainValue(patches);
  const before = plain(original) as Tensor;
  let special = before.slice([0, 0, 0], [before.shape[0], view.special, c]);
  if (special.shape[0] !== n) special = tf.tile(special.slice([0, 0, 0], [1, view.special, c]), [n, 1, 1]);
  return plainValue(tf.concat([special, patches], 1));
}

/** Writes the nodes that read `tensor` (the graph's own layout, `shape` without the batch) as an [n, h, w, c] map; returns the map's name. */
export function writeGridReadout(graph: OnnxGraph, tensor: string, view: LayerView, shape = graph.shapeOf(tensor)): string {
  const [h, w, c] = gridShape(view, [1, ...shape]);
  if (view.kind === 'nchw') return graph.op('Transpose', [tensor], { perm: [0, 2, 3, 1] }, [h, w, c]);
  if (view.kind === 'channels-last') return tensor;
  const patches = graph.op('Slice', [tensor, graph.ints([view.special]), graph.ints([shape[0]]), graph.ints([1])], {}, [h * w, c]);
  return graph.op('Reshape', [patches, graph.ints([-1, h, w, c])], {}, [h, w, c]);
}
