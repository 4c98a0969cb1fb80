/**
 * Writes (part of) a TF.js layers model as an ONNX graph, in memory, for onnxruntime to run. TF.js is
 * channels-last and ONNX's convolutions channels-first: each tensor is kept in whichever layout its
 * producer made, and transposed only where a consumer needs the other (ORT's optimiser removes the pairs
 * that cancel). Batch norm becomes a per-channel Mul and Add that ORT folds into the convolution.
 * Layers not listed here make the export fail with their name: that model then runs on TF.js alone.
 */
import type { Tensor, Tensor1D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Padding } from '../inputGradOps';
import { LayoutWriter, onnxKernel, UnsupportedLayerError, type GraphValue } from '../../accel/layoutWriter';

export { UnsupportedLayerError, type GraphValue } from '../../accel/layoutWriter';

type Layer = LayersModel['layers'][number];

export interface ExportStep {
  layer: Layer;
  inputIds: number[];
  outputIds: number[];
}

export interface ExportContext {
  convSettings(layer: Layer): { strides: [number, number]; padding: Padding; dilationRate: [number, number]; dataFormat?: string };
  /** Scale and shift of a channels-last batch norm, or null for any other. */
  batchNorm(layer: Layer): { scale: Tensor1D; shift: Tensor1D } | null;
  activationName(layer: Layer): string;
  /** The step whose activation is left out (a Dense with softmax whose logits are the scores). */
  linearOnly: ExportStep | null;
}

const IDENTITY_LAYERS = new Set(['Dropout', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'InputLayer']);

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[1] ?? value[0])];
  const n = value === undefined || value === null ? fallback : Number(value);
  return [n, n];
}

function outputShapeOf(layer: Layer): number[] {
  const shape = (Array.isArray(layer.outputShape[0]) ? layer.outputShape[0] : layer.outputShape) as (number | null)[];
  return shape.slice(1).map((d) => d ?? -1);
}

export class LayersExporter extends LayoutWriter {
  private readonly values = new Map<number, GraphValue>();
  /** Convolutions' and dense layers' outputs before their own activation (what "before the rectifier" reads). */
  private readonly linearValues = new Map<number, GraphValue>();

  constructor(private readonly context: ExportContext) {
    super();
  }

  /** A graph input holding the layers-model tensor `id` (channels-last, as TF.js feeds it). */
  addInput(id: number, name: string, shape: number[]): void {
    this.values.set(id, { name: this.graph.input(name, shape), layout: 'plain', shape });
  }

  value(id: number): GraphValue {
    const value = this.values.get(id);
    if (!value) throw new UnsupportedLayerError(`tensor ${id} is not computed by the exported steps`);
    return value;
  }

  /** Exports the steps in order; each must have all its inputs computed by then. */
  addSteps(steps: ExportStep[]): void {
    for (const step of steps) {
      const inputs = step.inputIds.map((id) => this.value(id));
      try {
        this.values.set(step.outputIds[0], this.layer(step, inputs));
      } catch (error) {
        if (error instanceof UnsupportedLayerError)
          throw new UnsupportedLayerError(`layer "${step.layer.name}" (${step.layer.getClassName()}): ${error.message}`);
        throw error;
      }
    }
  }

  /** A convolution's or dense layer's output before its activation. */
  linearValue(id: number): GraphValue {
    const value = this.linearValues.get(id);
    if (!value) throw new UnsupportedLayerError(`tensor ${id} has no linear part exported`);
    return value;
  }

  /** Names the tensor `id` (or the given value), in TF.js's layout and flattened past the batch when `flatten`, as a graph output. */
  addOutput(id: number | GraphValue, name: string, flatten = false): string {
    const value = typeof id === 'number' ? this.value(id) : id;
    let source = this.plain(value);
    if (flatten && value.shape.length !== 1)
      source = this.graph.op('Flatten', [source], { axis: 1 }, [value.shape.reduce((a, b) => a * b, 1)]);
    return this.graph.nameOutput(source, name);
  }

