/**
 * Runs an ONNX graph with TF.js ops, node by node in topological order, keeping every output by tensor
 * name: any node can be a target, the graph can be run from a replaced intermediate tensor to the
 * outputs (Grad-CAM's head), and everything stays differentiable (tf.grad through `run`).
 *
 * Two plans share the nodes: `fast` folds each BatchNormalization into the Conv before it (weights
 * prepared once, at load) and is used for the scores; `exact` runs every node as written and is used
 * when a target is a convolution whose output the fast plan never computes.
 *
 * Nodes whose outputs depend on constants only are computed once, at load (`folded`), and so, after
 * `foldStaticShapes`, are those that read the input only through its static dimensions: the Shape →
 * Gather → Unsqueeze → Concat → Reshape arithmetic exporters write (Swin-T: ~2,000 nodes, its attention
 * masks included). The batch dimension stays open: what is derived from it is computed every run.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../tfjs/tf';
import type { ReluRule } from '../reluRules';
import { ModelError } from '../../../files/modelFiles';
import type { OnnxModel, OnnxNode } from './onnxFile';
import { OPS, isSupported } from './ops';
import { batchNormAffine, convWeightTensors, prepareConv, prepareConvTranspose, type ConvWeights } from './ops/conv';
import { attr, logicalShape, numbers, plain, plainValue, tensorOf, type OpFn, type Value } from './ops/types';

export interface Step {
  /** The node run (the Conv of a folded Conv + BatchNormalization pair). */
  node: OnnxNode;
  op: OpFn;
  inputs: string[];
  /** Tensor names written; a folded pair writes the BatchNormalization's output. */
  outputs: string[];
  prepared: ConvWeights | null;
  /** Gemm with a constant B and transB: B transposed once, at load (wasm multiplies by a transposed matrix ~10× slower). */
  weight: Tensor | null;
  /** The BatchNormalization folded into this Conv, if any. */
  folded: OnnxNode | null;
}

/** Every op type the file uses that CNN Lens cannot run, each once, in order of first use. */
export function unsupportedOps(model: OnnxModel): string[] {
  const missing = model.nodes
    .filter((n) => !isSupported(n.opType, n.domain))
    .map((n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType));
  return [...new Set(missing)];
}

/** Kahn's order; ONNX requires sorted nodes, but not every exporter complies. */
function topological(model: OnnxModel, available: Set<string>, file: string): OnnxNode[] {
  const known = new Set(available);
  const pending = [...model.nodes];
  const order: OnnxNode[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length;) {
      const node = pending[i];
      if (node.inputs.every((name) => !name || known.has(name))) {
        order.push(node);
        node.outputs.forEach((name) => name && known.add(name));
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const node = pending[0];
      const missing = node.inputs.filter((name) => name && !known.has(name));
      throw new ModelError(
        `${file}: node "${node.name}" (${node.opType}) reads ${missing.map((m) => `"${m}"`).join(', ')}, which no node, input or initializer provides (or the graph has a cycle).`,
      );
    }
  }
  return order;
}

/** Ops that move elements without combining them: a mask of batch-dependent elements moves with them. */
const MOVERS: Record<string, number[]> = {
  Gather: [0],
  Slice: [0],
  Reshape: [0],
  Unsqueeze: [0],
  Squeeze: [0],
  Flatten: [0],
  Transpose: [0],
  Expand: [0],
  Tile: [0],
  Split: [0],
};
/** Element-wise ops: an output element depends on the batch where a broadcast input element does. */
const ELEMENTWISE = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Mod',
  'Neg',
  'Abs',
  'Sqrt',
  'Floor',
  'Ceil',
  'Equal',
  'Greater',
  'Less',
  'GreaterOrEqual',
  'LessOrEqual',
  'And',
  'Or',
  'Xor',
  'Not',
  'Where',
  'Identity',
  'Cast',
  'Dropout',
  'Clip',
  'Max',
  'Min',
]);

/** Ops whose second output is optional and costs work (a mask, argmax indices). */
const UNREAD_SECOND_OUTPUT = new Set(['Dropout', 'MaxPool']);

/** Which elements of a shape-derived value depend on the batch size: none, all, or those marked 1. */
type Mask = null | 'all' | Tensor;

