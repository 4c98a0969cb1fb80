/**
 * The fused copy of a layers model: each convolution absorbs the BatchNormalization after it (kernel and
 * bias rescaled once, at load) and its rectifier, and runs as one tfjs fused op — half a MobileNet
 * forward pass on wasm (`npm run bench:pytorch`). Used for forward passes no gradient goes through
 * (predictions, Score-CAM, deletion/insertion, a target layer's activations) and, on wasm, for input
 * gradients too: a fused convolution then gets a custom gradient for its input only (the rectifier's
 * mask from the saved output, then the convolution's input gradient with the folded kernel), since
 * tfjs's own fused-op gradients ask for weight gradients wasm cannot compute. Intermediate outputs a
 * fusion computes past (a convolution's before its batch norm) are not produced.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { tf } from '../../tfjs/tf';
import { fusedInputOnlyGradient, gradientKernelOf, inputOnlyGradients, type Padding } from '../inputGradOps';

type Layer = LayersModel['layers'][number];
type FusedActivation = 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'sigmoid';

export interface PlanStep {
  layer: Layer;
  inputIds: number[];
  outputIds: number[];
}

interface Fusion {
  kind: 'conv2d' | 'depthwise' | 'dense';
  filter: Tensor;
  bias: Tensor1D | null;
  activation: FusedActivation;
  leakyAlpha?: number;
  /** The steps whose work this one does (batch norm, rectifier); the last one's output is produced. */
  absorbed: PlanStep[];
  /** The batch norm folded into `filter` and `bias` (they are then tensors this plan made and owns). */
  folded: PlanStep | null;
  /** For convolutions the input-only gradient handles (dilation 1, equal strides, no channel multiplier). */
  gradientKernel: Tensor4D | null;
}

interface ConvSettings {
  strides: [number, number];
  padding: Padding;
  dilationRate: [number, number];
  dataFormat?: string;
}

export interface PlanContext {
  convSettings(layer: Layer): ConvSettings;
  /** Scale and shift of a channels-last BatchNormalization, or null if it is not one. */
  batchNorm(layer: Layer): { scale: Tensor1D; shift: Tensor1D } | null;
  activationName(layer: Layer): string;
  /** Tensors whose values must be produced (the scores): never absorbed into a fused step. */
  keep: Set<number>;
}

/** A rectifier a layer applies as its whole job, in the form tfjs's fused ops take. */
function standaloneActivation(layer: Layer, context: PlanContext): { activation: FusedActivation; alpha?: number } | null {
  const kind = layer.getClassName();
  const config = layer.getConfig() as { maxValue?: number | null; alpha?: number; negativeSlope?: number; threshold?: number };
  if (kind === 'ReLU') {
    if (config.negativeSlope || config.threshold) return null;
    return config.maxValue === 6 ? { activation: 'relu6' } : config.maxValue ? null : { activation: 'relu' };
  }
  if (kind === 'LeakyReLU') return { activation: 'leakyrelu', alpha: config.alpha ?? 0.3 };
  if (kind === 'Activation') return ownActivation(context.activationName(layer));
  return null;
}

function ownActivation(name: string): { activation: FusedActivation } | null {
  if (name === '' || name === 'linear') return { activation: 'linear' };
  if (name === 'relu' || name === 'relu6' || name === 'sigmoid') return { activation: name };
  return null;
}

export class InferencePlan {
  private readonly fusions = new Map<PlanStep, Fusion>();
  /** Absorbed step → the fused step that does its work. */
  private readonly owner = new Map<PlanStep, Fusion>();
  /** Outputs a fused step computes past without producing (a convolution's before its batch norm, …). */
  private readonly skipped = new Map<number, Fusion>();

