/**
 * Which nodes of an ONNX file its onnxruntime export writes, and which it folds into constants. An export
 * runs at the model's own image size, so every shape in it is static but the batch: whatever a node
 * computes from constants, or from tensor sizes other than the batch, is the same on every run. The TF.js
 * executor computes such values once and the export writes them, so the gradient rules see the pads and
 * slice bounds that torch computes from `x.shape` (TF-style "same" padding, `chunk`) as constants, and
 * onnxruntime has fewer nodes to run. Sizes that follow the batch (`x.view(x.size(0), -1)`) stay computed in
 * the graph; which axes follow it is measured by a run with two images, not assumed.
 */
import type { DataType } from '@tensorflow/tfjs-core';
import { tf } from '../../tfjs/tf';
import type { OnnxExecutor, Step } from './executor';
import { attr, numbers, plain, plainValue, type Value } from './ops/types';

export interface FoldedValue {
  dims: number[];
  dtype: DataType;
  data: ArrayLike<number>;
}

export interface ExportPlan {
  /** Steps written as nodes, in order. */
  steps: Step[];
  /** Values of the computed (not stored) tensors those steps read. */
  folded: Map<string, FoldedValue>;
}

export interface ShapeFacts {
  /** A tensor's logical shape for one image (the adapter's probe run). */
  shapeOf(name: string): number[];
  /** The axes of a tensor whose size follows the batch. */
  batchAxesOf(name: string): number[];
}

/** A vector of sizes read from a tensor's shape: element i is the size of axis `start + i` of `of`. */
interface Sizes {
  of: string;
  start: number;
}

/** Ops that pass a vector of sizes through element for element. */
const SIZE_PRESERVING = new Set(['Cast', 'Identity']);
/** Ops that pick elements of a vector of sizes, by constant positions. */
const SIZE_PICKING = new Set(['Gather', 'Slice']);

/** The export's nodes for `plan` (the executor's steps to the targets), the rest folded. */
export function planExport(executor: OnnxExecutor, plan: Step[], inputName: string, targets: string[], facts: ShapeFacts): ExportPlan {
  const result: { plan?: ExportPlan } = {};
  tf.tidy(() => {
    const folder = new Folder(executor, inputName, facts);
    const candidates = plan.filter((step) => folder.visit(step));
    const steps = live(candidates, targets);
    result.plan = { steps, folded: folder.valuesRead(steps, inputName) };
  });
  return result.plan!;
}

/** The candidates that lead to the targets. */
function live(candidates: Step[], targets: string[]): Step[] {
  const needed = new Set(targets);
  const kept: Step[] = [];
  for (let i = candidates.length - 1; i >= 0; i--) {
    const step = candidates[i];
    if (!step.outputs.some((name) => needed.has(name))) continue;
    kept.unshift(step);
    step.inputs.forEach((name) => name && needed.add(name));
  }
  return kept;
}

class Folder {
  /** Tensors that hold image data or the batch size: computed in the graph. */
  private readonly image = new Set<string>();
  private readonly sizes = new Map<string, Sizes>();
  /** Values computed here (the folded ones, and the size vectors picked from). */
  private readonly values = new Map<string, Value>();

  constructor(
    private readonly executor: OnnxExecutor,
    inputName: string,
    private readonly facts: ShapeFacts,
  ) {
    this.image.add(inputName);
  }

  /** Classifies a step (in order); true when the graph may need it as a node. */
  visit(step: Step): boolean {
    const reads = step.inputs.filter(Boolean);
    if (step.node.opType === 'Shape' && this.image.has(reads[0])) {
      this.measure(step);
      return true;
    }
    const sizes = reads.filter((name) => this.sizes.has(name));
    if (sizes.length === 1 && reads.length === 1 && SIZE_PRESERVING.has(step.node.opType)) {
      this.sizes.set(step.node.outputs[0], this.sizes.get(sizes[0])!);
      this.evaluate(step);
      return true;
    }
    const foldable = !reads.some((name) => this.image.has(name)) && sizes.every((name) => this.batchFreePick(step, name));
    if (!foldable) {
      step.outputs.forEach((name) => name && this.image.add(name));
      return true;
    }
    this.evaluate(step);
    return false;
  }

  /** The sizes of an image tensor: known from the probe but for the batch, so measured on zeros of its shape. */
  private measure(step: Step): void {
    const [input] = step.inputs;
    const shape = this.facts.shapeOf(input);
    const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + shape.length : i, 0), shape.length);
    this.sizes.set(step.node.outputs[0], { of: input, start: clamp(attr.int(step.node, 'start', 0)) });
    this.values.set(input, plainValue(tf.zeros(shape)));
    this.evaluate(step);
  }

  /** Whether `step` reads only sizes that do not follow the batch from the size vector `name`. */
  private batchFreePick(step: Step, name: string): boolean {
    const { of, start } = this.sizes.get(name)!;
    const picksFrom =
      SIZE_PICKING.has(step.node.opType) && step.inputs[0] === name && step.inputs.slice(1).every((i) => !this.sizes.has(i));
    const positions = picksFrom ? this.picked(step, name) : Array.from({ length: this.values.get(name)!.tensor.size }, (_, i) => i);
    const axes = positions.map((p) => start + p);
    // Axis 0 is the batch in every image tensor but a transposed one: keep it without measuring.
    if (axes.includes(0)) return false;
    const batch = this.facts.batchAxesOf(of);
    return !axes.some((axis) => batch.includes(axis));
  }

  /** The positions of the size vector `name` that `step` picks: the step run on the vector 0, 1, 2, … */
  private picked(step: Step, name: string): number[] {
    const length = this.values.get(name)!.tensor.size;
    const probe = new Map(this.values);
    probe.set(name, plainValue(tf.range(0, length, 1, 'int32')));
    this.executor.run([step], probe);
    return numbers(probe.get(step.node.outputs[0])) ?? [];
  }

  private evaluate(step: Step): void {
    this.executor.run([step], this.values);
  }

  /**
   * The values of the tensors `steps` read that neither they, the image nor the stored constants provide:
   * folded here, or by the executor at load (its plans no longer compute those).
   */
  valuesRead(steps: Step[], inputName: string): Map<string, FoldedValue> {
    const produced = new Set([inputName, ...steps.flatMap((step) => step.outputs)]);
    const folded = new Map<string, FoldedValue>();
    for (const name of steps.flatMap((step) => step.inputs)) {
      if (!name || produced.has(name) || folded.has(name) || this.executor.constants.has(name)) continue;
      const value = this.values.get(name) ?? this.executor.folded.get(name);
      if (!value) throw new Error(`internal: the export reads "${name}", which it neither computes nor folds`);
      const tensor = plain(value);
      // Copied: the tensor's own buffer goes with it at the end of the scope.
      folded.set(name, {
        dims: tensor.shape,
        dtype: tensor.dtype,
        data: (tensor.dataSync() as Float32Array | Int32Array | Uint8Array).slice(),
      });
    }
    return folded;
  }
}
