/**
 * TF.js layers models, executed layer by layer by CNN Lens itself instead of `model.predict`:
 * - every intermediate output is addressable, so any layer of a branching model can be a target and
 *   the part of the graph after it can be re-run on replaced activations (Grad-CAM's head);
 * - convolutions, dense layers and batch norm run as plain (unfused) ops whose input gradients exist
 *   on every backend. tfjs-layers' fused ops ask for weight gradients too, which wasm cannot compute.
 * Layers CNN Lens does not know are applied with `layer.apply`, so unusual models still run.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Acceleration } from '../../accel/ortRuntime';
import type { AcceleratedRuns } from '../../accel/recipes';
import { gaussian } from '../../random';
import { recordingGradients, tf, tfl } from '../../tfjs/tf';
import type { LayerInfo } from '../../types';
import { isCamCapableShape, type GapHead, type LayerBias, type ModelAdapter, type SplitModel } from '../adapter';
import { withDeclaredWeights } from './declaredWeights';
import { LayersAccelerator } from './layersAccelerator';
import { InferencePlan } from './inferencePlan';
import { convolveInputOnly, gradientKernelOf, type Padding } from '../inputGradOps';
import { rectifierKindOf, withReluRule, type ReluRule } from '../reluRules';
import type { ModelFiles } from '../../../files/modelFiles';
import { checkImageInput, chooseOutput, classCountOf, loadError, type AdapterOptions } from '../outputCheck';
import { checkLayersArtifacts } from '../topologyCheck';
import { firstNonFinite } from '../../finite';

type Layer = LayersModel['layers'][number];

/**
 * Builds a TF.js layers model.json's adapter, after the checks tfjs does not make (topologyCheck.ts).
 * TODO(merge): loadModel's TFJS_ADAPTERS.layers should call this, with { file, output } from cnnlens.json.
 */
