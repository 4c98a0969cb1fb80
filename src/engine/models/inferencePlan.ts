/**
 * The forward-only copy of a layers model, for passes no gradient goes through (predictions, Score-CAM,
 * Ablation-CAM, deletion/insertion): each convolution absorbs the BatchNormalization after it (kernel and
 * bias rescaled once, at load) and its rectifier, and runs as one tfjs fused op. On wasm this halves a
 * MobileNet forward pass (`npm run bench:pytorch`). Gradients never take this path: tfjs's fused ops
 * also ask for weight gradients, which wasm cannot compute, and intermediate outputs are skipped.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { tf } from '../tf';
import type { Padding } from './inputGradOps';

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
  private readonly absorbed = new Set<PlanStep>();
  /** Outputs a fused step computes past without producing (a convolution's before its batch norm, …). */
  private readonly skipped = new Set<number>();

  constructor(
    steps: PlanStep[],
    private readonly context: PlanContext,
  ) {
    const consumers = new Map<number, PlanStep[]>();
    for (const step of steps) for (const id of step.inputIds) consumers.set(id, [...(consumers.get(id) ?? []), step]);
    const soleConsumer = (step: PlanStep): PlanStep | null => {
      const id = step.outputIds[0];
      const users = consumers.get(id) ?? [];
      return users.length === 1 && !context.keep.has(id) ? users[0] : null;
    };
    for (const step of steps) {
      const fusion = this.fuse(step, soleConsumer);
      if (!fusion) continue;
      this.fusions.set(step, fusion);
      fusion.absorbed.forEach((s) => this.absorbed.add(s));
      [step, ...fusion.absorbed].slice(0, -1).forEach((s) => s.outputIds.forEach((id) => this.skipped.add(id)));
    }
  }

  private fuse(step: PlanStep, soleConsumer: (step: PlanStep) => PlanStep | null): Fusion | null {
    const { layer } = step;
    const kind = layer.getClassName();
    const isConv = kind === 'Conv2D' || kind === 'DepthwiseConv2D';
    if (!isConv && kind !== 'Dense') return null;
    if (isConv && this.context.convSettings(layer).dataFormat === 'channelsFirst') return null;
    const own = ownActivation(this.context.activationName(layer));
    if (!own) return null;
    const [kernel, bias] = layer.getWeights() as [Tensor, Tensor1D | undefined];
    const fusion: Fusion = { kind: kind === 'Conv2D' ? 'conv2d' : kind === 'Dense' ? 'dense' : 'depthwise', filter: kernel, bias: bias ?? null, activation: own.activation, absorbed: [], folded: null };
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
    return fusion.absorbed.length || fusion.bias || fusion.activation !== 'linear' ? fusion : null;
  }

  /** Rescales the convolution's current kernel and bias by its batch norm (at load, and after weights change). */
  private fold(step: PlanStep, fusion: Fusion): void {
    const { scale, shift } = this.context.batchNorm(fusion.folded!.layer)!;
    const [kernel, bias] = step.layer.getWeights() as [Tensor, Tensor1D | undefined];
    fusion.filter = tf.keep(tf.tidy(() => kernel.mul(fusion.kind === 'depthwise' ? scale.reshape([1, 1, kernel.shape[2] as number, kernel.shape[3] as number]) : scale)));
    fusion.bias = tf.keep(tf.tidy(() => (bias ? (bias.mul(scale).add(shift) as Tensor1D) : shift.clone())));
  }

  /** A layer's weights were replaced (the randomisation check): fold them again. */
  refresh(layer: Layer): void {
    for (const [step, fusion] of this.fusions) {
      if (step.layer !== layer || !fusion.folded) continue;
      tf.dispose([fusion.filter, ...(fusion.bias ? [fusion.bias] : [])]);
      this.fold(step, fusion);
    }
  }

  /** True when running the plan yields this tensor (so a layer there can be read from a fused run). */
  produces(tensorId: number): boolean {
    return !this.skipped.has(tensorId);
  }

  /** True for steps a fused step already computed. */
  absorbs(step: PlanStep): boolean {
    return this.absorbed.has(step);
  }

  /** The step's output (of its last absorbed step), or null when the step is not fused. */
  apply(step: PlanStep, input: Tensor): { id: number; value: Tensor } | null {
    const fusion = this.fusions.get(step);
    if (!fusion) return null;
    const id = (fusion.absorbed[fusion.absorbed.length - 1] ?? step).outputIds[0];
    const common = { bias: fusion.bias ?? undefined, activation: fusion.activation, leakyreluAlpha: fusion.leakyAlpha };
    if (fusion.kind === 'dense') {
      if (input.rank !== 2) return null;
      return { id, value: tf.fused.matMul({ a: input as Tensor2D, b: fusion.filter as Tensor2D, ...common }) };
    }
    const { strides, padding, dilationRate } = this.context.convSettings(step.layer);
    // Keras layers pad 'same' or 'valid'; explicit padding (not taken by fused depthwise) runs unfused.
    if (Array.isArray(padding)) return null;
    const args = { x: input as Tensor4D, filter: fusion.filter as Tensor4D, strides, pad: padding, dilations: dilationRate, ...common };
    return { id, value: fusion.kind === 'conv2d' ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args) };
  }

  /** Kernels and biases made at load (the layers' own weights are not among them). */
  ownedTensors(): Tensor[] {
    return [...this.fusions.values()].flatMap((f) => (f.folded ? [f.filter, ...(f.bias ? [f.bias] : [])] : []));
  }

  dispose(): void {
    tf.dispose(this.ownedTensors());
    this.fusions.clear();
  }
}

/** True while tfjs records a gradient tape: the forward-only plan must not be used then. */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}