  /** `steps` lead to the scores; `allSteps` are the whole model's (a branch off the path also reads tensors). */
  constructor(
    steps: PlanStep[],
    allSteps: PlanStep[],
    private readonly context: PlanContext,
  ) {
    const consumers = new Map<number, PlanStep[]>();
    for (const step of allSteps) for (const id of step.inputIds) consumers.set(id, [...(consumers.get(id) ?? []), step]);
    const soleConsumer = (step: PlanStep): PlanStep | null => {
      const id = step.outputIds[0];
      const users = consumers.get(id) ?? [];
      return users.length === 1 && !context.keep.has(id) ? users[0] : null;
    };
    for (const step of steps) {
      const fusion = this.fuse(step, soleConsumer);
      if (!fusion) continue;
      this.fusions.set(step, fusion);
      fusion.absorbed.forEach((s) => this.owner.set(s, fusion));
      [step, ...fusion.absorbed].slice(0, -1).forEach((s) => s.outputIds.forEach((id) => this.skipped.set(id, fusion)));
    }
  }

  private fuse(step: PlanStep, soleConsumer: (step: PlanStep) => PlanStep | null): Fusion | null {
    const { layer } = step;
    const kind = layer.getClassName();
    const isConv = kind === 'Conv2D' || kind === 'DepthwiseConv2D';
    if (!isConv && kind !== 'Dense') return null;
    // Dense on a 2-D input only; convolutions channels-last with 'same'/'valid' padding (what fused ops take).
    if (kind === 'Dense' && (layer.input as { shape: unknown[] }).shape.length !== 2) return null;
    const settings = isConv ? this.context.convSettings(layer) : null;
    if (settings && (settings.dataFormat === 'channelsFirst' || Array.isArray(settings.padding))) return null;
    const own = ownActivation(this.context.activationName(layer));
    if (!own) return null;
    const [kernel, bias] = layer.getWeights() as [Tensor, Tensor1D | undefined];
    const fusion: Fusion = {
      kind: kind === 'Conv2D' ? 'conv2d' : kind === 'Dense' ? 'dense' : 'depthwise',
      filter: kernel,
      bias: bias ?? null,
      activation: own.activation,
      absorbed: [],
      folded: null,
      gradientKernel: null,
    };
    let last = step;
    if (own.activation === 'linear' && isConv) {
      const next = soleConsumer(last);
      if (next?.layer.getClassName() === 'BatchNormalization' && this.context.batchNorm(next.layer)) {
        fusion.folded = next;
        this.fold(step, fusion);
        fusion.absorbed.push(next);
        last = next;
      }
    }
    if (fusion.activation === 'linear') {
      const next = soleConsumer(last);
      const rectifier = next ? standaloneActivation(next.layer, this.context) : null;
      if (next && rectifier && rectifier.activation !== 'linear') {
        fusion.activation = rectifier.activation;
        fusion.leakyAlpha = rectifier.alpha;
        fusion.absorbed.push(next);
      }
    }
    // Nothing to gain from a lone convolution with no bias, norm or rectifier to fuse.
    if (!fusion.absorbed.length && !fusion.bias && fusion.activation === 'linear') {
      if (fusion.folded) tf.dispose([fusion.filter, ...(fusion.bias ? [fusion.bias] : [])]);
      return null;
    }
    if (settings && fusion.kind !== 'dense' && this.inputOnlyApplies(fusion, settings))
      fusion.gradientKernel = tf.keep(gradientKernelOf(fusion.kind, fusion.filter as Tensor4D));
    return fusion;
  }

  private inputOnlyApplies(fusion: Fusion, { strides, dilationRate }: ConvSettings): boolean {
    const multiplier = fusion.kind === 'depthwise' ? (fusion.filter.shape[3] as number) : 1;
    return multiplier === 1 && dilationRate[0] === 1 && dilationRate[1] === 1 && strides[0] === strides[1];
  }

  /** In a differentiable run only fusions with an input-only gradient apply; the others run layer by layer. */
  private active(fusion: Fusion | undefined, differentiable: boolean): fusion is Fusion {
    return !!fusion && (!differentiable || fusion.gradientKernel !== null);
  }

