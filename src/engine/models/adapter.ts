/**
 * The one interface every model format implements (TF.js layers and graph models, ONNX files; Keras
 * files run as layers models). Techniques only talk to this.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { AcceleratedRuns } from '../accel/recipes';
import type { LayerInfo } from '../types';
import type { ModelFormat } from '../../files/formats';
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

/** Where a ViT-family model's self-attention is: one Softmax per encoder block, over all tokens. */
export interface AttentionLayout {
  blocks: number;
  heads: number;
  /** Leading tokens with no place on the grid (class, distillation, registers). */
  special: number;
  /** The patch tokens' grid [rows, columns]. */
  grid: [number, number];
}

export interface AttentionEvidence {
  /** Per block, in forward order: the attention probabilities [n, heads, tokens, tokens]. */
  probabilities: Tensor4D[];
  /** d score[class] / d probabilities, same shapes, where asked for. */
  gradients: Tensor4D[] | null;
}

export interface LayerBias {
  bias: Tensor1D;
  rectifiedBelow: number | null;
}

export interface ModelAdapter {
  readonly format: ModelFormat;
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
  /** The format's own choice of target layer where the last CAM-capable one is wrong (a ViT's last block). */
  readonly preferredCamLayer?: string | null;
  /** ViT-family models: where the attention is (absent or null for models without global self-attention). */
  attentionLayout?(): AttentionLayout | null;
  /** The attention of every block for the batch and, with a class, the class score's gradients w.r.t. it. Call inside tf.tidy. */
  readAttention?(input: Tensor4D, classIndex: number | null): AttentionEvidence;
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
   * Runs outside TF.js (onnxruntime: input and layer gradients, techniques' graph recipes) where this model
   * has them, or null: the technique computes the same numbers with TF.js. Null while TF.js records
   * gradients, which cannot flow through those runs.
   */
  accelerated(): AcceleratedRuns | null;
  /** Runs the batch once, keeping what `head` needs. Call inside tf.tidy. */
  split(input: Tensor4D, layer: string): SplitModel;
  gapHead(): GapHead | null;
  /** A layer's learned weights (kernel first for convolutions); [] when it has none. */
  layerWeights(layer: string): Tensor[];
  /**
   * The per-channel constant a convolution or batch normalisation adds (a convolution's bias; a batch norm's
   * shift β − γ·μ/√(σ² + ε)), or null for other layers and formats that do not say (FullGrad). `rectifiedBelow`:
   * the layer's output went through min(max(z, 0), cap) after the bias was added (a Keras convolution with a
   * fused ReLU or ReLU6; Infinity for ReLU), so the bias's gradient is the output's where 0 < output < cap.
   * The bias is a new tensor: dispose it or call inside tf.tidy.
   */
  layerBias?(layer: string): LayerBias | null;
  /** Layers with learned weights that lead to the scores, output first (for the randomisation check). */
  weightedLayers(): string[];
  /**
   * Runs `run` with the named layers' weights replaced by random ones (same mean and spread), and
   * restores them afterwards whatever happens. Throws for formats that cannot do it.
   */
  withRandomWeights<T>(layers: string[], seed: number, run: () => Promise<T>): Promise<T>;
  /**
   * The first layer (in the model's order, on the way to the scores) whose output for `input` holds NaN or
   * infinity, or null when none does. Runs the model once on TF.js, layer by layer: for failures only.
   */
  firstNonFiniteLayer(input: Tensor4D): string | null;
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
