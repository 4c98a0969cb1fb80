/**
 * ONNX models (issue #8), run by CNN Lens's own executor on TF.js ops. The engine hands NHWC images and
 * reads NHWC activations; the graph is NCHW. An NCHW image input is fed as an NHWC-stored value (no
 * transpose), convolutions and pools run in NHWC, and a 4-D layer's output is handed out in NHWC — the
 * same [h, w, c] maps the TF.js adapters give.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { Acceleration } from '../../accel/ortRuntime';
import type { AcceleratedRuns } from '../../accel/recipes';
import { gaussian } from '../../random';
import { recordingGradients, tf } from '../../tfjs/tf';
import type { LayerInfo } from '../../types';
import {
  isCamCapableShape,
  type AttentionEvidence,
  type LayerBias,
  type AttentionLayout,
  type GapHead,
  type ModelAdapter,
  type SplitModel,
} from '../adapter';
import { ModelError } from '../../../files/modelFiles';
import type { ReluRule } from '../reluRules';
import { checkImageInput, chooseOutput, classCountOf, type AdapterOptions } from '../outputCheck';
import { firstNonFinite } from '../../finite';
import { OnnxFileAccelerator } from './onnxFileAccelerator';
import { findAttention, type AttentionSite } from './attention';
import { OnnxExecutor, type Step } from './executor';
import { findLayerViews, fromGrid, gridShape, toGrid, type LayerView } from './layerViews';
import type { OnnxModel, OnnxNode } from './onnxFile';
import { rectifierOf } from './ops/activation';
import { isGlobalAverage } from './ops/pool';
import { gathersSlice } from './ops/shape';
import { asNhwc, attr, logicalShape, nhwcValue, numbers, plain, plainValue, type Value } from './ops/types';

/** Bookkeeping nodes not worth listing as layers. */
const HIDDEN_OPS = new Set(['Shape', 'Cast', 'Identity', 'Dropout', 'Constant', 'ConstantOfShape']);
/** Nodes whose weights the randomisation check replaces. */
const WEIGHTED_OPS = new Set(['Conv', 'Gemm', 'MatMul']);
/** Ops that only reshape on the way from a pooled map to the classifier. */
const RESHAPES = new Set(['Flatten', 'Reshape', 'Squeeze', 'Identity', 'Dropout']);

interface Probe {
  shape: number[];
  dtype: string;
}

export class OnnxAdapter implements ModelAdapter {
  readonly format = 'onnx' as const;
  readonly supportsReluRules = true;
  readonly gradientsOnWasm: boolean;
  readonly hasLogits: boolean;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly layers: LayerInfo[];
  readonly preferredCamLayer: string | null = null;

  private readonly executor: OnnxExecutor;
  private readonly inputName: string;
  /** True when the graph's input is NCHW (the usual PyTorch export); false for NHWC inputs. */
  private readonly channelsFirst: boolean;
  private readonly scoreTensor: string;
  /** Layer name → the step (exact plan) whose first output is the layer's output. */
  private readonly layerSteps = new Map<string, Step>();
  /** Conv layers' kernels in HWIO (unfolded), for layerWeights. */
  private readonly kernels = new Map<string, Tensor4D>();
  private head: GapHead | null = null;
  /** How each float tensor lies on the image grid (feature maps, channels-last maps, token sequences). */
  private views = new Map<string, LayerView>();
  private attention: AttentionSite | null = null;
  /** The same graph on onnxruntime, where it is installed. */
  private accelerator: OnnxFileAccelerator | null = null;
  private runs: AcceleratedRuns | null = null;

