/**
 * An ONNX file on onnxruntime: the imported graph is written back out (its own nodes, attributes and
 * opset; constants as they are now, so the randomisation check's weights are seen after `invalidate`),
 * behind an NHWC image input like the other formats', with targets read out channels-last. Gradients come
 * from the same backward-pass writer as for layers models (gradientGraph.ts); ops it has no rule for, and
 * ops the runtime refuses, keep that run on TF.js. A target is a tensor of the graph, by name.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { OnnxExecutor } from './executor';
import type { OnnxModel, OnnxNode, OnnxTensor } from './onnxFile';
import { onnxPads, pair, transposedPads, windowPadding } from './ops/conv';
import { logicalShape, nhwcValue, plain, plainValue } from './ops/types';
import { writeGridReadout, type LayerView } from './layerViews';
import { planExport, type FoldedValue } from './exportFolding';
import { tf } from '../../tfjs/tf';
import type { Acceleration } from '../../accel/ortRuntime';
import { Accelerator, INPUT, type ExportedGraph } from '../../accel/accelerator';
import { UnsupportedLayerError } from '../../accel/layoutWriter';
import { DATA_TYPE, OnnxGraph, type AttributeValue, type TensorData } from '../../accel/onnxGraph';

export interface ImportedModel {
  model: OnnxModel;
  executor: OnnxExecutor;
  /** Shape (with the batch) and dtype of every tensor, from a probe run. */
  probes: Map<string, { shape: number[]; dtype: string }>;
  /** How tensors lie on the image grid (layerViews.ts): targets are read out as [n, h, w, c] maps. */
  views: Map<string, LayerView>;
  inputName: string;
  /** True when the graph's input is NCHW. */
  channelsFirst: boolean;
  /** [height, width, channels] */
  inputShape: [number, number, number];
  numClasses: number;
  scoreTensor: string;
}

