/**
 * A small ONNX graph under construction: nodes, float/int64 constants, inputs and outputs, encoded with
 * the same onnx.proto descriptor (onnxSchema.json, beside it) the importer reads. Static shapes are tracked per tensor (batch left out)
 * because gradients need them (a transposed convolution's output padding, a pooling's extent).
 */
import * as protobuf from 'protobufjs';
import schema from './onnxSchema.json';

/** The opset written: ScatterElements' reduction (MaxPool gradients) needs 16. */
export const OPSET = 17;

export type AttributeValue = number | number[] | string | string[] | { float: number } | { floats: number[] } | { tensor: TensorData };

/** A tensor's values in one of the types CNN Lens writes. */
export interface TensorData {
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
  /** TensorProto.DataType; for Uint8Array data: BOOL or UINT8. */
  dataType: number;
}

export interface GraphNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

interface Constant extends TensorData {
  name: string;
}

const root = protobuf.Root.fromJSON(schema as protobuf.INamespace);
const ModelProto = root.lookupType('onnx.ModelProto');
const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;
export const DATA_TYPE = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9 } as const;

export class OnnxGraph {
  readonly nodes: GraphNode[] = [];
  /** Shape of each tensor without its batch dimension (as ONNX lays it out). */
  readonly shapes = new Map<string, number[]>();
  private readonly constants = new Map<string, Constant>();
  private readonly inputs: { name: string; shape: number[] }[] = [];
  private readonly outputs: string[] = [];
  private counter = 0;

  /** `opset`: the default-domain opset the graph is written against (an imported model keeps its own). */
  constructor(readonly opset = OPSET) {}

  fresh(hint: string): string {
    return `${hint.replace(/[^A-Za-z0-9_]/g, '_')}_${this.counter++}`;
  }

  input(name: string, shape: number[]): string {
    this.inputs.push({ name, shape });
    this.shapes.set(name, shape);
    return name;
  }

  /** Makes a graph input an internal tensor (nodes added later compute it; see `moveToFront`). */
  removeInput(name: string): void {
    const i = this.inputs.findIndex((input) => input.name === name);
    if (i >= 0) this.inputs.splice(i, 1);
  }

  /** Moves the nodes added since `count` nodes existed to the front (they compute what the rest reads). */
  moveToFront(count: number): void {
    this.nodes.unshift(...this.nodes.splice(count));
  }

  output(name: string): void {
    this.outputs.push(name);
  }

  /** Makes `source` a graph output called `name` (an Identity node: outputs need names of their own). */
  nameOutput(source: string, name: string): string {
    this.nodes.push({ op: 'Identity', inputs: [source], outputs: [name], attributes: {} });
    this.shapes.set(name, this.shapes.get(source) ?? []);
    this.outputs.push(name);
    return name;
  }

  floats(data: Float32Array, dims: number[], hint = 'const'): string {
    const name = this.fresh(hint);
    this.constants.set(name, { name, dims, data, dataType: DATA_TYPE.FLOAT });
    return name;
  }

  /** A constant under its own name (an imported model's initializer). */
  constant(name: string, dims: number[], data: TensorData['data'], dataType: number): void {
    this.constants.set(name, { name, dims, data, dataType });
  }

  ints(values: number[], hint = 'ints'): string {
    const name = this.fresh(hint);
    this.constants.set(name, { name, dims: [values.length], data: BigInt64Array.from(values.map(BigInt)), dataType: DATA_TYPE.INT64 });
    return name;
  }

  scalar(value: number): string {
    return this.floats(Float32Array.of(value), [], 'scalar');
  }

  /** The value of a float constant, or undefined for computed tensors (gradients treat constants as fixed). */
  constantValue(name: string): { dims: number[]; data: Float32Array } | undefined {
    const constant = this.constants.get(name);
    return constant && constant.data instanceof Float32Array ? { dims: constant.dims, data: constant.data } : undefined;
  }

  /** The values of an integer constant (pads, shapes, slice bounds: int64, or int32 where ONNX allows it), or undefined. */
  intValues(name: string): number[] | undefined {
    const data = this.constants.get(name)?.data;
    return data instanceof BigInt64Array || data instanceof Int32Array ? Array.from(data, Number) : undefined;
  }

  /** A constant's dimensions (a scalar index and a one-element list differ only here), or undefined if computed. */
  constantDims(name: string): number[] | undefined {
    return this.constants.get(name)?.dims;
  }

  isConstant(name: string): boolean {
    return this.constants.has(name);
  }

  /** Adds a node; returns its outputs' names (the first gets `shape` when given). */
  node(op: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, shape?: number[], outputCount = 1): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(op));
    this.nodes.push({ op, inputs, outputs, attributes });
    if (shape) this.shapes.set(outputs[0], shape);
    return outputs;
  }

  /** One-output node. */
  op(op: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, shape?: number[]): string {
    return this.node(op, inputs, attributes, shape)[0];
  }

  shapeOf(name: string): number[] {
    const shape = this.shapes.get(name);
    if (!shape) throw new Error(`internal: no static shape for ${name}`);
    return shape;
  }

  encode(): Uint8Array {
    // Each input and output gets its own symbolic batch size: recipes feed one image beside a batch of masks, and
    // one shared name told onnxruntime they were equal (it then reused a one-image buffer for a whole batch).
    const valueInfo = (name: string, shape: number[] | null) => ({
      name,
      type: {
        tensorType: {
          elemType: DATA_TYPE.FLOAT,
          ...(shape ? { shape: { dim: [{ dimParam: `batch_of_${name}` }, ...shape.map((d) => ({ dimValue: d }))] } } : {}),
        },
      },
    });
    const message = ModelProto.fromObject({
      irVersion: 8,
      producerName: 'cnn-lens',
      opsetImport: [{ domain: '', version: this.opset }],
      graph: {
        name: 'cnn_lens',
        node: this.nodes.map((n, i) => ({
          name: `n${i}_${n.op}`,
          opType: n.op,
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attributes).map(([key, value]) => attribute(key, value)),
        })),
        initializer: [...this.constants.values()].map((c) => ({ name: c.name, ...tensorProto(c) })),
        input: this.inputs.map(({ name, shape }) => valueInfo(name, shape)),
        output: this.outputs.map((name) => valueInfo(name, null)),
      },
    });
    return ModelProto.encode(message).finish();
  }
}

function attribute(name: string, value: AttributeValue): Record<string, unknown> {
  if (typeof value === 'string') return { name, type: ATTRIBUTE_TYPE.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: ATTRIBUTE_TYPE.INT, i: value };
  if (Array.isArray(value) && value.some((v) => typeof v === 'string'))
    return { name, type: ATTRIBUTE_TYPE.STRINGS, strings: (value as string[]).map((v) => new TextEncoder().encode(v)) };
  if (Array.isArray(value)) return { name, type: ATTRIBUTE_TYPE.INTS, ints: value };
  if ('tensor' in value) return { name, type: ATTRIBUTE_TYPE.TENSOR, t: tensorProto(value.tensor) };
  if ('float' in value) return { name, type: ATTRIBUTE_TYPE.FLOAT, f: value.float };
  return { name, type: ATTRIBUTE_TYPE.FLOATS, floats: value.floats };
}

function tensorProto({ dims, data, dataType }: TensorData): Record<string, unknown> {
  return { dims, dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