  constructor(
    model: OnnxModel,
    private readonly file: string,
    acceleration: Acceleration,
    options: AdapterOptions = {},
  ) {
    if (model.inputs.length !== 1) {
      throw new ModelError(
        `${file} has ${model.inputs.length} inputs (${model.inputs.map((i) => i.name).join(', ')}); CNN Lens explains single-input image models.`,
      );
    }
    const input = model.inputs[0];
    const dims = input.dims;
    if (!dims || dims.length !== 4)
      throw new ModelError(
        `${file}: input "${input.name}" has shape ${JSON.stringify(dims)}; CNN Lens needs a 4-D image input [batch, channels, height, width].`,
      );
    const [, d1, d2, d3] = dims;
    this.channelsFirst = !(d3 !== null && d3 <= 4 && (d1 === null || d1 > 4));
    const [h, w, c] = this.channelsFirst ? [d2, d3, d1] : [d1, d2, d3];
    if (!h || !w || !c) {
      throw new ModelError(
        `${file}: input "${input.name}" has shape ${JSON.stringify(dims.map((d) => d ?? '?'))}; CNN Lens needs a fixed height, width and channel count (export with a fixed input size).`,
      );
    }
    this.inputShape = checkImageInput([h, w, c], `input "${input.name}"`, file);
    this.inputName = input.name;
    if (!model.outputs.length) throw new ModelError(`${file} declares no graph output.`);
    this.executor = new OnnxExecutor(model, file);
    try {
      const constants = [...this.executor.constants.entries()];
      const bad = firstNonFinite(constants.map(([, constant]) => constant.tensor));
      if (bad) {
        throw new ModelError(
          `${file}: weight "${constants[bad.index][0]}" holds ${bad.what}; a model with NaN or infinite weights gives meaningless scores, so CNN Lens does not load it.`,
        );
      }
      // Shape arithmetic that depends only on the (fixed) image size is computed here, once.
      this.executor.foldStaticShapes((batch) => new Map([[this.inputName, this.feed(tf.zeros([batch, ...this.inputShape]) as Tensor4D)]]));
      const probes = this.probe();
      // Shapes as run on one zero image, the batch axis shown open.
      const outputs = model.outputs.map(({ name }) => {
        const shape = probes.get(name)?.shape ?? [];
        return { name, shape: shape.length >= 2 ? [null, ...shape.slice(1)] : shape };
      });
      const where = { ...options, file };
      const chosen = chooseOutput(outputs, where);
      const outputName = model.outputs[chosen].name;
      if (!probes.has(outputName)) throw new ModelError(`${file}: output "${outputName}" is not produced by any node of the graph.`);
      this.numClasses = classCountOf(outputs[chosen], where, outputs.length);
      const last = this.executor.producerOf(outputName)?.node;
      // Score with logits: step back over a trailing Softmax.
      this.scoreTensor = last?.opType === 'Softmax' || last?.opType === 'LogSoftmax' ? last.inputs[0] : outputName;
      this.hasLogits = last?.opType !== 'Sigmoid';
      this.views = findLayerViews(this.executor.exact, probes, this.inputName, [h, w]);
      this.layers = this.listLayers(probes);
      this.attention = findAttention(this.executor.exact, probes, this.views);
      this.preferredCamLayer = this.attention?.camLayer ?? null;
      this.head = this.findGapHead();
      this.gradientsOnWasm = this.executor.exact.every((step) => this.gradientOnWasm(step, probes));
      const { channelsFirst, inputName, inputShape, numClasses, scoreTensor, executor } = this;
      const views = this.views;
      this.accelerator = new OnnxFileAccelerator(
        { model, executor, probes, views, inputName, channelsFirst, inputShape, numClasses, scoreTensor },
        acceleration,
      );
      this.runs = this.accelerator.runs((layer) => this.stepOf(layer).node.outputs[0]);
      for (const step of this.executor.exact) {
        if (step.node.opType === 'Conv' && step.prepared && this.layerSteps.has(step.node.name)) {
          const weight = this.executor.constants.get(step.node.inputs[1])!.tensor;
          this.kernels.set(
            step.node.name,
            tf.tidy(() => tf.transpose(weight, [2, 3, 1, 0]) as Tensor4D),
          );
        }
      }
    } catch (error) {
      this.dispose();
      if (error instanceof ModelError) throw error;
      throw new ModelError(`${file} could not be run: ${(error as Error).message}`);
    }
  }

  private feed(input: Tensor4D): Value {
    if (input.shape[3] !== this.inputShape[2])
      throw new Error(`The input has ${input.shape[3]} channels; the model expects ${this.inputShape[2]}.`);
    return this.channelsFirst ? nhwcValue(input) : plainValue(input);
  }

