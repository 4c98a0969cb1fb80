/**
 * Writes a TF.js graph model (a converted SavedModel or TF-Hub module: TensorFlow ops in NHWC) as an ONNX
 * graph, node by node from the image to the asked-for node. Convolutions become ONNX's channels-first
 * Conv, per-channel constants are reshaped to broadcast over channels-first tensors, and the TF graph's
 * SAME padding is made explicit from the probed shapes. An op not listed here fails the export with its
 * node's name, and that model's runs stay on TF.js.
 */
import { LayoutWriter, onnxKernel, UnsupportedLayerError, type GraphValue } from '../../accel/layoutWriter';

/** A node of the graph's GraphDef as model.json stores it. */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttribute>;
}

interface TfAttribute {
  i?: string | number;
  f?: number;
  b?: boolean;
  s?: string;
  list?: { i?: (string | number)[]; s?: string[]; f?: number[] };
}

export interface GraphExportSource {
  nodes: Map<string, TfNode>;
  inputName: string;
  /** [height, width, channels] */
  inputShape: number[];
  /** A Const node's value, or null for any other node. */
  constant(name: string): { data: Float32Array | Int32Array; shape: number[] } | null;
  /** A node's output shape without the batch (TF's own, channels-last), from a probe run. */
  shapeOf(name: string): number[];
}

const PASS_THROUGH = new Set(['Identity', 'StopGradient', 'Snapshot']);
const UNARY: Record<string, string> = { Relu: 'Relu', Sigmoid: 'Sigmoid', Tanh: 'Tanh', Elu: 'Elu', Softplus: 'Softplus' };
const BINARY: Record<string, string> = {
  Add: 'Add',
  AddV2: 'Add',
  BiasAdd: 'Add',
  Sub: 'Sub',
  Mul: 'Mul',
  RealDiv: 'Div',
  Maximum: 'Max',
  Minimum: 'Min',
};

