/** Tiny ONNX models written in the tests with protobufjs and the bundled ONNX schema. */
import * as protobuf from 'protobufjs';
import schema from '../../../src/engine/accel/onnxSchema.json';

const root = protobuf.Root.fromJSON(schema as protobuf.INamespace);
const ModelProto = root.lookupType('onnx.ModelProto');

export type Attr = number | number[] | string | { float: number } | { floats: number[] };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, Attr>;
}

export interface Initializer {
  name: string;
  dims: number[];
  data: number[];
  /** 1 float (default), 7 int64, 11 double. */
  dataType?: number;
  /** Store as raw little-endian bytes (as exporters do) instead of float_data / int64_data. */
  raw?: boolean;
  external?: { location: string; offset?: number; length?: number };
}

export interface GraphSpec {
  nodes: NodeSpec[];
  initializers?: Initializer[];
  inputs: { name: string; dims: (number | string)[] }[];
  outputs: { name: string; dims: (number | string)[] }[];
  opset?: number;
  /** Doubles where floats would be: inputs, outputs and float initializers (a float64 twin of the graph). */
  double?: boolean;
}

function attribute(name: string, value: Attr): Record<string, unknown> {
  if (typeof value === 'string') return { name, type: 3, s: Buffer.from(value) };
  if (Array.isArray(value)) return { name, type: 7, ints: value };
  if (typeof value === 'number') return { name, type: 2, i: value };
  if ('float' in value) return { name, type: 1, f: value.float };
  return { name, type: 6, floats: value.floats };
}

function valueInfo({ name, dims }: { name: string; dims: (number | string)[] }, elemType = 1) {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function tensor(init: Initializer) {
  const dataType = init.dataType ?? 1;
  const base: Record<string, unknown> = { name: init.name, dims: init.dims, dataType };
  if (init.external) {
    const entries = Object.entries(init.external).map(([key, value]) => ({ key, value: String(value) }));
    return { ...base, dataLocation: 1, externalData: entries };
  }
  if (init.raw) {
    const bytes =
      dataType === 7 ? Buffer.from(new BigInt64Array(init.data.map(BigInt)).buffer) : Buffer.from(new Float32Array(init.data).buffer);
    return { ...base, rawData: bytes };
  }
  if (dataType === 11) return { ...base, doubleData: init.data };
  return dataType === 7 ? { ...base, int64Data: init.data } : { ...base, floatData: init.data };
}

export function encodeModel(spec: GraphSpec): Uint8Array {
  const message = ModelProto.fromObject({
    irVersion: 8,
    producerName: 'cnn-lens-test',
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
    graph: {
      name: 'test',
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.op}_${i}`,
        opType: n.op,
        domain: n.domain ?? '',
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: (spec.initializers ?? []).map((init) =>
        tensor(spec.double && (init.dataType ?? 1) === 1 ? { ...init, dataType: 11 } : init),
      ),
      input: spec.inputs.map((info) => valueInfo(info, spec.double ? 11 : 1)),
      output: spec.outputs.map((info) => valueInfo(info, spec.double ? 11 : 1)),
    },
  });
  return ModelProto.encode(message).finish();
}

/** Deterministic values in [-1, 1). */
export function pseudoRandom(count: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
}