  /** Shapes and dtypes of every tensor for one zero image (ONNX files need not store them). */
  private probe(): Map<string, Probe> {
    const probes = new Map<string, Probe>();
    tf.tidy(() => {
      const values = new Map([[this.inputName, this.feed(tf.zeros([1, ...this.inputShape]) as Tensor4D)]]);
      this.executor.run(this.executor.exact, values);
      for (const [name, value] of values) probes.set(name, { shape: logicalShape(value), dtype: value.tensor.dtype });
    });
    return probes;
  }

  private listLayers(probes: Map<string, Probe>): LayerInfo[] {
    const layers: LayerInfo[] = [];
    for (const step of this.executor.exact) {
      const { node } = step;
      const probe = probes.get(node.outputs[0]);
      if (HIDDEN_OPS.has(node.opType) || !probe || probe.dtype !== 'float32') continue;
      const view = this.views.get(node.outputs[0]);
      const shape = view ? gridShape(view, probe.shape) : probe.shape.slice(1);
      // Learned weights only: settings given as inputs (Clip's bounds, Pad's value) are not parameters.
      const settingsOnly = node.opType === 'Clip' || node.opType === 'Pad';
      const constants = settingsOnly
        ? []
        : node.inputs.filter((name) => name && this.executor.constants.get(name)?.tensor.dtype === 'float32');
      const params = constants.reduce((sum, name) => sum + this.executor.constants.get(name)!.tensor.size, 0);
      const kernel = node.opType === 'Conv' && this.executor.constants.get(node.inputs[1])?.tensor.rank === 4;
      this.layerSteps.set(node.name, step);
      const layout = view ? layoutNote(view, probe.shape) : undefined;
      // Only tensors that lie on the image grid are targets (not the batch-folded windows and heads inside attention).
      const camCapable = !!view && isCamCapableShape(shape);
      layers.push({
        name: node.name,
        kind: node.opType,
        outputShape: shape,
        params,
        camCapable,
        hasKernel: kernel,
        ...(layout ? { layout } : {}),
      });
    }
    return layers;
  }

  /** Whether tf.grad through the step works on wasm (see inputGradOps; wasm lacks some gradient kernels). */
  private gradientOnWasm(step: Step, probes: Map<string, Probe>): boolean {
    const { node } = step;
    if (node.opType === 'Conv') {
      const dilated = (attr.ints(node, 'dilations') ?? [1, 1]).some((d) => d !== 1);
      const strides = attr.ints(node, 'strides') ?? [1, 1];
      const depthwise = step.prepared?.mode === 'depthwise';
      return !depthwise || (step.prepared!.filters[0].shape[3] === 1 && !dilated && strides[0] === strides[1]);
    }
    if (node.opType === 'Gather')
      return probes.get(node.inputs[0])?.dtype !== 'float32' || gathersSlice(this.executor.known(node.inputs[1]));
    if (node.opType === 'Pad') return attr.string(node, 'mode', 'constant') === 'constant';
    return true;
  }

  private stepOf(layer: string): Step {
    const step = this.layerSteps.get(layer);
    if (!step) throw new Error(`The model has no layer named "${layer}".`);
    return step;
  }

  private scoresOf(values: Map<string, Value>, batch: number): Tensor2D {
    const value = values.get(this.scoreTensor);
    if (!value) throw new Error('The model did not produce class scores.');
    return plain(value).reshape([batch, -1]) as Tensor2D;
  }

  private spatial(value: Value | undefined, layer: string, tensor: string): Tensor4D {
    if (!value) throw new Error(`Layer "${layer}" produced no output.`);
    const view = this.views.get(tensor);
    if (view) return toGrid(value, view);
    if (value.tensor.rank !== 4)
      throw new Error(
        `Layer "${layer}" has a ${value.tensor.rank}-D output that does not lie on the image grid; a spatial layer (feature maps or patch tokens) is needed.`,
      );
    return asNhwc(value, layer);
  }

  scores(input: Tensor4D, rule: ReluRule | null = null): Tensor2D {
    const fast = this.accelerator?.output(input, 'scores', rule, recordingGradients());
    if (fast) return fast as Tensor2D;
    return tf.tidy(() => {
      const values = new Map([[this.inputName, this.feed(input)]]);
      this.executor.run(this.executor.plan([this.scoreTensor]), values, rule);
      return this.scoresOf(values, input.shape[0]);
    });
  }

