/**
 * Runs an ONNX graph with TF.js ops, node by node in topological order, keeping every output by tensor
 * name: any node can be a target, the graph can be run from a replaced intermediate tensor to the
 * outputs (Grad-CAM's head), and everything stays differentiable (tf.grad through `run`).
 *
 * Two plans share the nodes: `fast` folds each BatchNormalization into the Conv before it (weights
 * prepared once, at load) and is used for the scores; `exact` runs every node as written and is used
 * when a target is a convolution whose output the fast plan never computes.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../../tfjs/tf';
import type { ReluRule } from '../reluRules';
import { ModelError } from '../modelFiles';
import type { OnnxModel, OnnxNode } from './onnxFile';
import { OPS, isSupported } from './ops';
import { batchNormAffine, convWeightTensors, prepareConv, prepareConvTranspose, type ConvWeights } from './ops/conv';
import { attr, plain, plainValue, tensorOf, type OpFn, type Value } from './ops/types';

export interface Step {
  /** The node run (the Conv of a folded Conv + BatchNormalization pair). */
  node: OnnxNode;
  op: OpFn;
  inputs: string[];
  /** Tensor names written; a folded pair writes the BatchNormalization's output. */
  outputs: string[];
  prepared: ConvWeights | null;
  /** The BatchNormalization folded into this Conv, if any. */
  folded: OnnxNode | null;
}

/** Every op type the file uses that CNN Lens cannot run, each once, in order of first use. */
export function unsupportedOps(model: OnnxModel): string[] {
  const missing = model.nodes.filter((n) => !isSupported(n.opType, n.domain)).map((n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType));
  return [...new Set(missing)];
}

/** Kahn's order; ONNX requires sorted nodes, but not every exporter complies. */
function topological(model: OnnxModel, available: Set<string>, file: string): OnnxNode[] {
  const known = new Set(available);
  const pending = [...model.nodes];
  const order: OnnxNode[] = [];
  while (pending.length) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
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
      throw new ModelError(`${file}: node "${node.name}" (${node.opType}) reads ${missing.map((m) => `"${m}"`).join(', ')}, which no node, input or initializer provides (or the graph has a cycle).`);
    }
  }
  return order;
}

export class OnnxExecutor {
  readonly opset: number;
  /** Initializers and Constant-node outputs, made once. */
  readonly constants = new Map<string, Value>();
  readonly fast: Step[];
  readonly exact: Step[];
  /** Tensors the fast plan does not compute (outputs of Convs with a folded BatchNormalization). */
  readonly foldedAway = new Set<string>();
  private readonly producers = new Map<string, Step>();

  constructor(model: OnnxModel, file: string, options: { foldBatchNorm?: boolean } = {}) {
    const missing = unsupportedOps(model);
    if (missing.length) {
      throw new ModelError(`${file} uses ONNX op${missing.length > 1 ? 's' : ''} CNN Lens does not support yet: ${missing.join(', ')}.`);
    }
    this.opset = model.opset;
    try {
      for (const t of model.initializers) this.constants.set(t.name, plainValue(tensorOf(t)));
      const feeds = new Set([...model.inputs.map((i) => i.name), ...this.constants.keys()]);
      const order = topological(model, feeds, file);
      const runnable: OnnxNode[] = [];
      for (const node of order) {
        if (node.opType === 'Constant') {
          const [value] = OPS.Constant([], node, { opset: this.opset, rule: null, prepared: null });
          this.constants.set(node.outputs[0], value!);
        } else runnable.push(node);
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

  private step(node: OnnxNode, folded: OnnxNode | null): Step {
    const step: Step = { node, op: OPS[node.opType], inputs: node.inputs, outputs: folded ? folded.outputs.slice(0, 1) : node.outputs, prepared: null, folded };
    this.prepare(step);
    return step;
  }

  /** Turns a Conv's constant weights into tfjs filters (with its folded BatchNormalization). */
  private prepare(step: Step): void {
    const { node, folded } = step;
    if ((node.opType !== 'Conv' && node.opType !== 'ConvTranspose') || !this.isConstant(node.inputs[1]) || !this.isConstant(node.inputs[2] ?? '')) return;
    const weight = this.constants.get(node.inputs[1])!.tensor;
    const bias = node.inputs[2] ? this.constants.get(node.inputs[2])!.tensor : null;
    const norm = folded ? this.normOf(folded) : null;
    try {
      const group = attr.int(node, 'group', 1);
      step.prepared = node.opType === 'Conv' ? prepareConv(weight, bias, group, norm, node) : prepareConvTranspose(weight, bias, group, node);
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
        step.inputs.forEach((name) => name && !this.constants.has(name) && needed.add(name));
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
        const value = values.get(name) ?? this.constants.get(name);
        if (!value) throw new Error(`ONNX node "${step.node.name}" (${step.node.opType}) is missing its input "${name}".`);
        return value;
      });
      let outputs: (Value | undefined)[];
      try {
        outputs = step.op(inputs, step.node, { opset: this.opset, rule, prepared: step.prepared });
      } catch (error) {
        const message = (error as Error).message;
        throw new Error(message.includes(`"${step.node.name}"`) ? message : `ONNX node "${step.node.name}" (${step.node.opType}): ${message}`);
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
        const value = values.get(name) ?? this.constants.get(name);
        if (!value) throw new Error(`The graph did not produce "${name}".`);
        return plain(value).clone();
      });
    });
  }

  /** Replaces constant tensors (e.g. random weights), re-preparing the convolutions that read them; returns the old ones. */
  replaceConstants(replacements: Map<string, Tensor>): Map<string, Tensor> {
    const old = new Map<string, Tensor>();
    for (const [name, tensor] of replacements) {
      const value = this.constants.get(name);
      if (!value) throw new Error(`The graph has no initializer "${name}".`);
      old.set(name, value.tensor);
      this.constants.set(name, plainValue(tensor));
    }
    for (const step of new Set([...this.exact, ...this.fast])) {
      const reads = [...step.inputs, ...(step.folded?.inputs ?? [])].some((name) => replacements.has(name));
      if (!reads || !step.prepared) continue;
      tf.dispose(convWeightTensors(step.prepared));
      step.prepared = null;
      this.prepare(step);
    }
    return old;
  }

  /** Tensors the executor holds (kept alive across engine scopes). */
  ownedTensors(): Tensor[] {
    const prepared = [...new Set([...(this.exact ?? []), ...(this.fast ?? [])])].flatMap((s) => (s.prepared ? convWeightTensors(s.prepared) : []));
    return [...[...this.constants.values()].map((v) => v.tensor), ...prepared];
  }

  dispose(): void {
    tf.dispose(this.ownedTensors());
    this.constants.clear();
  }
}