export class OnnxExecutor {
  readonly opset: number;
  /** Initializers and Constant-node outputs, made once. */
  readonly constants = new Map<string, Value>();
  /** Outputs of nodes computed at load, from constants (and static shapes after foldStaticShapes). */
  readonly folded = new Map<string, Value>();
  fast: Step[];
  exact: Step[];
  /** Tensors the fast plan does not compute (outputs of Convs with a folded BatchNormalization). */
  readonly foldedAway = new Set<string>();
  private readonly producers = new Map<string, Step>();
  /** Nodes computed at load, in order: re-run when replaceConstants changes what they read. */
  private readonly foldedNodes: OnnxNode[] = [];
  private readonly graphOutputs: Set<string>;

  /** foldConstants: false leaves every node to run (for comparisons); foldBatchNorm: false keeps BatchNormalization apart. */
  constructor(model: OnnxModel, file: string, options: { foldBatchNorm?: boolean; foldConstants?: boolean } = {}) {
    const missing = unsupportedOps(model);
    if (missing.length) {
      throw new ModelError(`${file} uses ONNX op${missing.length > 1 ? 's' : ''} CNN Lens does not support yet: ${missing.join(', ')}.`);
    }
    this.opset = model.opset;
    this.graphOutputs = new Set(model.outputs.map((o) => o.name));
    try {
      for (const t of model.initializers) this.constants.set(t.name, plainValue(tensorOf(t)));
      const feeds = new Set([...model.inputs.map((i) => i.name), ...this.constants.keys()]);
      // Second outputs nobody reads (Dropout's mask, MaxPool's indices) are left uncomputed.
      const read = new Set([...model.nodes.flatMap((n) => n.inputs), ...model.outputs.map((o) => o.name)]);
      const order = topological(model, feeds, file).map((node) =>
        UNREAD_SECOND_OUTPUT.has(node.opType) && node.outputs[1] && !read.has(node.outputs[1])
          ? { ...node, outputs: [node.outputs[0], '', ...node.outputs.slice(2)] }
          : node,
      );
      const runnable: OnnxNode[] = [];
      for (const node of order) {
        if (node.opType === 'Constant') {
          const [value] = OPS.Constant([], node, { opset: this.opset, rule: null, prepared: null });
          this.constants.set(node.outputs[0], value!);
        } else if (options.foldConstants === false || !this.foldConstant(node)) runnable.push(node);
      }
      this.exact = runnable.map((node) => this.step(node, null));
      this.fast = options.foldBatchNorm === false ? this.exact : this.foldBatchNorms(runnable, model);
      for (const step of this.exact) step.outputs.forEach((name) => this.producers.set(name, step));
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  private isConstant(name: string): boolean {
    return !name || this.constants.has(name);
  }

  /** A constant, or a value folded at load. */
  known(name: string): Value | undefined {
    return this.constants.get(name) ?? this.folded.get(name);
  }

  /** The node's outputs from its inputs, all known: kept, outside any scope (clones where an op hands an input back). */
  private evaluate(node: OnnxNode): (Value | undefined)[] {
    const flags: (boolean | null)[] = [];
    const tensors = tf.tidy(() => {
      const inputs = node.inputs.map((name) => (name ? this.known(name) : undefined));
      const outputs = OPS[node.opType](inputs, node, { opset: this.opset, rule: null, prepared: null });
      return node.outputs.map((name, i) => {
        const value = outputs[i];
        flags.push(name && value ? value.nhwc : null);
        if (!name || !value) return tf.scalar(0);
        return inputs.some((input) => input?.tensor === value.tensor) ? value.tensor.clone() : value.tensor;
      });
    });
    return tensors.map((tensor, i) => {
      if (flags[i] === null) {
        tensor.dispose();
        return undefined;
      }
      return { tensor: tf.keep(tensor), nhwc: flags[i]! };
    });
  }

  /** Computes a node whose inputs are all constants or folded, once; false where it reads anything else (or fails: the run will say why). */
  private foldConstant(node: OnnxNode): boolean {
    if (node.outputs.some((name) => this.graphOutputs.has(name))) return false;
    if (!node.inputs.every((name) => !name || this.known(name))) return false;
    let outputs: (Value | undefined)[];
    try {
      outputs = this.evaluate(node);
    } catch {
      return false;
    }
    node.outputs.forEach((name, i) => name && outputs[i] && this.folded.set(name, outputs[i]!));
    this.foldedNodes.push(node);
    return true;
  }

  /**
   * Folds the nodes that read the input only through its static dimensions. `feed` makes the graph's
   * inputs for a batch of a given size; the graph runs at batch sizes 2 and 1 and a dimension that
   * differs between the two is the batch's. Which elements of each shape value depend on it is traced
   * element by element through the ops that move elements (Gather, Slice, Concat, Reshape, …) and
   * element-wise arithmetic; every other op with such an input is computed every run. Returns the number
   * of nodes folded.
   */
  foldStaticShapes(feed: (batch: number) => Map<string, Value>): number {
    // Candidates: steps that read no pixel value, only constants, folded values, shapes and each other.
    const candidates: Step[] = [];
    const shapeOf = new Set<string>();
    const derived = new Set<string>();
    for (const step of this.exact) {
      const isShape = step.node.opType === 'Shape' || step.node.opType === 'Size';
      if (isShape || step.inputs.every((name) => !name || this.known(name) || derived.has(name))) {
        if (step.outputs.some((name) => this.graphOutputs.has(name))) continue;
        candidates.push(step);
        step.outputs.forEach((name) => name && derived.add(name));
        if (isShape) shapeOf.add(step.outputs[0]);
      }
    }
    if (!candidates.length) return 0;
    const wanted = candidates.flatMap((step) => step.outputs.filter(Boolean));
    // The shapes at batch 2, read on the host.
    const atTwo = new Map<string, number[]>();
    try {
      tf.tidy(() => {
        const values = feed(2);
        this.run(this.plan([...shapeOf]), values);
        for (const name of shapeOf) atTwo.set(name, [...(numbers(values.get(name)) ?? [])]);
      });
    } catch {
      return 0; // a graph that cannot run two images at once keeps computing its shapes
    }
    const folded = new Set<Step>();
    tf.tidy(() => {
      const values = feed(1);
      this.run(this.plan(wanted), values);
      const masks = new Map<string, Mask>();
      for (const step of candidates) {
        const outputs = this.maskOutputs(step, values, masks, atTwo);
        step.outputs.forEach((name, i) => name && masks.set(name, outputs[i] === undefined ? 'all' : outputs[i]));
        if (outputs.every((m) => m === null)) folded.add(step);
      }
      // In graph order, after the constants folded at load: a valid order to re-fold them in.
      for (const step of candidates.filter((c) => folded.has(c))) {
        step.outputs.forEach((name) => {
          const value = name ? values.get(name) : undefined;
          if (name && value) this.folded.set(name, { tensor: tf.keep(value.tensor.clone()), nhwc: value.nhwc });
        });
        this.foldedNodes.push(step.node);
      }
    });
    this.exact = this.exact.filter((step) => !folded.has(step));
    this.fast = this.fast.filter((step) => !folded.has(step));
    for (const step of folded) step.outputs.forEach((name) => this.producers.delete(name));
    return folded.size;
  }

  /** The batch-dependence masks of a candidate step's outputs (null: none depends on it). */
  private maskOutputs(step: Step, values: Map<string, Value>, masks: Map<string, Mask>, atTwo: Map<string, number[]>): Mask[] {
    const { node } = step;
    const valueOf = (name: string) => values.get(name) ?? this.known(name);
    if (node.opType === 'Shape' || node.opType === 'Size') {
      const one = numbers(valueOf(step.outputs[0])) ?? [];
      const two = atTwo.get(step.outputs[0]) ?? [];
      const differs = one.map((d, i) => (d === two[i] ? 0 : 1));
      if (!differs.some(Boolean)) return [null];
      return [node.opType === 'Size' ? 'all' : tf.tensor1d(differs)];
    }
    const inputMasks = step.inputs.map((name) => (name ? (masks.get(name) ?? null) : null));
    if (inputMasks.every((m) => m === null)) return step.outputs.map(() => null);
    const asTensor = (mask: Mask, name: string): Tensor => {
      const shape = logicalShape(valueOf(name)!);
      return mask === null ? tf.zeros(shape) : mask === 'all' ? tf.ones(shape) : mask;
    };
    const clean = (mask: Tensor): Mask => (mask.max().dataSync()[0] > 0 ? mask : null);
    const movedData = MOVERS[node.opType];
    if (movedData && inputMasks.every((m, i) => m === null || movedData.includes(i))) {
      const inputs = step.inputs.map((name, i) =>
        !name ? undefined : movedData.includes(i) ? plainValue(asTensor(inputMasks[i], name)) : valueOf(name),
      );
      return OPS[node.opType](inputs, node, { opset: this.opset, rule: null, prepared: null }).map((v) =>
        v ? clean(plain(v).toFloat()) : 'all',
      );
    }
    if (node.opType === 'Concat') {
      const inputs = step.inputs.map((name, i) => (name ? plainValue(asTensor(inputMasks[i], name)) : undefined));
      return OPS.Concat(inputs, node, { opset: this.opset, rule: null, prepared: null }).map((v) => (v ? clean(plain(v)) : 'all'));
    }
    if (ELEMENTWISE.has(node.opType)) {
      return step.outputs.map((name) => {
        const out = name ? valueOf(name) : undefined;
        if (!out) return 'all';
        const merged = step.inputs.reduce<Tensor>(
          (acc, input, i) => (input && inputMasks[i] !== null ? acc.add(asTensor(inputMasks[i], input)) : acc),
          tf.zeros(logicalShape(out)),
        );
        return clean(merged.minimum(1));
      });
    }
    return step.outputs.map(() => 'all');
  }

  private step(node: OnnxNode, folded: OnnxNode | null): Step {
    const step: Step = {
      node,
      op: OPS[node.opType],
      inputs: node.inputs,
      outputs: folded ? folded.outputs.slice(0, 1) : node.outputs,
      prepared: null,
      weight: null,
      folded,
    };
    this.prepare(step);
    return step;
  }

  /** Turns a Conv's constant weights into tfjs filters (with its folded BatchNormalization); transposes a Gemm's constant B. */
  private prepare(step: Step): void {
    const { node, folded } = step;
    if (
      node.opType === 'Gemm' &&
      attr.int(node, 'transB', 0) === 1 &&
      this.isConstant(node.inputs[1]) &&
      this.constants.get(node.inputs[1])?.tensor.rank === 2
    ) {
      step.weight = tf.keep(tf.tidy(() => tf.transpose(this.constants.get(node.inputs[1])!.tensor)));
      return;
    }
    if (
      (node.opType !== 'Conv' && node.opType !== 'ConvTranspose') ||
      !this.isConstant(node.inputs[1]) ||
      !this.isConstant(node.inputs[2] ?? '')
    )
      return;
    const weight = this.constants.get(node.inputs[1])!.tensor;
    const bias = node.inputs[2] ? this.constants.get(node.inputs[2])!.tensor : null;
    const norm = folded ? this.normOf(folded) : null;
    try {
      const group = attr.int(node, 'group', 1);
      step.prepared =
        node.opType === 'Conv' ? prepareConv(weight, bias, group, norm, node) : prepareConvTranspose(weight, bias, group, node);
      // Kept: weights may be re-prepared inside an engine scope (randomisation check).
      convWeightTensors(step.prepared).forEach((t) => tf.keep(t));
    } finally {
      if (norm) tf.dispose([norm.scale, norm.shift]);
    }
  }

  private normOf(bn: OnnxNode) {
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => this.constants.get(bn.inputs[i])!.tensor);
    return batchNormAffine(gamma, beta, mean, variance, attr.float(bn, 'epsilon', 1e-5));
  }

  /** A Conv whose only reader is an inference BatchNormalization with constant statistics becomes one step. */
  private foldBatchNorms(nodes: OnnxNode[], model: OnnxModel): Step[] {
    const readers = new Map<string, OnnxNode[]>();
    for (const node of nodes) node.inputs.forEach((name) => name && readers.set(name, [...(readers.get(name) ?? []), node]));
    const graphOutputs = new Set(model.outputs.map((o) => o.name));
    const byNode = new Map(this.exact.map((step) => [step.node, step]));
    const absorbed = new Set<OnnxNode>();
    const steps: Step[] = [];
    for (const node of nodes) {
      if (absorbed.has(node)) continue;
      const out = node.outputs[0];
      const next = readers.get(out);
      const bn = next?.length === 1 ? next[0] : null;
      const foldable =
        node.opType === 'Conv' &&
        byNode.get(node)?.prepared &&
        bn?.opType === 'BatchNormalization' &&
        bn.inputs[0] === out &&
        !graphOutputs.has(out) &&
        attr.int(bn, 'training_mode', 0) === 0 &&
        bn.outputs.slice(1).every((o) => !o) &&
        [1, 2, 3, 4].every((i) => bn.inputs[i] && this.constants.has(bn.inputs[i]));
      if (foldable && bn) {
        absorbed.add(bn);
        this.foldedAway.add(out);
        steps.push(this.step(node, bn));
      } else {
        steps.push(byNode.get(node)!);
      }
    }
    return steps;
  }

  /** The step that writes a tensor (exact plan), if any. */
  producerOf(tensor: string): Step | undefined {
    return this.producers.get(tensor);
  }

  /** Steps needed for `wanted` (in order), given values already known. */
  plan(wanted: string[], exact = false): Step[] {
    const steps = exact || wanted.some((name) => this.foldedAway.has(name)) ? this.exact : this.fast;
    const needed = new Set(wanted);
    const chosen: Step[] = [];
    for (let i = steps.length - 1; i >= 0; i--) {
      const step = steps[i];
      if (step.outputs.some((name) => needed.has(name))) {
        chosen.push(step);
        step.inputs.forEach((name) => name && !this.known(name) && needed.add(name));
      }
    }
    return chosen.reverse();
  }

  /** Steps of `plan` that depend on `tensor`. */
  downstreamOf(tensor: string, plan: Step[]): Step[] {
    const reached = new Set([tensor]);
    return plan.filter((step) => {
      if (!step.inputs.some((name) => reached.has(name))) return false;
      step.outputs.forEach((name) => reached.add(name));
      return true;
    });
  }

  /** Runs `steps` over `values` (tensor name → value), adding what they produce. Call inside tf.tidy. */
  run(steps: Step[], values: Map<string, Value>, rule: ReluRule | null = null): void {
    for (const step of steps) {
      if (step.outputs.every((name) => !name || values.has(name))) continue;
      const inputs = step.inputs.map((name) => {
        if (!name) return undefined;
        const value = values.get(name) ?? this.known(name);
        if (!value) throw new Error(`ONNX node "${step.node.name}" (${step.node.opType}) is missing its input "${name}".`);
        return value;
      });
      let outputs: (Value | undefined)[];
      try {
        outputs = step.op(inputs, step.node, { opset: this.opset, rule, prepared: step.prepared ?? step.weight });
      } catch (error) {
        const message = (error as Error).message;
        throw new Error(
          message.includes(`"${step.node.name}"`) ? message : `ONNX node "${step.node.name}" (${step.node.opType}): ${message}`,
        );
      }
      step.outputs.forEach((name, i) => {
        const value = outputs[i];
        if (name && value) values.set(name, value);
      });
    }
  }

  /** Convenience for tests and single-op graphs: feeds in logical (ONNX) layout, outputs back in it. */
  runPlain(feeds: Record<string, Tensor>, outputs: string[]): Tensor[] {
    return tf.tidy(() => {
      const values = new Map(Object.entries(feeds).map(([name, tensor]) => [name, plainValue(tensor)]));
      this.run(this.plan(outputs), values);
      return outputs.map((name) => {
        const value = values.get(name) ?? this.known(name);
        if (!value) throw new Error(`The graph did not produce "${name}".`);
        return plain(value).clone();
      });
    });
  }

  /** Replaces constant tensors (e.g. random weights), re-folding and re-preparing what reads them; returns the old ones. */
  replaceConstants(replacements: Map<string, Tensor>): Map<string, Tensor> {
    const old = new Map<string, Tensor>();
    for (const [name, tensor] of replacements) {
      const value = this.constants.get(name);
      if (!value) throw new Error(`The graph has no initializer "${name}".`);
      old.set(name, value.tensor);
      this.constants.set(name, plainValue(tensor));
    }
    const changed = new Set(replacements.keys());
    for (const node of this.foldedNodes) {
      if (!node.inputs.some((name) => changed.has(name))) continue;
      const outputs = this.evaluate(node);
      node.outputs.forEach((name, i) => {
        if (!name || !outputs[i]) return;
        this.folded.get(name)?.tensor.dispose();
        this.folded.set(name, outputs[i]!);
        changed.add(name);
      });
    }
    for (const step of new Set([...this.exact, ...this.fast])) {
      const reads = [...step.inputs, ...(step.folded?.inputs ?? [])].some((name) => changed.has(name));
      if (!reads || (!step.prepared && !step.weight)) continue;
      tf.dispose([...(step.prepared ? convWeightTensors(step.prepared) : []), ...(step.weight ? [step.weight] : [])]);
      step.prepared = null;
      step.weight = null;
      this.prepare(step);
    }
    return old;
  }

  /** Tensors the executor holds (kept alive across engine scopes). */
  ownedTensors(): Tensor[] {
    const steps = [...new Set([...(this.exact ?? []), ...(this.fast ?? [])])];
    const prepared = steps.flatMap((s) => [...(s.prepared ? convWeightTensors(s.prepared) : []), ...(s.weight ? [s.weight] : [])]);
    return [...[...this.constants.values()].map((v) => v.tensor), ...[...this.folded.values()].map((v) => v.tensor), ...prepared];
  }

  dispose(): void {
    tf.dispose(this.ownedTensors());
    this.constants.clear();
    this.folded.clear();
  }
}