const ATTRIBUTE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export class OnnxFileAccelerator extends Accelerator<string> {
  private batchAxes: Map<string, number[]> | null = null;

  constructor(
    private readonly source: ImportedModel,
    acceleration: Acceleration,
  ) {
    super(source.inputShape, source.numClasses, acceleration);
  }

  protected keyOf(target: string): string {
    return target;
  }

  protected exportGraph(targets: ('scores' | string)[]): ExportedGraph {
    const { model, executor, probes, inputName, channelsFirst, inputShape, scoreTensor } = this.source;
    const graph = new OnnxGraph(writtenOpset(model.opset));
    const [h, w, c] = inputShape;
    graph.input(INPUT, [h, w, c]);
    if (channelsFirst) graph.nodes.push({ op: 'Transpose', inputs: [INPUT], outputs: [inputName], attributes: { perm: [0, 3, 1, 2] } });
    else graph.nodes.push({ op: 'Identity', inputs: [INPUT], outputs: [inputName], attributes: {} });
    const names = targets.map((t) => (t === 'scores' ? scoreTensor : t));
    const facts = { shapeOf: (name: string) => this.probeOf(name).shape, batchAxesOf: (name: string) => this.batchAxesOf(name) };
    const { steps, folded } = planExport(executor, executor.plan(names, true), inputName, names, facts);
    const produced = new Set([inputName, ...steps.flatMap((step) => step.outputs)]);
    const written = new Set<string>();
    for (const { node } of steps) {
      if (node.domain && node.domain !== 'ai.onnx')
        throw new UnsupportedLayerError(`node "${node.name}" is in the domain "${node.domain}"`);
      for (const name of node.inputs) {
        if (!name || produced.has(name) || written.has(name)) continue;
        this.writeConstant(graph, name, folded.get(name));
        written.add(name);
      }
      graph.nodes.push({
        op: node.opType,
        inputs: node.inputs,
        outputs: node.outputs,
        attributes: this.samePadsResolved(node, attributesOf(node)),
      });
    }
    for (const [name, probe] of probes) if (probe.dtype === 'float32') graph.shapes.set(name, probe.shape.slice(1));
    graph.shapes.set(inputName, channelsFirst ? [c, h, w] : [h, w, c]);
    const outputNames = this.outputNames(targets);
    const outputs = targets.map((target, i) => {
      const native = names[i];
      const shape = graph.shapes.get(native);
      if (!shape) throw new UnsupportedLayerError(`"${native}" is not a float tensor`);
      if (target === 'scores') {
        graph.nameOutput(graph.op('Flatten', [native], { axis: 1 }, [shape.reduce((a, b) => a * b, 1)]), outputNames[i]);
        return { name: outputNames[i], native, perm: null };
      }
      // Handed out as [n, h, w, c] maps, as the adapter reads them (NCHW maps transposed, tokens on their grid).
      const view = this.source.views.get(native);
      if (!view) {
        graph.nameOutput(native, outputNames[i]);
        return { name: outputNames[i], native, perm: null };
      }
      graph.nameOutput(writeGridReadout(graph, native, view), outputNames[i]);
      const readout = view.kind === 'tokens' ? (g: OnnxGraph, tensor: string) => writeGridReadout(g, tensor, view, shape) : undefined;
      return { name: outputNames[i], native, perm: view.kind === 'nchw' ? [0, 2, 3, 1] : null, ...(readout ? { readout } : {}) };
    });
    return { graph, outputs };
  }

  /**
   * A window op's auto_pad SAME_UPPER / SAME_LOWER written as the explicit pads the TF.js executor uses
   * (ops/conv.ts), so both runtimes pad alike: onnxruntime pads a window narrower than its stride by a
   * negative amount (a 1×1 convolution with stride 4 then starts its windows one cell late).
   */
  private samePadsResolved(node: OnnxNode, attributes: Record<string, AttributeValue>): Record<string, AttributeValue> {
    if (node.opType === 'ConvTranspose') return this.transposedPadsResolved(node, attributes);
    const autoPad = attributes.auto_pad;
    if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') return attributes;
    const { inputName, inputShape, probes, model } = this.source;
    const input = node.inputs[0];
    const size = input === inputName ? inputShape.slice(0, 2) : probes.get(input)?.shape.slice(2);
    const weights =
      node.opType === 'Conv'
        ? (model.initializers.find((t) => t.name === node.inputs[1])?.dims ?? probes.get(node.inputs[1])?.shape)
        : undefined;
    const kernel = (attributes.kernel_shape as number[] | undefined) ?? weights?.slice(2);
    if (size?.length !== 2 || kernel?.length !== 2)
      throw new UnsupportedLayerError(`node "${node.name}" has auto_pad ${autoPad} on a window that is not 2-D`);
    const pads = onnxPads(
      windowPadding(node, size as [number, number], kernel as [number, number], pair(node, 'strides', 1), pair(node, 'dilations', 1)),
    );
    const { auto_pad: _resolved, ...rest } = attributes;
    return { ...rest, pads };
  }

  /**
   * A ConvTranspose's auto_pad SAME_UPPER / SAME_LOWER or output_shape written as the pads the TF.js executor
   * computes (ops/conv.ts): both runtimes then place the output alike, and the gradient rule reads plain pads.
   */
  private transposedPadsResolved(node: OnnxNode, attributes: Record<string, AttributeValue>): Record<string, AttributeValue> {
    const autoPad = attributes.auto_pad;
    if (attributes.output_shape === undefined && autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') return attributes;
    const { inputName, inputShape, probes, model } = this.source;
    const input = node.inputs[0];
    const size = input === inputName ? inputShape.slice(0, 2) : probes.get(input)?.shape.slice(2);
    const weights = model.initializers.find((t) => t.name === node.inputs[1])?.dims ?? probes.get(node.inputs[1])?.shape;
    const kernel = (attributes.kernel_shape as number[] | undefined) ?? weights?.slice(2);
    if (size?.length !== 2 || kernel?.length !== 2)
      throw new UnsupportedLayerError(`node "${node.name}" is a ConvTranspose that is not 2-D`);
    const dilations = pair(node, 'dilations', 1);
    const span = kernel.map((k, i) => (k - 1) * dilations[i] + 1) as [number, number];
    const [rows, columns] = transposedPads(
      node,
      size as [number, number],
      span,
      pair(node, 'strides', 1),
      [1, 1],
      pair(node, 'output_padding', 0),
    );
    const pads = [rows[0], columns[0], rows[1], columns[1]];
    // The executor crops there; onnxruntime refuses negative pads.
    if (pads.some((p) => p < 0))
      throw new UnsupportedLayerError(`node "${node.name}" is a ConvTranspose whose output_shape or auto_pad crops`);
    const { auto_pad: _autoPad, output_shape: _outputShape, ...rest } = attributes;
    return { ...rest, pads };
  }

  /** A constant input as it is now (initializer or Constant node, or a value folded from them), in its stored data type. */
  private writeConstant(graph: OnnxGraph, name: string, folded: FoldedValue | undefined): void {
    const { executor, model } = this.source;
    const value = executor.constants.get(name);
    const stored = model.initializers.find((t) => t.name === name)?.sourceType;
    let source = folded;
    if (!source) {
      if (!value) throw new Error(`internal: no value for the constant "${name}"`);
      const tensor = plain(value) as Tensor;
      source = { dims: tensor.shape, dtype: tensor.dtype, data: tensor.dataSync() as OnnxTensor['data'] };
      if (tensor !== value.tensor) tensor.dispose();
    }
    const { dims, data, dataType } = tensorData({
      name,
      dims: source.dims,
      dtype: source.dtype as OnnxTensor['dtype'],
      data: source.data as OnnxTensor['data'],
      sourceType: stored ?? DATA_TYPE.INT64,
    });
    graph.constant(name, dims, data, dataType);
  }

  private probeOf(name: string): { shape: number[]; dtype: string } {
    const probe = this.source.probes.get(name);
    if (!probe) throw new UnsupportedLayerError(`no probed shape for "${name}"`);
    return probe;
  }

  /**
   * The axes of a tensor whose size follows the batch: those whose size differs between the probe run (one
   * image) and a run with two. Measured once, for every tensor a Shape node reads.
   */
  private batchAxesOf(name: string): number[] {
    this.batchAxes ??= this.measureBatchAxes();
    // Not measured: every axis might follow the batch.
    return this.batchAxes.get(name) ?? this.probeOf(name).shape.map((_, i) => i);
  }

  private measureBatchAxes(): Map<string, number[]> {
    const { executor, inputName, inputShape, channelsFirst } = this.source;
    const measured = executor.exact.filter((step) => step.node.opType === 'Shape').map((step) => step.inputs[0]);
    const axes = new Map<string, number[]>();
    try {
      tf.tidy(() => {
        const image = tf.zeros([2, ...inputShape]);
        const values = new Map([[inputName, channelsFirst ? nhwcValue(image) : plainValue(image)]]);
        executor.run(executor.plan(measured, true), values);
        for (const name of measured) {
          const value = values.get(name);
          if (!value) continue;
          const one = this.probeOf(name).shape;
          axes.set(
            name,
            logicalShape(value).flatMap((size, i) => (size !== one[i] ? [i] : [])),
          );
        }
      });
    } catch {
      // A graph that cannot run two images (a batch of 1 written into a Reshape) measures nothing: the sizes
      // it reads off shapes then stay computed, and what needs them constant stays on TF.js.
      axes.clear();
    }
    return axes;
  }
}

/** The node's attributes with their stored kinds (INT vs FLOAT), as OnnxGraph writes them. */
function attributesOf(node: OnnxNode): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [key, value] of node.attributes) {
    const type = node.attributeTypes.get(key);
    if (value === null) throw new UnsupportedLayerError(`node "${node.name}" has a graph attribute "${key}"`);
    if (type === ATTRIBUTE.FLOAT) out[key] = { float: value as number };
    else if (type === ATTRIBUTE.FLOATS) out[key] = { floats: value as number[] };
    else if (type === ATTRIBUTE.INT || type === ATTRIBUTE.INTS || type === ATTRIBUTE.STRING || type === ATTRIBUTE.STRINGS)
      out[key] = value as AttributeValue;
    else if (type === ATTRIBUTE.TENSOR) out[key] = { tensor: tensorData(value as OnnxTensor) };
    else throw new UnsupportedLayerError(`node "${node.name}" has an attribute "${key}" of type ${type}`);
  }
  return out;
}

