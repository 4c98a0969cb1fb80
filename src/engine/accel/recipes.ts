/**
 * What a model offers besides its TF.js form when it runs on onnxruntime (ModelAdapter.accelerated()): input
 * and layer gradients, and a technique's own graph recipe. A recipe edits the model's exported graph so that
 * one run does a technique's batch work (Score-CAM's masked copies, integrated gradients' path, SmoothGrad's
 * noisy copies, Ablation-CAM's ablated copies, Grad-CAM's combined map): neither the batch nor its gradients
 * cross over to TF.js. Each recipe lives in its technique's file, beside the TF.js form it must agree with.
 * Every run returns null where it cannot run here; the technique then computes the same numbers on TF.js.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import type { ReluRule } from '../models/reluRules';
import type { OnnxGraph } from './onnxGraph';
import type { OrtArray } from './ortRuntime';

/** The graph input holding the image batch, channels-last as TF.js feeds it. */
export const IMAGE = 'cnn_lens_image';
/** The graph input holding a layer's activations, channels-last, for recipes that start there. */
export const ACTIVATIONS = 'cnn_lens_activations';

/** The graph output holding the class scores [batch, classes] (RecipeGraph.scores). */
export const SCORES = 'cnn_lens_output0';

/** The exported graph a recipe edits, and the names it needs. */
export interface RecipeGraph {
  readonly graph: OnnxGraph;
  /** IMAGE, or with `from` ACTIVATIONS. */
  readonly input: string;
  /** [height, width, channels] of `input`. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** SCORES, the class scores [batch, classes]. */
  readonly scores: string;
  /** With `at`: the layer's tensor, in the graph's own layout (channels-first where the export transposes it for TF.js). */
  readonly layer: { name: string; channelsFirst: boolean } | null;
  /** Adds Σ seed · d of / d x for each x of `wrt` (seed: a graph input shaped like `of`), under the ReLU rule if any. */
  gradients(of: string, seed: string, wrt: string[], rule?: ReluRule | null): string[];
}

export interface GraphRecipe {
  /** Names the session: one key (with `at` and `from`) is one graph, built once and kept. */
  readonly key: string;
  /** What the log names when TF.js computes it instead, e.g. "Grad-CAM's map". */
  readonly title: string;
  /** A layer whose activations the recipe reads (RecipeGraph.layer). */
  readonly at?: string;
  /** Starts the graph at this layer's activations instead of the image: the head after it (formats that can cut there). */
  readonly from?: string;
  /** Adds the recipe's inputs and names its outputs; throws UnsupportedLayerError where it cannot. */
  build(graph: RecipeGraph): void;
}

export interface AcceleratedRuns {
  /** d score[classIndex] / d input for each image, under the ReLU rule if any. */
  inputGradient(input: Tensor4D, classIndex: number, rule: ReluRule | null): Tensor4D | null;
  /** A layer's activations and d score[classIndex] / d activations, from one run. */
  layerGradient(input: Tensor4D, layer: string, classIndex: number): { activations: Tensor4D; gradients: Tensor4D } | null;
  /** Several layers' activations and d score[classIndex] / d each, from one run (in the order asked). */
  layerGradients(input: Tensor4D, layers: string[], classIndex: number): { activations: Tensor[]; gradients: Tensor[] } | null;
  /**
   * Runs a recipe's graph on the feeds and returns the named outputs. `image`: the image the run is about,
   * when the graph starts at the image (exports are made for the model's own input size).
   */
  run(recipe: GraphRecipe, feeds: Record<string, Tensor | OrtArray>, outputs: string[], image?: Tensor4D): Tensor[] | null;
}

/** A seed that picks one class score per image: [batch, classes], 1 at classIndex. */
export function oneHot(batch: number, numClasses: number, classIndex: number): OrtArray {
  const seed = new Float32Array(batch * numClasses);
  for (let i = 0; i < batch; i++) seed[i * numClasses + classIndex] = 1;
  return { data: seed, dims: [batch, numClasses] };
}

/** A vector feed. */
export function vector(values: number[]): OrtArray {
  return { data: Float32Array.from(values), dims: [values.length] };
}

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
 * Replaces the graph input `input` by a value computed from new inputs: `compute` adds them and the ops
 * before the last, and returns the last op, whose output takes `input`'s name. The new ops go first.
 */
export function replaceInput(graph: OnnxGraph, input: string, compute: () => { op: string; inputs: string[] }): void {
  const start = graph.nodes.length;
  graph.removeInput(input);
  graph.nodes.push({ ...compute(), outputs: [input], attributes: {} });
  graph.moveToFront(start);
}