  private layer(step: ExportStep, inputs: GraphValue[]): GraphValue {
    const { layer } = step;
    const kind = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    const [x] = inputs;
    const shape = outputShapeOf(layer);
    if (IDENTITY_LAYERS.has(kind)) return x;
    switch (kind) {
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'Dense': {
        const linear = kind === 'Dense' ? this.dense(layer, x, shape) : this.convolution(layer, x, kind === 'DepthwiseConv2D', shape);
        this.linearValues.set(step.outputIds[0], linear);
        return this.activation(linear, step === this.context.linearOnly ? 'linear' : this.context.activationName(layer));
      }
      case 'BatchNormalization':
        return this.batchNorm(layer, x);
      case 'Activation':
        return this.activation(x, this.context.activationName(layer));
      case 'ReLU': {
        const maxValue = config.maxValue as number | null | undefined;
        if (maxValue && maxValue !== 6) return this.clip(x, 0, maxValue);
        return this.activation(x, maxValue === 6 ? 'relu6' : 'relu');
      }
      case 'LeakyReLU':
        return this.elementwise(x, 'LeakyRelu', { alpha: { float: Number(config.alpha ?? 0.3) } });
      case 'ELU':
        return this.elementwise(x, 'Elu', { alpha: { float: Number(config.alpha ?? 1) } });
      case 'Softmax':
        if (![-1, undefined].includes(config.axis as number)) throw new UnsupportedLayerError('softmax over an axis other than the last');
        return this.activation(x, 'softmax');
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return this.pooling(x, kind === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', config, shape);
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        this.checkChannelsLast(config);
        const [, , c] = x.shape;
        const pooled = this.graph.op(kind === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', [this.nchw(x)], {}, [
          c,
          1,
          1,
        ]);
        if (config.keepDims) return { name: pooled, layout: 'nchw', shape: [1, 1, c] };
        return { name: this.graph.op('Flatten', [pooled], { axis: 1 }, [c]), layout: 'plain', shape: [c] };
      }
      case 'Flatten':
        return { name: this.graph.op('Flatten', [this.plain(x)], { axis: 1 }, shape), layout: 'plain', shape };
      case 'Reshape':
        return { name: this.graph.op('Reshape', [this.plain(x), this.graph.ints([0, ...shape])], {}, shape), layout: 'plain', shape };
      case 'ZeroPadding2D': {
        this.checkChannelsLast(config);
        const [[top, bottom], [left, right]] = (config.padding as [[number, number], [number, number]]) ?? [
          [1, 1],
          [1, 1],
        ];
        const [h, w, c] = shape;
        const pads = this.graph.ints([0, 0, top, left, 0, 0, bottom, right]);
        return { name: this.graph.op('Pad', [this.nchw(x), pads], { mode: 'constant' }, [c, h, w]), layout: 'nchw', shape };
      }
      case 'Add':
      case 'Subtract':
      case 'Multiply':
      case 'Average':
      case 'Maximum':
      case 'Minimum':
        return this.merge(kind, inputs, shape);
      case 'Concatenate':
        return this.concatenate(inputs, Number(config.axis ?? -1), shape);
      default:
        throw new UnsupportedLayerError('no ONNX export for this layer type');
    }
  }

  private checkChannelsLast(config: Record<string, unknown>): void {
    if (config.dataFormat === 'channelsFirst') throw new UnsupportedLayerError('channels-first data');
  }

  private convolution(layer: Layer, x: GraphValue, depthwise: boolean, shape: number[]): GraphValue {
    const { strides, padding, dilationRate, dataFormat } = this.context.convSettings(layer);
    if (dataFormat === 'channelsFirst') throw new UnsupportedLayerError('channels-first data');
    const [kernel, bias] = layer.getWeights() as [Tensor, Tensor | undefined];
    const [kh, kw, cin, last] = kernel.shape as number[];
    const outChannels = depthwise ? cin * last : last;
    const weights = onnxKernel(kernel.dataSync() as Float32Array, [kh, kw, cin, last], depthwise);
    const [h, w] = x.shape;
    const pads = this.padsFor(padding, [h, w], [kh, kw], strides, dilationRate);
    const inputs = [this.nchw(x), this.graph.floats(weights, [outChannels, depthwise ? 1 : cin, kh, kw], 'W')];
    if (bias) inputs.push(this.graph.floats(bias.dataSync() as Float32Array, [outChannels], 'B'));
    const [oh, ow] = shape;
    const name = this.graph.op(
      'Conv',
      inputs,
      { kernel_shape: [kh, kw], strides, dilations: dilationRate, pads, group: depthwise ? cin : 1 },
      [outChannels, oh, ow],
    );
    return { name, layout: 'nchw', shape };
  }

  private dense(layer: Layer, x: GraphValue, shape: number[]): GraphValue {
    const [kernel, bias] = layer.getWeights() as [Tensor, Tensor | undefined];
    const [inUnits, units] = kernel.shape as number[];
    const weights = this.graph.floats(kernel.dataSync() as Float32Array, [inUnits, units], 'W');
    const input = this.plain(x);
    if (x.shape.length === 1) {
      const inputs = [input, weights, ...(bias ? [this.graph.floats(bias.dataSync() as Float32Array, [units], 'B')] : [])];
      return { name: this.graph.op('Gemm', inputs, {}, [units]), layout: 'plain', shape };
    }
    let out = this.graph.op('MatMul', [input, weights], {}, shape);
    if (bias) out = this.graph.op('Add', [out, this.graph.floats(bias.dataSync() as Float32Array, [units], 'B')], {}, shape);
    return { name: out, layout: 'plain', shape };
  }

  private batchNorm(layer: Layer, x: GraphValue): GraphValue {
    const folded = this.context.batchNorm(layer);
    if (!folded) throw new UnsupportedLayerError('batch norm over an axis other than the channels');
    const c = folded.scale.shape[0];
    const channelsFirst = x.layout === 'nchw';
    const dims = channelsFirst ? [c, 1, 1] : [c];
    const input = channelsFirst ? x.name : this.plain(x);
    const graphShape = this.graph.shapeOf(input);
    const scaled = this.graph.op('Mul', [input, this.graph.floats(folded.scale.dataSync() as Float32Array, dims, 'scale')], {}, graphShape);
    const name = this.graph.op('Add', [scaled, this.graph.floats(folded.shift.dataSync() as Float32Array, dims, 'shift')], {}, graphShape);
    return { name, layout: x.layout, shape: x.shape };
  }

  private elementwise(x: GraphValue, op: string, attributes: Record<string, { float: number } | number> = {}): GraphValue {
    return { name: this.graph.op(op, [x.name], attributes, this.graph.shapeOf(x.name)), layout: x.layout, shape: x.shape };
  }

  private clip(x: GraphValue, min: number, max: number): GraphValue {
    const name = this.graph.op('Clip', [x.name, this.graph.scalar(min), this.graph.scalar(max)], {}, this.graph.shapeOf(x.name));
    return { name, layout: x.layout, shape: x.shape };
  }

  activation(x: GraphValue, name: string): GraphValue {
    const g = this.graph;
    const shape = g.shapeOf(x.name);
    const same = (op: string, inputs: string[], attributes = {}) => ({
      name: g.op(op, inputs, attributes, shape),
      layout: x.layout,
      shape: x.shape,
    });
    switch (name) {
      case '':
      case 'linear':
        return x;
      case 'relu':
        return this.elementwise(x, 'Relu');
      case 'relu6':
        return this.clip(x, 0, 6);
      case 'sigmoid':
        return this.elementwise(x, 'Sigmoid');
      case 'tanh':
        return this.elementwise(x, 'Tanh');
      case 'elu':
        return this.elementwise(x, 'Elu');
      case 'selu':
        return this.elementwise(x, 'Selu');
      case 'softplus':
        return this.elementwise(x, 'Softplus');
      case 'softsign':
        return this.elementwise(x, 'Softsign');
      case 'hardsigmoid':
        return this.elementwise(x, 'HardSigmoid', { alpha: { float: 0.2 }, beta: { float: 0.5 } });
      case 'swish':
        return same('Mul', [x.name, g.op('Sigmoid', [x.name], {}, shape)]);
      case 'mish':
        return same('Mul', [x.name, g.op('Tanh', [g.op('Softplus', [x.name], {}, shape)], {}, shape)]);
      case 'softmax':
      case 'logsoftmax':
        return same(name === 'softmax' ? 'Softmax' : 'LogSoftmax', [x.name], { axis: x.layout === 'nchw' ? 1 : -1 });
      default:
        throw new UnsupportedLayerError(`no ONNX export for the activation "${name}"`);
    }
  }

  private pooling(x: GraphValue, op: 'MaxPool' | 'AveragePool', config: Record<string, unknown>, shape: number[]): GraphValue {
    this.checkChannelsLast(config);
    const kernel = pair(config.poolSize, 2);
    const strides = pair(config.strides ?? config.poolSize, 2);
    const [h, w] = x.shape;
    const pads = this.padsFor(config.padding === 'same' ? 'same' : 'valid', [h, w], kernel, strides, [1, 1]);
    const [oh, ow, c] = shape;
    const name = this.graph.op(op, [this.nchw(x)], { kernel_shape: kernel, strides, pads }, [c, oh, ow]);
    return { name, layout: 'nchw', shape };
  }

  private merge(kind: string, inputs: GraphValue[], shape: number[]): GraphValue {
    const channelsFirst = inputs.every((v) => v.shape.length === 3);
    const names = inputs.map((v) => (channelsFirst ? this.nchw(v) : this.plain(v)));
    const graphShape = this.graph.shapeOf(names[0]);
    const layout = channelsFirst ? 'nchw' : 'plain';
    const op = { Add: 'Sum', Subtract: 'Sub', Multiply: 'Mul', Average: 'Sum', Maximum: 'Max', Minimum: 'Min' }[kind]!;
    if (inputs.some((v) => v.shape.join() !== shape.join())) throw new UnsupportedLayerError('inputs of different shapes (broadcasting)');
    // Binary ONNX ops chain; Sum/Max/Min take any number of inputs.
    let name =
      op === 'Sub' || op === 'Mul'
        ? names.reduce((a, b) => this.graph.op(op, [a, b], {}, graphShape))
        : this.graph.op(op, names, {}, graphShape);
    if (kind === 'Average') name = this.graph.op('Mul', [name, this.graph.scalar(1 / inputs.length)], {}, graphShape);
    return { name, layout, shape };
  }

  private concatenate(inputs: GraphValue[], axis: number, shape: number[]): GraphValue {
    const rank = shape.length + 1;
    const positive = axis < 0 ? axis + rank : axis;
    const channelsFirst = rank === 4 && positive === 3;
    const names = inputs.map((v) => (channelsFirst ? this.nchw(v) : this.plain(v)));
    const [h, w, c] = shape;
    const graphShape = channelsFirst ? [c, h, w] : shape;
    return {
      name: this.graph.op('Concat', names, { axis: channelsFirst ? 1 : positive }, graphShape),
      layout: channelsFirst ? 'nchw' : 'plain',
      shape,
    };
  }
}