  /** The rectifier's input when `layer` is a rectifier node (Relu, LeakyRelu, Clip as ReLU6). */
  private beforeRectifier(node: OnnxNode): string | null {
    const inputs = node.inputs.map((name) => (name ? this.executor.constants.get(name) : undefined));
    return rectifierOf(node, inputs, this.executor.opset) ? node.inputs[0] : null;
  }

  layerOutput(input: Tensor4D, layer: string, rule: ReluRule | null = null, beforeRectifier = false): Tensor4D {
    const { node } = this.stepOf(layer);
    const target = (beforeRectifier && this.beforeRectifier(node)) || node.outputs[0];
    const fast = this.accelerator?.output(input, target, rule, recordingGradients());
    if (fast && fast.rank === 4) return fast as Tensor4D;
    tf.dispose(fast ?? []);
    return tf.tidy(() => {
      const values = new Map([[this.inputName, this.feed(input)]]);
      this.executor.run(this.executor.plan([target]), values, rule);
      return this.spatial(values.get(target), layer, target);
    });
  }

  accelerated(): AcceleratedRuns | null {
    return recordingGradients() ? null : this.runs;
  }

  split(input: Tensor4D, layer: string): SplitModel {
    const target = this.stepOf(layer).node.outputs[0];
    const plan = this.executor.plan([this.scoreTensor, target]);
    if (!plan.some((step) => step.outputs.includes(target))) throw new Error(`Layer "${layer}" does not lead to the model's class scores.`);
    const downstream = this.executor.downstreamOf(target, plan);
    if (!downstream.length && target !== this.scoreTensor) throw new Error(`Layer "${layer}" does not lead to the model's class scores.`);
    const values = this.valuesForHead(input, plan, target, downstream);
    const activations = this.spatial(values.get(target), layer, target);
    const view = this.views.get(target);
    const original = values.get(target)!;
    const head = (replaced: Tensor4D): Tensor2D => {
      const rerun = new Map(values);
      downstream.forEach((step) => step.outputs.forEach((name) => rerun.delete(name)));
      rerun.set(target, view ? fromGrid(replaced, view, original) : nhwcValue(replaced));
      this.executor.run(downstream, rerun);
      return this.scoresOf(rerun, replaced.shape[0]);
    };
    return { activations, scores: this.scoresOf(values, input.shape[0]), head };
  }

  /**
   * What the head after `target` reads: the target, the scores and every other tensor the downstream steps take
   * from before it (skip connections). From one onnxruntime run where the model has one (the forward pass is
   * most of a split's cost), else by running the plan on TF.js.
   */
  private valuesForHead(input: Tensor4D, plan: Step[], target: string, downstream: Step[]): Map<string, Value> {
    const produced = new Set(downstream.flatMap((step) => step.outputs));
    const read = new Set(
      downstream.flatMap((step) => step.inputs).filter((name) => name && !produced.has(name) && !this.executor.known(name)),
    );
    read.delete(this.inputName);
    const wanted = [...new Set([target, this.scoreTensor, ...read])];
    const fast = this.accelerated() && this.accelerator?.rawTensors(input, wanted, null);
    if (fast)
      return new Map<string, Value>([
        [this.inputName, this.feed(input)],
        ...wanted.map((name, i) => [name, plainValue(fast.values[i])] as const),
      ]);
    const values = new Map([[this.inputName, this.feed(input)]]);
    this.executor.run(plan, values);
    return values;
  }

  gapHead(): GapHead | null {
    return this.head;
  }

  attentionLayout(): AttentionLayout | null {
    return this.attention?.layout ?? null;
  }