  /** Rescales the convolution's current kernel and bias by its batch norm (at load, and after weights change). */
  private fold(step: PlanStep, fusion: Fusion): void {
    const { scale, shift } = this.context.batchNorm(fusion.folded!.layer)!;
    const [kernel, bias] = step.layer.getWeights() as [Tensor, Tensor1D | undefined];
    fusion.filter = tf.keep(
      tf.tidy(() =>
        kernel.mul(fusion.kind === 'depthwise' ? scale.reshape([1, 1, kernel.shape[2] as number, kernel.shape[3] as number]) : scale),
      ),
    );
    fusion.bias = tf.keep(tf.tidy(() => (bias ? (bias.mul(scale).add(shift) as Tensor1D) : shift.clone())));
  }

  /** A layer's weights were replaced (the randomisation check): fold them again. */
  refresh(layer: Layer): void {
    for (const [step, fusion] of this.fusions) {
      if (step.layer !== layer) continue;
      if (fusion.folded) {
        tf.dispose([fusion.filter, ...(fusion.bias ? [fusion.bias] : [])]);
        this.fold(step, fusion);
      }
      // Unfolded fusions read the layer's own (updated) kernel, but their gradient kernel is a copy.
      if (fusion.gradientKernel) {
        fusion.gradientKernel.dispose();
        fusion.gradientKernel = tf.keep(gradientKernelOf(fusion.kind as 'conv2d' | 'depthwise', fusion.filter as Tensor4D));
      }
    }
  }

  /**
   * How the plan can run now: forward-only, differentiable (wasm, where its input-only gradients pay),
   * or not at all (a gradient on another backend: their own kernels are faster than zero insertion).
   */
  static mode(recording: boolean): 'forward' | 'differentiable' | null {
    if (!recording) return 'forward';
    return inputOnlyGradients() ? 'differentiable' : null;
  }

  /** True when a run in this mode yields this tensor (so a layer there can be read from it). */
  produces(tensorId: number, differentiable: boolean): boolean {
    return !this.active(this.skipped.get(tensorId), differentiable);
  }

  /** True for steps a fused step already computed. */
  absorbs(step: PlanStep, differentiable: boolean): boolean {
    return this.active(this.owner.get(step), differentiable);
  }

  /** The step's output (of its last absorbed step), or null when the step is not fused in this mode. */
  apply(step: PlanStep, input: Tensor, differentiable: boolean): { id: number; value: Tensor } | null {
    const fusion = this.fusions.get(step);
    if (!this.active(fusion, differentiable)) return null;
    const id = (fusion.absorbed[fusion.absorbed.length - 1] ?? step).outputIds[0];
    const common = { bias: fusion.bias ?? undefined, activation: fusion.activation, leakyreluAlpha: fusion.leakyAlpha };
    if (fusion.kind === 'dense') return { id, value: tf.fused.matMul({ a: input as Tensor2D, b: fusion.filter as Tensor2D, ...common }) };
    const { strides, padding, dilationRate } = this.context.convSettings(step.layer);
    const run = (x: Tensor4D) => {
      const args = { x, filter: fusion.filter as Tensor4D, strides, pad: padding as 'same' | 'valid', dilations: dilationRate, ...common };
      return fusion.kind === 'conv2d' ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args);
    };
    if (!differentiable) return { id, value: run(input as Tensor4D) };
    const rectifier = { activation: fusion.activation, alpha: fusion.leakyAlpha };
    return { id, value: fusedInputOnlyGradient(fusion.kind, input as Tensor4D, fusion.gradientKernel!, strides, padding, rectifier, run) };
  }

  /** Kernels, biases and gradient kernels made at load (the layers' own weights are not among them). */
  ownedTensors(): Tensor[] {
    return [...this.fusions.values()].flatMap((f) => [
      ...(f.folded ? [f.filter, ...(f.bias ? [f.bias] : [])] : []),
      ...(f.gradientKernel ? [f.gradientKernel] : []),
    ]);
  }

  dispose(): void {
    tf.dispose(this.ownedTensors());
    this.fusions.clear();
  }
}
