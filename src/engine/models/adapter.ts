/**
 * The one interface every model format implements (TF.js layers and graph models, ONNX files; Keras
 * files run as layers models). Techniques only talk to this.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { PointBatch } from '../accel/batchGraphs';
import type { LayerInfo } from '../types';
import type { ReluRule } from './reluRules';

export interface SplitModel {
  /** Activations of the chosen layer for the input batch. */
  activations: Tensor4D;
  /** Class scores of the batch (logits where the model has them). */
  scores: Tensor2D;
  /** Differentiable map from (replaced) activations to the class scores; other inputs stay fixed. */
  head: (activations: Tensor4D) => Tensor2D;
}

/** A global-average-pooling + linear head: what CAM needs. */
export interface GapHead {
  /** The layer whose output is pooled. */
  layer: string;
  /** [channels, classes] */
  weights: Tensor2D;
  bias: Tensor1D | null;
}

export interface ModelAdapter {
  readonly format: 'layers' | 'graph' | 'onnx' | 'keras';
  /** [height, width, channels] */
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  /** True when `scores` are pre-softmax logits (the softmax is applied for display). */
  readonly hasLogits: boolean;
  /** False when gradients through this model need kernels the wasm backend lacks. */
  readonly gradientsOnWasm: boolean;
  /**
   * Where it depends on the layer (graph models, differentiated by onnxruntime when every op on the way has
   * a rule): whether the gradients a run needs at `layer` avoid tfjs's op gradients — of the scores w.r.t.
   * the layer's activations ('scores'), or of the activations w.r.t. the image ('activations').
   */
  gradientsOnWasmAt?(layer: string, of: 'scores' | 'activations'): boolean;
  readonly layers: LayerInfo[];
  /** True when `scores` honours a ReLU backward rule (guided backprop, deconvnet). */
  readonly supportsReluRules: boolean;
  /** Class scores for a batch (caller disposes); with a rule, rectifiers backpropagate by it. */
  scores(input: Tensor4D, rule?: ReluRule | null): Tensor2D;
  /**
   * The activations of `layer` for the batch, differentiable w.r.t. the input (under the rule, if any).
   * With `beforeRectifier`, a rectifier's input instead of its output where the layer is or ends in one
   * (optimising a unit through a ReLU that is off gets no gradient).
   */
  layerOutput(input: Tensor4D, layer: string, rule?: ReluRule | null, beforeRectifier?: boolean): Tensor4D;
  /**
   * d score[classIndex] / d input per image, computed outside TF.js (onnxruntime) where this model can;
   * null means: differentiate with TF.js.
   */
  inputGradients?(input: Tensor4D, classIndex: number, rule: ReluRule | null): Tensor4D | null;
  /** A layer's activations and d score[classIndex] / d activations outside TF.js, or null (as above). */
  layerGradients?(input: Tensor4D, layer: string, classIndex: number): { activations: Tensor4D; gradients: Tensor4D } | null;
  /**
   * Sums of input gradients over a batch of points built outside TF.js (integrated gradients' path,
   * SmoothGrad's noisy copies; see PointBatch), or null: compute them with inputGradients / TF.js.
   */
  gradientSums?(points: PointBatch, classIndex: number, rule: ReluRule | null): { sum: Tensor4D; squares: Tensor4D | null } | null;
  /** Grad-CAM's map before its ReLU, [batch, h, w], computed where the layer's gradient is (onnxruntime); null where not. */
  gradCamMap?(input: Tensor4D, layer: string, classIndex: number): Tensor | null;
  /**
   * Score-CAM's masked batch scored outside TF.js (onnxruntime): each map [b, mh, mw, 1] upsampled
   * (bilinear, half-pixel), min-max scaled to 0..1 and multiplied into the one image; null: use TF.js.
   */
  maskedScores?(input: Tensor4D, maps: Tensor4D): Tensor2D | null;
  /**
   * Ablation-CAM's batch scored outside TF.js (onnxruntime): `activations` [1, h, w, c] of `layer` with
   * channel channels[i] zeroed in copy i, through the rest of the model; null: use `split`'s head.
   */
  ablatedScores?(layer: string, activations: Tensor4D, channels: number[]): Tensor2D | null;
  /** Runs the batch once, keeping what `head` needs. Call inside tf.tidy. */
  split(input: Tensor4D, layer: string): SplitModel;
  gapHead(): GapHead | null;
  /** A layer's learned weights (kernel first for convolutions); [] when it has none. */
  layerWeights(layer: string): Tensor[];
  /** Layers with learned weights that lead to the scores, output first (for the randomisation check). */
  weightedLayers(): string[];
  /**
   * Runs `run` with the named layers' weights replaced by random ones (same mean and spread), and
   * restores them afterwards whatever happens. Throws for formats that cannot do it.
   */
  withRandomWeights<T>(layers: string[], seed: number, run: () => Promise<T>): Promise<T>;
  /** Tensors the adapter holds that are not tfjs variables (kept alive across engine scopes). */
  ownedTensors(): Tensor[];
  dispose(): void;
}

/** The last CAM-capable layer: the usual Grad-CAM target, just before the classifier head. */
export function defaultCamLayer(layers: LayerInfo[]): string | null {
  for (let i = layers.length - 1; i >= 0; i--) if (layers[i].camCapable) return layers[i].name;
  return null;
}

export function isCamCapableShape(shape: (number | null)[]): boolean {
  return shape.length === 3 && ((shape[0] ?? 0) > 1 || (shape[1] ?? 0) > 1);
}