  readAttention(input: Tensor4D, classIndex: number | null): AttentionEvidence {
    if (!this.attention) throw new Error('The model has no global self-attention (a ViT-family encoder) to read.');
    const { tensors, layout } = this.attention;
    const n = input.shape[0];
    const tokens = layout.special + layout.grid[0] * layout.grid[1];
    const asBlocks = (t: Tensor) => t.reshape([n, layout.heads, tokens, tokens]) as Tensor4D;
    const fast = this.accelerated() && this.accelerator?.rawTensors(input, tensors, classIndex);
    if (fast) return { probabilities: fast.values.map(asBlocks), gradients: fast.gradients?.map(asBlocks) ?? null };
    const values = new Map([[this.inputName, this.feed(input)]]);
    this.executor.run(this.executor.plan(tensors), values);
    const probabilities = tensors.map((name) => plain(values.get(name)!));
    if (classIndex === null) return { probabilities: probabilities.map(asBlocks), gradients: null };
    // A zero added to each block's probabilities as the graph runs: its gradient is the class score's total
    // derivative at that node, through the later blocks' attention too (as autograd's retained grad is).
    const plan = this.executor.plan([this.scoreTensor]);
    const segments = splitAfter(plan, tensors);
    const classScore = (...zeros: Tensor[]) => {
      const rerun = new Map([[this.inputName, this.feed(input)]]);
      segments.forEach((segment, i) => {
        this.executor.run(segment, rerun);
        if (i < tensors.length) rerun.set(tensors[i], plainValue(plain(rerun.get(tensors[i])!).add(zeros[i])));
      });
      return tf.sum(this.scoresOf(rerun, n).slice([0, classIndex], [-1, 1]));
    };
    const gradients = tf.grads(classScore)(probabilities.map((p) => tf.zerosLike(p)));
    return { probabilities: probabilities.map(asBlocks), gradients: gradients.map(asBlocks) };
  }

  /** GlobalAveragePool (or ReduceMean over H, W) → reshapes → Gemm with constant weights; made once, at load. */
  private findGapHead(): GapHead | null {
    const gemm = this.executor.producerOf(this.scoreTensor)?.node;
    if (!gemm || gemm.opType !== 'Gemm' || attr.int(gemm, 'transA', 0) !== 0) return null;
    const b = this.executor.constants.get(gemm.inputs[1])?.tensor;
    const c = gemm.inputs[2] ? this.executor.constants.get(gemm.inputs[2])?.tensor : null;
    if (!b || b.rank !== 2 || c === undefined) return null;
    let tensor = gemm.inputs[0];
    let pool = this.executor.producerOf(tensor)?.node;
    while (pool && RESHAPES.has(pool.opType)) {
      tensor = pool.inputs[0];
      pool = this.executor.producerOf(tensor)?.node;
    }
    const axes = pool?.opType === 'ReduceMean' ? numbers(this.executor.constants.get(pool.inputs[1] ?? '')) : null;
    if (!pool || !isGlobalAverage(pool, axes)) return null;
    const pooled = this.executor.producerOf(pool.inputs[0])?.node;
    if (!pooled || !this.layerSteps.has(pooled.name)) return null;
    const transB = attr.int(gemm, 'transB', 0) === 1;
    if ((transB ? b.shape[0] : b.shape[1]) !== this.numClasses || (c && c.size !== this.numClasses)) return null;
    const alpha = attr.float(gemm, 'alpha', 1);
    const beta = attr.float(gemm, 'beta', 1);
    const weights = tf.tidy(() => (transB ? b.transpose() : b).mul(alpha) as Tensor2D);
    const bias = c ? tf.tidy(() => c.mul(beta).reshape([-1]) as Tensor1D) : null;
    return { layer: pooled.name, weights, bias };
  }

  layerWeights(layer: string): Tensor[] {
    const { node } = this.stepOf(layer);
    const kernel = this.kernels.get(layer);
    if (kernel) {
      const bias = node.inputs[2] ? this.executor.constants.get(node.inputs[2])?.tensor : undefined;
      return bias ? [kernel, bias] : [kernel];
    }
    return node.inputs.flatMap((name) => {
      const t = name ? this.executor.constants.get(name)?.tensor : undefined;
      return t && t.dtype === 'float32' ? [t] : [];
    });
  }

  layerBias(layer: string): LayerBias | null {
    const { node } = this.stepOf(layer);
    const constant = (i: number) => (node.inputs[i] ? this.executor.constants.get(node.inputs[i])?.tensor : undefined);
    if (node.opType === 'Conv' || node.opType === 'ConvTranspose') {
      const bias = constant(2);
      return bias ? { bias: bias.clone() as Tensor1D, rectifiedBelow: null } : null;
    }
    if (node.opType !== 'BatchNormalization') return null;
    const [scale, shift, mean, variance] = [1, 2, 3, 4].map(constant);
    if (!scale || !shift || !mean || !variance) return null;
    const epsilon = Number(node.attributes.get('epsilon') ?? 1e-5);
    const bias = tf.tidy(() => shift.sub(mean.mul(scale).mul(tf.rsqrt(variance.add(epsilon)))) as Tensor1D);
    return { bias, rectifiedBelow: null };
  }