const text = (value: string | undefined) => (value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8'));
const ints = (attribute: TfAttribute | undefined) => (attribute?.list?.i ?? []).map(Number);

export class GraphModelExporter extends LayoutWriter {
  private readonly values = new Map<string, GraphValue>();

  /** `inputName`: the graph input that takes the image (channels-last, as TF.js feeds it). */
  constructor(
    private readonly source: GraphExportSource,
    inputName: string,
  ) {
    super();
    const [h, w, c] = source.inputShape;
    this.values.set(source.inputName, { name: this.graph.input(inputName, [h, w, c]), layout: 'plain', shape: [h, w, c] });
  }

  /** The node's output in the graph, exporting what it depends on first. */
  value(name: string): GraphValue {
    const known = this.values.get(name);
    if (known) return known;
    const node = this.source.nodes.get(name);
    if (!node) throw new UnsupportedLayerError(`no node "${name}"`);
    let value: GraphValue;
    try {
      value = this.node(node);
    } catch (error) {
      if (error instanceof UnsupportedLayerError && !error.message.startsWith('node "'))
        throw new UnsupportedLayerError(`node "${name}" (${node.op}): ${error.message}`);
      throw error;
    }
    this.values.set(name, value);
    return value;
  }

  /** Names the node's output (channels-last, as TF.js gives it; flattened past the batch when `flatten`) as a graph output. */
  addOutput(value: GraphValue, name: string, flatten = false): string {
    let source = this.plain(value);
    if (flatten && value.shape.length !== 1)
      source = this.graph.op('Flatten', [source], { axis: 1 }, [value.shape.reduce((a, b) => a * b, 1)]);
    return this.graph.nameOutput(source, name);
  }

  private inputsOf(node: TfNode): string[] {
    return (node.input ?? [])
      .filter((input) => !input.startsWith('^'))
      .map((input) => {
        const [base, index] = input.split(':');
        if (index && index !== '0') throw new UnsupportedLayerError(`reads output ${index} of "${base}"`);
        return base;
      });
  }

  private node(node: TfNode): GraphValue {
    const inputs = this.inputsOf(node);
    const shape = this.source.shapeOf(node.name);
    const attr = node.attr ?? {};
    const dataFormat = text(attr.data_format?.s);
    if (dataFormat && dataFormat !== 'NHWC') throw new UnsupportedLayerError(`data format ${dataFormat}`);
    if (PASS_THROUGH.has(node.op)) return this.value(inputs[0]);
    if (UNARY[node.op]) return this.same(this.value(inputs[0]), UNARY[node.op], []);
    if (BINARY[node.op]) return this.binary(BINARY[node.op], inputs, shape);
    switch (node.op) {
      case 'Relu6':
        return this.same(this.value(inputs[0]), 'Clip', [this.graph.scalar(0), this.graph.scalar(6)]);
      case 'LeakyRelu':
        return this.same(this.value(inputs[0]), 'LeakyRelu', [], { alpha: { float: attr.alpha?.f ?? 0.2 } });
      case 'Conv2D':
      case 'DepthwiseConv2dNative':
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative':
        return this.convolution(node, inputs, shape);
      case 'FusedBatchNorm':
      case 'FusedBatchNormV3':
        return this.batchNorm(this.value(inputs[0]), inputs.slice(1), attr.epsilon?.f ?? 1e-3);
      case 'MaxPool':
      case 'AvgPool': {
        const [, kh, kw] = ints(attr.ksize);
        const [, sh, sw] = ints(attr.strides);
        const x = this.value(inputs[0]);
        const pads = this.padsFor(text(attr.padding?.s) === 'SAME' ? 'same' : 'valid', x.shape, [kh, kw], [sh, sw], [1, 1]);
        const [oh, ow, c] = shape;
        const name = this.graph.op(
          node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool',
          [this.nchw(x)],
          { kernel_shape: [kh, kw], strides: [sh, sw], pads },
          [c, oh, ow],
        );
        return { name, layout: 'nchw', shape };
      }
      case 'Mean':
        return this.mean(this.value(inputs[0]), this.intsOf(inputs[1]), Boolean(attr.keep_dims?.b), shape);
      case 'Squeeze':
      case 'Reshape':
        return {
          name: this.graph.op('Reshape', [this.plain(this.value(inputs[0])), this.graph.ints([-1, ...shape])], {}, shape),
          layout: 'plain',
          shape,
        };
      case 'MatMul':
        return this.matMul(node, inputs, shape);
      case 'Softmax': {
        const x = this.value(inputs[0]);
        return { name: this.graph.op('Softmax', [this.plain(x)], { axis: -1 }, shape), layout: 'plain', shape };
      }
      case 'Pad':
      case 'PadV2': {
        const paddings = this.intsOf(inputs[1]);
        if (paddings.length !== 8 || paddings[0] || paddings[1] || paddings[6] || paddings[7])
          throw new UnsupportedLayerError('padding other than height and width');
        const value = node.op === 'PadV2' ? (this.source.constant(inputs[2])?.data[0] ?? 0) : 0;
        const [oh, ow, c] = shape;
        const pads = this.graph.ints([0, 0, paddings[2], paddings[4], 0, 0, paddings[3], paddings[5]]);
        return {
          name: this.graph.op('Pad', [this.nchw(this.value(inputs[0])), pads, this.graph.scalar(value)], { mode: 'constant' }, [c, oh, ow]),
          layout: 'nchw',
          shape,
        };
      }
      case 'ConcatV2': {
        const axis = this.intsOf(inputs[inputs.length - 1])[0];
        const parts = inputs.slice(0, -1).map((input) => this.value(input));
        const channels = shape.length === 3 && (axis === 3 || axis === -1);
        const names = parts.map((part) => (channels ? this.nchw(part) : this.plain(part)));
        const [h, w, c] = shape;
        return {
          name: this.graph.op(
            'Concat',
            names,
            { axis: channels ? 1 : axis < 0 ? axis + shape.length + 1 : axis },
            channels ? [c, h, w] : shape,
          ),
          layout: channels ? 'nchw' : 'plain',
          shape,
        };
      }
      default:
        throw new UnsupportedLayerError('no ONNX export for this op');
    }
  }

  /** An elementwise op keeping the input's layout. */
  private same(x: GraphValue, op: string, extra: string[], attributes = {}): GraphValue {
    return { name: this.graph.op(op, [x.name, ...extra], attributes, this.graph.shapeOf(x.name)), layout: x.layout, shape: x.shape };
  }

  private constantFloats(name: string): { data: Float32Array; shape: number[] } {
    const found = this.source.constant(name);
    if (!found) throw new UnsupportedLayerError(`"${name}" is computed where a constant is needed`);
    return { data: Float32Array.from(found.data), shape: found.shape };
  }

  private intsOf(name: string): number[] {
    const found = this.source.constant(name);
    if (!found) throw new UnsupportedLayerError(`"${name}" is computed where a constant is needed`);
    return Array.from(found.data, Number);
  }

  /**
   * A constant operand in the other operand's layout: per-channel vectors (and [1, 1, 1, c]) broadcast over
   * channels-first tensors as [c, 1, 1]; scalars as they are.
   */
  private operand(name: string, partner: GraphValue): string {
    const { data, shape } = this.constantFloats(name);
    if (data.length === 1) return this.graph.scalar(data[0]);
    const channels = partner.shape[partner.shape.length - 1];
    if (data.length !== channels || shape.slice(0, -1).some((d) => d !== 1))
      throw new UnsupportedLayerError(`a constant of shape [${shape}] broadcast over [${partner.shape}]`);
    return this.graph.floats(data, partner.layout === 'nchw' ? [channels, 1, 1] : [channels], 'k');
  }

  private binary(op: string, inputs: string[], shape: number[]): GraphValue {
    const constants = inputs.map((input) => this.source.constant(input) !== null);
    if (constants.every(Boolean)) throw new UnsupportedLayerError('an op on constants alone');
    if (constants.some(Boolean)) {
      const x = this.value(inputs[constants[0] ? 1 : 0]);
      const k = this.operand(inputs[constants[0] ? 0 : 1], x);
      const operands = constants[0] ? [k, x.name] : [x.name, k];
      return { name: this.graph.op(op, operands, {}, this.graph.shapeOf(x.name)), layout: x.layout, shape };
    }
    const [a, b] = inputs.map((input) => this.value(input));
    if (a.shape.join() !== b.shape.join()) throw new UnsupportedLayerError('inputs of different shapes (broadcasting)');
    const channelsFirst = a.shape.length === 3;
    const names = [a, b].map((v) => (channelsFirst ? this.nchw(v) : this.plain(v)));
    return { name: this.graph.op(op, names, {}, this.graph.shapeOf(names[0])), layout: channelsFirst ? 'nchw' : 'plain', shape };
  }

  private convolution(node: TfNode, inputs: string[], shape: number[]): GraphValue {
    const attr = node.attr ?? {};
    const depthwise = node.op.includes('Depthwise');
    const x = this.value(inputs[0]);
    const kernel = this.constantFloats(inputs[1]);
    const [kh, kw, cin, last] = kernel.shape;
    const [, sh, sw] = ints(attr.strides);
    const dilations = ints(attr.dilations);
    const [dh, dw] = dilations.length === 4 ? [dilations[1], dilations[2]] : [1, 1];
    const paddingKind = text(attr.padding?.s);
    const explicit = ints(attr.explicit_paddings);
    const pads =
      paddingKind === 'EXPLICIT'
        ? [explicit[2], explicit[4], explicit[3], explicit[5]]
        : this.padsFor(paddingKind === 'SAME' ? 'same' : 'valid', x.shape, [kh, kw], [sh, sw], [dh, dw]);
    const outChannels = depthwise ? cin * last : last;
    const operands = [
      this.nchw(x),
      this.graph.floats(onnxKernel(kernel.data, kernel.shape, depthwise), [outChannels, depthwise ? 1 : cin, kh, kw], 'W'),
    ];
    const fused = (attr.fused_ops?.list?.s ?? []).map(text);
    const [oh, ow] = shape;
    const attributes = { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads, group: depthwise ? cin : 1 };
    if (fused[0] === 'BiasAdd') operands.push(this.graph.floats(this.constantFloats(inputs[2]).data, [outChannels], 'B'));
    // tfjs-converter runs BiasAdd (then an activation) fused into a convolution, nothing else.
    if (fused.length && fused[0] !== 'BiasAdd') throw new UnsupportedLayerError(`fused ${fused[0]}`);
    const out: GraphValue = { name: this.graph.op('Conv', operands, attributes, [outChannels, oh, ow]), layout: 'nchw', shape };
    switch (fused[1]) {
      case undefined:
        return out;
      case 'Relu':
      case 'Elu':
      case 'Sigmoid':
      case 'Tanh':
        return this.same(out, fused[1], []);
      case 'Relu6':
        return this.same(out, 'Clip', [this.graph.scalar(0), this.graph.scalar(6)]);
      case 'LeakyRelu':
        return this.same(out, 'LeakyRelu', [], { alpha: { float: attr.leakyrelu_alpha?.f ?? 0.2 } });
      default:
        throw new UnsupportedLayerError(`fused ${fused[1]}`);
    }
  }

  /** Inference batch norm from its constants (scale, offset, mean, variance) as a per-channel Mul and Add. */
  private batchNorm(x: GraphValue, [scale, offset, mean, variance]: string[], epsilon: number): GraphValue {
    const [g, b, m, v] = [scale, offset, mean, variance].map((name) => this.constantFloats(name).data);
    const factor = g.map((s, c) => s / Math.sqrt(v[c] + epsilon));
    const shift = b.map((o, c) => o - m[c] * factor[c]);
    const dims = x.layout === 'nchw' ? [g.length, 1, 1] : [g.length];
    const scaled = this.same(x, 'Mul', [this.graph.floats(factor, dims, 'bn_scale')]);
    return this.same(scaled, 'Add', [this.graph.floats(shift, dims, 'bn_shift')]);
  }

  private mean(x: GraphValue, axes: number[], keepDims: boolean, shape: number[]): GraphValue {
    const spatial =
      x.shape.length === 3 &&
      axes.length === 2 &&
      axes
        .map((a) => (a < 0 ? a + 4 : a))
        .sort()
        .join() === '1,2';
    if (!spatial) throw new UnsupportedLayerError('a mean over other axes than height and width');
    const c = x.shape[2];
    const pooled = this.graph.op('GlobalAveragePool', [this.nchw(x)], {}, [c, 1, 1]);
    if (keepDims) return { name: pooled, layout: 'nchw', shape };
    return { name: this.graph.op('Flatten', [pooled], { axis: 1 }, [c]), layout: 'plain', shape };
  }

  private matMul(node: TfNode, inputs: string[], shape: number[]): GraphValue {
    const attr = node.attr ?? {};
    if (attr.transpose_a?.b) throw new UnsupportedLayerError('a transposed left operand');
    const x = this.value(inputs[0]);
    if (x.shape.length !== 1) throw new UnsupportedLayerError('a matrix product of a batch of matrices');
    const { data, shape: kernelShape } = this.constantFloats(inputs[1]);
    const [rows, columns] = kernelShape;
    const weights = this.graph.floats(data, [rows, columns], 'W');
    return {
      name: this.graph.op('Gemm', [this.plain(x), weights], { transB: attr.transpose_b?.b ? 1 : 0 }, shape),
      layout: 'plain',
      shape,
    };
  }
}