/** Values as imported (float32, int32, bool) back in their stored type: integers were widened or narrowed to int32. */
function tensorData(tensor: OnnxTensor): TensorData {
  const { dims, data, dtype, sourceType } = tensor;
  if (dtype === 'float32') return { dims, data: Float32Array.from(data), dataType: DATA_TYPE.FLOAT };
  if (dtype === 'bool') return { dims, data: Uint8Array.from(data), dataType: DATA_TYPE.BOOL };
  if (sourceType === DATA_TYPE.INT32) return { dims, data: Int32Array.from(data), dataType: DATA_TYPE.INT32 };
  // ONNX's shapes, axes and pads are int64; other integer types are not written back.
  if (sourceType !== DATA_TYPE.INT64) throw new UnsupportedLayerError(`tensor "${tensor.name}" has data type ${sourceType}`);
  return { dims, data: BigInt64Array.from(Array.from(data, (v) => BigInt(v))), dataType: DATA_TYPE.INT64 };
}

/**
 * The opset the export is written against: the model's own, raised to 16 from 13 on (no op the importer
 * runs changed meaning for inference from 13 to 17; 16 adds ScatterElements' reduction, which max-pooling
 * gradients need). Older models keep theirs, and their max-pooling gradients stay on TF.js.
 */
function writtenOpset(opset: number): number {
  return opset >= 13 ? Math.max(opset, 16) : opset;
}