  weightedLayers(): string[] {
    return this.executor
      .plan([this.scoreTensor], true)
      .filter((step) => WEIGHTED_OPS.has(step.node.opType) && this.layerSteps.has(step.node.name) && this.weightNames(step.node).length > 0)
      .map((step) => step.node.name)
      .reverse();
  }

  /** The constant float weights (and bias) a layer node reads. */
  private weightNames(node: OnnxNode): string[] {
    return node.inputs.slice(1, 3).filter((name) => name && this.executor.constants.get(name)?.tensor.dtype === 'float32');
  }

  async withRandomWeights<T>(names: string[], seed: number, run: () => Promise<T>): Promise<T> {
    const replacements = new Map<string, Tensor>();
    names.forEach((layer, i) => {
      this.weightNames(this.stepOf(layer).node).forEach((name, j) => {
        const original = this.executor.constants.get(name)!.tensor;
        const random = tf.tidy(() => {
          const { mean, variance } = tf.moments(original);
          const spread = Math.sqrt(variance.dataSync()[0]) || 0.05;
          return gaussian(original.shape, mean.dataSync()[0], spread, seed + 101 * i + j);
        });
        replacements.set(name, tf.keep(random));
      });
    });
    const originals = this.executor.replaceConstants(replacements);
    // Sessions hold the weights they were exported with: export again with the random ones, and after.
    this.accelerator?.invalidate();
    try {
      return await run();
    } finally {
      this.executor.replaceConstants(originals);
      tf.dispose([...replacements.values()]);
      this.accelerator?.invalidate();
    }
  }

  firstNonFiniteLayer(input: Tensor4D): string | null {
    let found: string | null = null;
    tf.tidy(() => {
      const values = new Map([[this.inputName, this.feed(input)]]);
      const plan = this.executor.plan([this.scoreTensor], true);
      this.executor.run(plan, values);
      const named = plan.flatMap((step) => {
        const value = values.get(step.node.outputs[0]);
        return value ? [{ name: step.node.name, tensor: value.tensor }] : [];
      });
      const bad = firstNonFinite(named.map(({ tensor }) => tensor));
      found = bad ? named[bad.index].name : null;
    });
    return found;
  }

  ownedTensors(): Tensor[] {
    const head = this.head ? [this.head.weights, ...(this.head.bias ? [this.head.bias] : [])] : [];
    return [...this.executor.ownedTensors(), ...this.kernels.values(), ...head];
  }

  dispose(): void {
    this.accelerator?.dispose();
    this.executor?.dispose();
    tf.dispose([...this.kernels.values()]);
    this.kernels.clear();
    if (this.head) tf.dispose([this.head.weights, ...(this.head.bias ? [this.head.bias] : [])]);
    this.head = null;
  }
}

/** The layer list's note on how a non-NCHW output becomes its grid. */
function layoutNote(view: LayerView, shape: number[]): string | undefined {
  if (view.kind === 'nchw') return undefined;
  if (view.kind === 'channels-last') return 'channels-last [height, width, channels]';
  const [rows, columns] = view.grid;
  const special = view.special ? `${view.special} special + ` : '';
  return `${shape[1]} tokens: ${special}${rows}×${columns} patches`;
}

/** The plan cut after each step writing one of `tensors` (in order): len(tensors) + 1 segments. */
function splitAfter(plan: Step[], tensors: string[]): Step[][] {
  const segments: Step[][] = [[]];
  let next = 0;
  for (const step of plan) {
    segments[segments.length - 1].push(step);
    if (next < tensors.length && step.outputs.includes(tensors[next])) {
      segments.push([]);
      next++;
    }
  }
  if (next < tensors.length) throw new Error(`The attention output "${tensors[next]}" is not on the way to the class scores.`);
  return segments;
}