export async function loadLayersAdapter(
  files: ModelFiles,
  acceleration: Acceleration,
  options: AdapterOptions = {},
): Promise<LayersAdapter> {
  const file = options.file ?? files.modelJsonPath;
  checkLayersArtifacts(files.artifacts, file);
  // Every weight a layer creates must be one the manifest declares: checked before tfjs allocates it.
  const model = await withDeclaredWeights(files.artifacts.weightSpecs ?? [], file, () =>
    tfl.loadLayersModel(tf.io.fromMemory(files.artifacts)),
  );
  try {
    return new LayersAdapter(model, acceleration, 'layers', { ...options, file });
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** The fused plan in the mode a run may use it. */
interface FusedRun {
  plan: InferencePlan;
  differentiable: boolean;
}

interface Step {
  layer: Layer;
  inputIds: number[];
  outputIds: number[];
}

interface ActivationFn {
  apply(x: Tensor): Tensor;
  getClassName(): string;
}

const PASS_THROUGH = new Set(['Reshape', 'Flatten', 'Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout']);
const POOLING_HEADS = new Set(['GlobalAveragePooling2D']);
/** Layers CNN Lens runs as a linear part plus their own activation (see `linear`). */
const LINEAR_WITH_ACTIVATION = new Set(['Conv2D', 'DepthwiseConv2D', 'Dense']);
/** Layers whose weights the randomisation check replaces (batch-norm statistics are not learned weights). */
const RANDOMISABLE = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense']);
/** Layers that add a per-channel bias to a spatial output (FullGrad reads them). */
const BIASED_CONVOLUTIONS = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv2DTranspose']);

function activationOf(layer: Layer): ActivationFn | null {
  const activation = (layer as unknown as { activation?: ActivationFn }).activation;
  return activation && typeof activation.apply === 'function' ? activation : null;
}

function activationName(layer: Layer): string {
  return activationOf(layer)?.getClassName().toLowerCase() ?? '';
}

function channelsLastBatchNorm(layer: Layer): boolean {
  const axis = (layer.getConfig() as { axis?: number | number[] }).axis;
  return axis === -1 || axis === 3 || (Array.isArray(axis) && (axis[0] === -1 || axis[0] === 3));
}

function isSoftmaxLayer(layer: Layer): boolean {
  const name = layer.getClassName();
  return name === 'Softmax' || (name === 'Activation' && activationName(layer) === 'softmax');
}

interface ConvConfig {
  strides: [number, number];
  padding: Padding;
  dilationRate: [number, number];
  dataFormat?: string;
}

function convConfig(layer: Layer): ConvConfig {
  const config = layer.getConfig() as Record<string, unknown>;
  const pair = (value: unknown): [number, number] =>
    Array.isArray(value) ? [Number(value[0]), Number(value[1] ?? value[0])] : [Number(value ?? 1), Number(value ?? 1)];
  return {
    strides: pair(config.strides),
    padding: config.padding === 'same' ? 'same' : 'valid',
    dilationRate: pair(config.dilationRate),
    dataFormat: config.dataFormat as string | undefined,
  };
}

export class LayersAdapter implements ModelAdapter {
  /** 'keras' for models imported from Keras files (keras/kerasModel.ts); they run exactly as layers models. */
  readonly format: 'layers' | 'keras';
  readonly gradientsOnWasm = true;
  readonly supportsReluRules = true;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly hasLogits: boolean;
  readonly layers: LayerInfo[];

  private readonly steps: Step[];
  private readonly inputId: number;
  /** The model output explained (the only one, or the one chosen): its symbolic tensor's id. */
  private readonly outputId: number;
  /** The tensor holding the class scores, or the layer whose linear part (before softmax) gives them. */
  private readonly scoreSource: { tensorId: number; linearOf: Step | null };
  /** Scale and shift of each BatchNormalization layer, folded once, at load, for inference. */
  private readonly batchNormCache = new Map<Layer, { scale: Tensor1D; shift: Tensor1D }>();
  /** Per convolution layer, the kernel its input gradient convolves with (made once, at load). */
  private readonly gradientKernels = new Map<Layer, Tensor4D>();
  /** Fused, batch-norm-folded steps for forward passes no gradient goes through. */
  private readonly inference: InferencePlan;
  /** The same model exported to onnxruntime, where it is installed (forward passes and input gradients). */
  private readonly accelerator: LayersAccelerator;
  private readonly runs: AcceleratedRuns;

  constructor(
    private readonly model: LayersModel,
    acceleration: Acceleration,
    format: 'layers' | 'keras' = 'layers',
    options: AdapterOptions = {},
  ) {
    this.format = format;
    if (model.inputs.length !== 1)
      throw new Error(`The model has ${model.inputs.length} inputs; CNN Lens explains single-input image models.`);
    const shape = model.inputs[0].shape;
    if (shape.length !== 4)
      throw new Error(`The model's input has shape ${JSON.stringify(shape)}; CNN Lens expects images [batch, height, width, channels].`);
    this.inputShape = checkImageInput(shape.slice(1), "the model's input", options.file);
    this.inputId = model.inputs[0].id;
    const outputs = model.outputs.map((tensor) => ({ name: tensor.sourceLayer.name, shape: tensor.shape }));
    const chosen = chooseOutput(outputs, options);
    this.outputId = model.outputs[chosen].id;
    this.numClasses = classCountOf(outputs[chosen], options, outputs.length);
    const weights = model.weights;
    const bad = firstNonFinite(weights.map((weight) => weight.read()));
    if (bad) {
      throw loadError(
        options.file,
        `weight "${weights[bad.index].originalName}" holds ${bad.what}; a model with NaN or infinite weights gives meaningless scores, so CNN Lens does not load it.`,
      );
    }
    this.steps = model.layers
      .filter((layer) => layer.getClassName() !== 'InputLayer')
      .map((layer) => {
        if (layer.inboundNodes.length !== 1)
          throw new Error(
            `Layer "${layer.name}" is shared (called ${layer.inboundNodes.length} times); CNN Lens does not support shared layers yet.`,
          );
        const node = layer.inboundNodes[0];
        return { layer, inputIds: node.inputTensors.map((t) => t.id), outputIds: node.outputTensors.map((t) => t.id) };
      });
    this.scoreSource = this.findScoreSource();
    // Scores step back over a softmax (see findScoreSource), so they are logits unless the model ends in a sigmoid.
    this.hasLogits = !this.endsInSigmoid();
    this.layers = model.layers
      .filter((layer) => layer.getClassName() !== 'InputLayer')
      .map((layer) => {
        const outputShape = (Array.isArray(layer.outputShape[0]) ? layer.outputShape[0] : layer.outputShape) as (number | null)[];
        const withoutBatch = outputShape.slice(1);
        // tfjs accepts settings such as strides 0 and only fails on the first run (an Infinity-sized array).
        if (withoutBatch.some((d) => d !== null && !(Number.isInteger(d) && d > 0))) {
          throw loadError(
            options.file,
            `layer "${layer.name}" (${layer.getClassName()}) would output shape [${outputShape.map((d) => (d === null ? '?' : String(d))).join(', ')}]: its settings (strides, kernel size, padding or units) are invalid.`,
          );
        }
        return {
          name: layer.name,
          kind: layer.getClassName(),
          outputShape: withoutBatch,
          params: layer.countParams(),
          camCapable: isCamCapableShape(withoutBatch),
          hasKernel: layer.getWeights().some((weight) => weight.rank === 4),
        };
      });
    this.inference = new InferencePlan(this.stepsToScores(), this.steps, {
      convSettings: convConfig,
      batchNorm: (layer) => (channelsLastBatchNorm(layer) ? this.batchNorm(layer) : null),
      activationName,
      keep: new Set([this.scoreSource.tensorId, ...(this.scoreSource.linearOf ? this.scoreSource.linearOf.outputIds : [])]),
    });
    this.accelerator = new LayersAccelerator(
      {
        inputId: this.inputId,
        inputShape: this.inputShape,
        scoreId: this.scoreSource.tensorId,
        numClasses: this.numClasses,
        stepsTo: (id) => this.stepsTo(id),
        downstreamOf: (id, steps) => this.downstreamOf(id, steps),
        layerTensor: (name) => {
          const step = this.stepOf(name);
          return { id: step.outputIds[0], shape: this.layers.find((l) => l.name === name)!.outputShape.map((d) => d ?? -1) };
        },
        context: {
          convSettings: convConfig,
          batchNorm: (layer) => (channelsLastBatchNorm(layer) ? this.batchNorm(layer) : null),
          activationName,
          linearOnly: this.scoreSource.linearOf,
        },
      },
      acceleration,
    );
    this.runs = this.accelerator.runs((layer) => ({ id: this.stepOf(layer).outputIds[0], linear: false }));
    for (const { layer } of this.steps) {
      const kind = layer.getClassName();
      if (kind === 'BatchNormalization') this.batchNorm(layer);
      if (kind === 'Conv2D' || kind === 'DepthwiseConv2D') {
        this.gradientKernels.set(layer, gradientKernelOf(kind === 'Conv2D' ? 'conv2d' : 'depthwise', layer.getWeights()[0] as Tensor4D));
      }
    }
  }

  private producerOf(tensorId: number): Step | undefined {
    return this.steps.find((step) => step.outputIds.includes(tensorId));
  }

  /** Walks back from the output over reshapes to the softmax, to score with logits when they exist. */
  private findScoreSource(): { tensorId: number; linearOf: Step | null } {
    let tensorId = this.outputId;
    for (let step = this.producerOf(tensorId); step; step = this.producerOf(tensorId)) {
      const kind = step.layer.getClassName();
      if (PASS_THROUGH.has(kind)) {
        tensorId = step.inputIds[0];
        continue;
      }
      if (isSoftmaxLayer(step.layer)) return { tensorId: step.inputIds[0], linearOf: null };
      if (activationName(step.layer) === 'softmax' && (kind === 'Dense' || kind === 'Conv2D')) {
        return { tensorId: step.outputIds[0], linearOf: step };
      }
      break;
    }
    // No softmax: the scores are the last tensor before any trailing reshapes.
    return { tensorId, linearOf: null };
  }

  private endsInSigmoid(): boolean {
    let last = this.producerOf(this.outputId);
    while (last && PASS_THROUGH.has(last.layer.getClassName())) last = this.producerOf(last.inputIds[0]);
    return !!last && activationName(last.layer) === 'sigmoid';
  }

  private stepOf(layerName: string): Step {
    const step = this.steps.find((s) => s.layer.name === layerName);
    if (!step) throw new Error(`The model has no layer named "${layerName}".`);
    return step;
  }

  private batchNorm(layer: Layer): { scale: Tensor1D; shift: Tensor1D } {
    let folded = this.batchNormCache.get(layer);
    if (!folded) {
      const config = layer.getConfig() as { epsilon?: number; center?: boolean; scale?: boolean };
      const weights = layer.getWeights();
      let i = 0;
      const gamma = config.scale === false ? null : weights[i++];
      const beta = config.center === false ? null : weights[i++];
      const mean = weights[i++];
      const variance = weights[i++];
      folded = tf.tidy(() => {
        const inv = tf.rsqrt(variance.add(config.epsilon ?? 1e-3));
        const scale = (gamma ? inv.mul(gamma) : inv) as Tensor1D;
        const shift = (beta ? beta.sub(mean.mul(scale)) : mean.mul(scale).neg()) as Tensor1D;
        return { scale: tf.keep(scale), shift: tf.keep(shift) };
      });
      this.batchNormCache.set(layer, folded);
    }
    return folded;
  }

  /** The layer's output before its activation, for the layers CNN Lens runs itself; null otherwise. */
  private linear(layer: Layer, x: Tensor): Tensor | null {
    const kind = layer.getClassName();
    if (kind === 'Conv2D' || kind === 'DepthwiseConv2D') {
      const { strides, padding, dilationRate, dataFormat } = convConfig(layer);
      if (dataFormat === 'channelsFirst') return null;
      const [kernel, bias] = layer.getWeights();
      const convKind = kind === 'Conv2D' ? 'conv2d' : 'depthwise';
      const z = convolveInputOnly(
        convKind,
        x as Tensor4D,
        kernel as Tensor4D,
        this.gradientKernels.get(layer)!,
        strides,
        padding,
        dilationRate,
      );
      return bias ? z.add(bias) : z;
    }
    if (kind === 'Dense' && x.rank === 2) {
      const [kernel, bias] = layer.getWeights();
      const z = tf.matMul(x as Tensor2D, kernel as Tensor2D);
      return bias ? z.add(bias) : z;
    }
    return null;
  }

  /** The rectifier a layer applies as its whole job (ReLU, LeakyReLU, Activation('relu')), if any. */
  private rectifierLayer(layer: Layer): string | null {
    const kind = layer.getClassName();
    const config = layer.getConfig() as { maxValue?: number | null; alpha?: number };
    if (kind === 'ReLU') return config.maxValue === 6 ? 'relu6' : config.maxValue ? null : 'relu';
    if (kind === 'LeakyReLU') return rectifierKindOf('leakyrelu', config.alpha);
    if (kind === 'Activation') return rectifierKindOf(activationName(layer));
    return null;
  }

  private apply(step: Step, inputs: Tensor[], withActivation = true, rule: ReluRule | null = null): Tensor {
    const { layer } = step;
    const kind = layer.getClassName();
    const rectifier = rule ? this.rectifierLayer(layer) : null;
    if (rule && rectifier) return withReluRule(inputs[0], rectifier, rule, (x) => this.apply(step, [x], withActivation));
    if (kind === 'BatchNormalization' && inputs[0].rank === 4 && channelsLastBatchNorm(layer)) {
      const { scale, shift } = this.batchNorm(layer);
      return inputs[0].mul(scale).add(shift);
    }
    const z = this.linear(layer, inputs[0]);
    if (z) {
      const activation = activationOf(layer);
      if (!withActivation || !activation) return z;
      const inline = rule ? rectifierKindOf(activation.getClassName()) : null;
      return rule && inline ? withReluRule(z, inline, rule, (v) => activation.apply(v)) : activation.apply(z);
    }
    const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs, { training: false });
    return Array.isArray(out) ? (out[0] as Tensor) : (out as Tensor);
  }

  /** Runs `steps` in order, reading and writing tensors by symbolic-tensor id (forward-only: fused where it can). */
  private run(steps: Step[], values: Map<number, Tensor>, rule: ReluRule | null = null, fused: FusedRun | null = null): void {
    for (const step of steps) {
      if (step.outputIds.every((id) => values.has(id)) || fused?.plan.absorbs(step, fused.differentiable)) continue;
      const quick = fused?.plan.apply(step, values.get(step.inputIds[0])!, fused.differentiable);
      if (quick) {
        values.set(quick.id, quick.value);
        continue;
      }
      const inputs = step.inputIds.map((id) => {
        const value = values.get(id);
        if (!value) throw new Error(`Layer "${step.layer.name}" is missing an input (unsupported graph structure).`);
        return value;
      });
      const linearOnly = step === this.scoreSource.linearOf;
      values.set(step.outputIds[0], this.apply(step, inputs, !linearOnly, rule));
    }
  }

  /** Steps needed to compute the scores, i.e. ancestors of the score tensor. */
  private stepsToScores(): Step[] {
    return this.stepsTo(this.scoreSource.tensorId);
  }

  private stepsTo(tensorId: number): Step[] {
    const needed = new Set<number>([tensorId]);
    const chosen: Step[] = [];
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const step = this.steps[i];
      if (step.outputIds.some((id) => needed.has(id))) {
        chosen.push(step);
        step.inputIds.forEach((id) => needed.add(id));
      }
    }
    return chosen.reverse();
  }

  private scoresFrom(values: Map<number, Tensor>, batch: number): Tensor2D {
    const raw = values.get(this.scoreSource.tensorId);
    if (!raw) throw new Error('The model did not produce class scores.');
    return raw.reshape([batch, -1]) as Tensor2D;
  }

  /** The fused plan, when no ReLU rule needs the layer-by-layer path and a run of it yields `tensorId`. */
  private fusedFor(rule: ReluRule | null, tensorId = this.scoreSource.tensorId): FusedRun | null {
    const mode = rule ? null : InferencePlan.mode(recordingGradients());
    if (!mode) return null;
    const differentiable = mode === 'differentiable';
    return this.inference.produces(tensorId, differentiable) ? { plan: this.inference, differentiable } : null;
  }

  scores(input: Tensor4D, rule: ReluRule | null = null): Tensor2D {
    const fast = this.accelerator.output(input, 'scores', rule, recordingGradients());
    if (fast) return fast as Tensor2D;
    const fused = this.fusedFor(rule);
    return tf.tidy(() => {
      const values = new Map<number, Tensor>([[this.inputId, input]]);
      this.run(this.stepsToScores(), values, rule, fused);
      return this.scoresFrom(values, input.shape[0]);
    });
  }

  layerOutput(input: Tensor4D, layerName: string, rule: ReluRule | null = null, beforeRectifier = false): Tensor4D {
    const target = this.stepOf(layerName);
    const targetId = target.outputIds[0];
    const at = this.readAt(target, beforeRectifier);
    const fast = this.accelerator.output(input, at, rule, recordingGradients());
    if (fast && fast.rank === 4) return fast as Tensor4D;
    tf.dispose(fast ?? []);
    return tf.tidy(() => {
      const values = new Map<number, Tensor>([[this.inputId, input]]);
      const plan = this.stepsTo(targetId);
      let output: Tensor;
      if (at.id !== targetId) {
        this.run(plan.slice(0, -1), values, rule);
        output = values.get(at.id)!;
      } else if (at.linear) {
        this.run(plan.slice(0, -1), values, rule);
        output = this.apply(
          target,
          target.inputIds.map((id) => values.get(id)!),
          false,
          rule,
        );
      } else {
        this.run(plan, values, rule, this.fusedFor(rule, targetId));
        output = values.get(targetId)!;
      }
      if (output.rank !== 4) throw new Error(`Layer "${layerName}" has a ${output.rank}-D output; a spatial (4-D) layer is needed.`);
      return output as Tensor4D;
    });
  }

  /** Where layerOutput reads a layer: its output, or before its rectifier (a rectifier's input, a convolution's linear part). */
  private readAt(target: Step, beforeRectifier: boolean): { id: number; linear: boolean } {
    if (beforeRectifier && this.rectifierLayer(target.layer)) return { id: target.inputIds[0], linear: false };
    const linear =
      beforeRectifier && LINEAR_WITH_ACTIVATION.has(target.layer.getClassName()) && !!rectifierKindOf(activationName(target.layer));
    return { id: target.outputIds[0], linear };
  }

  split(input: Tensor4D, layerName: string): SplitModel {
    const target = this.stepOf(layerName);
    const targetId = target.outputIds[0];
    const plan = this.stepsToScores();
    if (!plan.includes(target)) throw new Error(`Layer "${layerName}" does not lead to the model's class scores.`);
    // On onnxruntime when both the run to the layer and the head after it export (Eigen-CAM, Score-CAM's and
    // Ablation-CAM's activations: one ORT run instead of a TF.js forward pass).
    if (!recordingGradients() && this.accelerator.hasHead(layerName)) {
      const fast = this.accelerator.outputs(input, ['scores', { id: targetId, linear: false }]);
      if (fast && fast[1].rank === 4) {
        // Differentiated (Grad-CAM's TF.js fallback), the head runs on TF.js, where tfjs records it.
        const head = (replaced: Tensor4D) =>
          recordingGradients() ? this.tfjsSplit(input, layerName).head(replaced) : this.accelerator.head(layerName, replaced)!;
        return { activations: fast[1] as Tensor4D, scores: fast[0] as Tensor2D, head };
      }
      tf.dispose(fast ?? []);
    }
    return this.tfjsSplit(input, layerName);
  }

  private tfjsSplit(input: Tensor4D, layerName: string): SplitModel {
    const target = this.stepOf(layerName);
    const targetId = target.outputIds[0];
    const plan = this.stepsToScores();
    const values = new Map<number, Tensor>([[this.inputId, input]]);
    // Up to the target nothing is differentiated: the fused plan may run it (the head re-runs layer by layer).
    this.run(plan, values, null, this.fusedFor(null, targetId));
    const activations = values.get(targetId) as Tensor4D;
    if (activations.rank !== 4)
      throw new Error(`Layer "${layerName}" has a ${activations.rank}-D output; a spatial (4-D) layer is needed.`);
    const downstream = this.downstreamOf(targetId, plan);
    const head = (replaced: Tensor4D): Tensor2D => {
      const fast = recordingGradients() ? null : this.accelerator.head(layerName, replaced);
      if (fast) return fast;
      const rerun = new Map(values);
      downstream.forEach((step) => step.outputIds.forEach((id) => rerun.delete(id)));
      rerun.set(targetId, replaced);
      // No fusion straddles the target when the fused plan produces it, so the head may run fused too.
      this.run(downstream, rerun, null, this.fusedFor(null, targetId));
      return this.scoresFrom(rerun, replaced.shape[0]);
    };
    return { activations, scores: this.scoresFrom(values, input.shape[0]), head };
  }

  accelerated(): AcceleratedRuns | null {
    return recordingGradients() ? null : this.runs;
  }

  private downstreamOf(tensorId: number, plan: Step[]): Step[] {
    const reached = new Set<number>([tensorId]);
    return plan.filter((step) => {
      if (!step.inputIds.some((id) => reached.has(id))) return false;
      step.outputIds.forEach((id) => reached.add(id));
      return true;
    });
  }

  gapHead(): GapHead | null {
    const scoreStep = this.scoreSource.linearOf ?? this.producerOf(this.scoreSource.tensorId);
    if (!scoreStep) return null;
    const kind = scoreStep.layer.getClassName();
    if (POOLING_HEADS.has(kind)) return this.poolingOnlyHead(scoreStep);
    const isPointwise =
      kind === 'Conv2D' &&
      scoreStep.layer
        .getWeights()[0]
        .shape.slice(0, 2)
        .every((d) => d === 1);
    if (kind !== 'Dense' && !isPointwise) return null;
    if (!this.scoreSource.linearOf && !['', 'linear'].includes(activationName(scoreStep.layer))) return null;
    // Between the linear layer and a global average pooling only shape-preserving layers may sit.
    let tensorId = scoreStep.inputIds[0];
    for (let step = this.producerOf(tensorId); step; step = this.producerOf(tensorId)) {
      const stepKind = step.layer.getClassName();
      if (PASS_THROUGH.has(stepKind)) {
        tensorId = step.inputIds[0];
        continue;
      }
      if (!POOLING_HEADS.has(stepKind)) return null;
      const pooled = this.producerOf(step.inputIds[0]);
      if (!pooled) return null;
      const [kernel, bias] = scoreStep.layer.getWeights();
      const channels = kernel.shape[kernel.shape.length - 2];
      const weights = kernel.reshape([channels, -1]) as Tensor2D;
      return { layer: pooled.layer.name, weights, bias: (bias as Tensor1D | undefined) ?? null };
    }
    return null;
  }

  layerWeights(layerName: string): Tensor[] {
    return this.stepOf(layerName).layer.getWeights();
  }

  layerBias(layerName: string): LayerBias | null {
    const { layer } = this.stepOf(layerName);
    const kind = layer.getClassName();
    if (kind === 'BatchNormalization') return { bias: this.batchNorm(layer).shift.clone(), rectifiedBelow: null };
    if (!BIASED_CONVOLUTIONS.has(kind) || !(layer.getConfig() as { useBias?: boolean }).useBias) return null;
    const activation = activationName(layer);
    const rectifiedBelow = { linear: null, '': null, relu: Infinity, relu6: 6 }[activation];
    // Another fused activation (sigmoid, swish…): the bias's gradient is not the output's; leave the layer out.
    if (rectifiedBelow === undefined) return null;
    const bias = layer.getWeights().at(-1);
    return bias && bias.rank === 1 ? { bias: bias.clone() as Tensor1D, rectifiedBelow } : null;
  }

  weightedLayers(): string[] {
    return this.stepsToScores()
      .filter(({ layer }) => RANDOMISABLE.has(layer.getClassName()) && layer.getWeights().length > 0)
      .map(({ layer }) => layer.name)
      .reverse();
  }

  async withRandomWeights<T>(names: string[], seed: number, run: () => Promise<T>): Promise<T> {
    const saved = names.map((name) => {
      const { layer } = this.stepOf(name);
      // getWeights returns the variables themselves: copy, or restoring would restore the random values.
      return { layer, weights: layer.getWeights().map((w) => w.clone()) };
    });
    try {
      saved.forEach(({ layer, weights }, i) => {
        const random = weights.map((w, j) =>
          tf.tidy(() => {
            const { mean, variance } = tf.moments(w);
            const spread = Math.sqrt(variance.dataSync()[0]) || 0.05;
            return gaussian(w.shape, mean.dataSync()[0], spread, seed + 101 * i + j);
          }),
        );
        layer.setWeights(random);
        tf.dispose(random);
        this.refreshDerived(layer);
      });
      return await run();
    } finally {
      for (const { layer, weights } of saved) {
        layer.setWeights(weights);
        tf.dispose(weights);
        this.refreshDerived(layer);
      }
    }
  }

  /** Recomputes what was derived from a (convolution) layer's weights after they changed. */
  private refreshDerived(layer: Layer): void {
    this.inference.refresh(layer);
    this.accelerator.invalidate();
    const kernel = this.gradientKernels.get(layer);
    if (kernel) {
      kernel.dispose();
      const kind = layer.getClassName() === 'Conv2D' ? 'conv2d' : 'depthwise';
      this.gradientKernels.set(layer, tf.keep(gradientKernelOf(kind, layer.getWeights()[0] as Tensor4D)));
    }
  }

  firstNonFiniteLayer(input: Tensor4D): string | null {
    const plan = this.stepsToScores();
    let found: string | null = null;
    tf.tidy(() => {
      const values = new Map<number, Tensor>([[this.inputId, input]]);
      // Layer by layer, unfused, each step's output as the layer gives it (the score layer's too).
      for (const step of plan) {
        const inputs = step.inputIds.map((id) => values.get(id)!);
        values.set(step.outputIds[0], this.apply(step, inputs));
      }
      const bad = firstNonFinite(plan.map((step) => values.get(step.outputIds[0])!));
      found = bad ? plan[bad.index].layer.name : null;
    });
    return found;
  }

  ownedTensors(): Tensor[] {
    // Layer weights are tfjs variables, which engine scopes never dispose; what is derived from them is not.
    const folded = [...this.batchNormCache.values()].flatMap(({ scale, shift }) => [scale, shift]);
    return [...this.gradientKernels.values(), ...folded, ...this.inference.ownedTensors()];
  }

  /**
   * Heads that pool class maps directly (Darknet, NiN: a conv with one channel per class, then GAP):
   * the map of class c is channel c, i.e. CAM with identity weights.
   */
  private poolingOnlyHead(pool: Step): GapHead | null {
    const pooled = this.producerOf(pool.inputIds[0]);
    if (!pooled) return null;
    const channels = pooled.layer.outputShape[pooled.layer.outputShape.length - 1] as number;
    if (channels !== this.numClasses) return null;
    return { layer: pooled.layer.name, weights: tf.eye(channels) as Tensor2D, bias: null };
  }

  dispose(): void {
    for (const { scale, shift } of this.batchNormCache.values()) tf.dispose([scale, shift]);
    this.batchNormCache.clear();
    tf.dispose([...this.gradientKernels.values()]);
    this.gradientKernels.clear();
    this.inference.dispose();
    this.accelerator.dispose();
    this.model.dispose();
  }
}
