/**
 * Reads an `.onnx` file: protobufjs decodes it with the ONNX project's own schema (onnx.proto, bundled as
 * protobufjs's JSON descriptor onnxSchema.json; regenerate with scripts/onnx-schema.mjs), then everything
 * CNN Lens relies on is checked before a tensor is made: file size, tensor data lengths against their
 * dims, data types, attribute kinds. Tensors stored outside the file (external data) are read only from
 * the model's own folder.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { ModelError } from '../modelFiles';
import schema from './onnxSchema.json';
import { halfToFloat } from '../halfFloat';

/** ONNX caps a protobuf at 2 GB; CNN Lens explains image classifiers, which are far smaller. */
export const MAX_ONNX_BYTES = 1024 * 1024 * 1024;
const MAX_ELEMENTS = 2 ** 28;

export type OnnxDtype = 'float32' | 'int32' | 'bool';

export interface OnnxTensor {
  name: string;
  dims: number[];
  dtype: OnnxDtype;
  data: Float32Array | Int32Array | Uint8Array;
  /** TensorProto.DataType as stored (dtype widens or narrows it), for writing the model out again. */
  sourceType: number;
}

export type AttributeValue = number | number[] | string | string[] | OnnxTensor | null;

export interface OnnxNode {
  /** The node's name, or its first output's when the node has none (names are optional in ONNX). */
  name: string;
  opType: string;
  domain: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, AttributeValue>;
  /** AttributeProto.AttributeType of each attribute (numbers alone do not say INT or FLOAT). */
  attributeTypes: Map<string, number>;
}

export interface OnnxValueInfo {
  name: string;
  /** null for symbolic (dim_param) or missing dimensions. */
  dims: (number | null)[] | null;
  elemType: number;
}

export interface OnnxModel {
  /** The default-domain opset the graph is written against. */
  opset: number;
  producer: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  /** Graph inputs that are not initializers: what the caller feeds. */
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

const root = protobuf.Root.fromJSON(schema as protobuf.INamespace);
const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values. */
const DT = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13 } as const;
const DT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v, k.toLowerCase()]));
const RAW_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8 };

interface LongLike {
  low: number;
  high: number;
  toNumber(): number;
}
type Int64 = number | LongLike | string;

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

/** An int64 as a JS number clamped to int32 (exporters write INT64_MAX for "to the end"). */
function clampInt(value: number | bigint): number {
  const n = Number(value);
  return n > INT32_MAX ? INT32_MAX : n < INT32_MIN ? INT32_MIN : Math.trunc(n);
}

function int64(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return clampInt(value);
  if (typeof value === 'string') return clampInt(BigInt(value));
  return clampInt(value.toNumber());
}

function dtypeOf(dataType: number, where: string): OnnxDtype {
  switch (dataType) {
    case DT.FLOAT:
    case DT.DOUBLE:
    case DT.FLOAT16:
      return 'float32';
    case DT.BOOL:
      return 'bool';
    case DT.UINT8:
    case DT.INT8:
    case DT.UINT16:
    case DT.INT16:
    case DT.INT32:
    case DT.INT64:
    case DT.UINT32:
      return 'int32';
    default:
      throw new ModelError(`${where} has data type ${DT_NAMES[dataType] ?? dataType}, which CNN Lens cannot read.`);
  }
}

function fromRaw(bytes: Uint8Array, dataType: number, count: number): Float32Array | Int32Array | Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = (i: number): number => {
    switch (dataType) {
      case DT.FLOAT: return view.getFloat32(i * 4, true);
      case DT.DOUBLE: return view.getFloat64(i * 8, true);
      case DT.FLOAT16: return halfToFloat(view.getUint16(i * 2, true));
      case DT.UINT8: case DT.BOOL: return view.getUint8(i);
      case DT.INT8: return view.getInt8(i);
      case DT.UINT16: return view.getUint16(i * 2, true);
      case DT.INT16: return view.getInt16(i * 2, true);
      case DT.INT32: return view.getInt32(i * 4, true);
      case DT.UINT32: return clampInt(view.getUint32(i * 4, true));
      case DT.INT64: return clampInt(view.getBigInt64(i * 8, true));
      default: return 0;
    }
  };
  const out = dataType === DT.BOOL ? new Uint8Array(count) : dtypeOf(dataType, '') === 'float32' ? new Float32Array(count) : new Int32Array(count);
  if (dataType === DT.FLOAT) {
    // The common case, without a per-element call.
    const copy = new Uint8Array(count * 4);
    copy.set(bytes);
    return new Float32Array(copy.buffer);
  }
  for (let i = 0; i < count; i++) out[i] = read(i);
  return out;
}

interface TensorProtoLike {
  name?: string;
  dims?: Int64[];
  dataType?: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: Int64[];
  doubleData?: number[];
  uint64Data?: Int64[];
  stringData?: Uint8Array[];
  dataLocation?: number;
  externalData?: { key?: string; value?: string }[];
  segment?: unknown;
}

interface ExternalReader {
  dir: string;
  file: string;
  read(location: string, offset: number, length: number): Uint8Array;
}

function tensorFrom(proto: TensorProtoLike, where: string, external: ExternalReader | null): OnnxTensor {
  const name = proto.name ?? '';
  const label = `${where} tensor "${name}"`;
  const dims = (proto.dims ?? []).map(int64);
  if (dims.some((d) => d < 0)) throw new ModelError(`${label} has a negative dimension ${JSON.stringify(dims)}.`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) throw new ModelError(`${label} has ${count} elements; too large for CNN Lens.`);
  const dataType = proto.dataType ?? 0;
  const dtype = dtypeOf(dataType, label);
  let raw = proto.rawData && proto.rawData.length > 0 ? proto.rawData : null;
  if (proto.dataLocation === 1) {
    if (!external) throw new ModelError(`${label} is stored in an external data file; load the model from its .onnx file so the data can be read.`);
    const entries = new Map((proto.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.get('location');
    if (!location) throw new ModelError(`${label} is external data without a "location".`);
    const length = entries.has('length') ? Number(entries.get('length')) : count * RAW_BYTES[dataType];
    raw = external.read(location, Number(entries.get('offset') ?? 0), length);
  }
  if (raw) {
    const expected = count * RAW_BYTES[dataType];
    if (raw.length !== expected) {
      throw new ModelError(`${label} ${JSON.stringify(dims)} holds ${raw.length} bytes of data, expected ${expected} (the file is damaged or truncated).`);
    }
    return { name, dims, dtype, data: fromRaw(raw, dataType, count), sourceType: dataType };
  }
  let values: number[];
  if (dataType === DT.INT64) values = (proto.int64Data ?? []).map(int64);
  else if (dataType === DT.UINT64 || dataType === DT.UINT32) values = (proto.uint64Data ?? []).map(int64);
  else if (dataType === DT.DOUBLE) values = proto.doubleData ?? [];
  else if (dataType === DT.FLOAT) values = proto.floatData ?? [];
  else if (dataType === DT.FLOAT16) values = (proto.int32Data ?? []).map(halfToFloat);
  else values = proto.int32Data ?? [];
  if (values.length !== count) {
    throw new ModelError(`${label} ${JSON.stringify(dims)} holds ${values.length} values, expected ${count} (the file is damaged or truncated).`);
  }
  const data = dtype === 'bool' ? Uint8Array.from(values) : dtype === 'float32' ? Float32Array.from(values) : Int32Array.from(values);
  return { name, dims, dtype, data, sourceType: dataType };
}

interface AttributeLike {
  name?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProtoLike;
  g?: unknown;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: unknown[];
  graphs?: unknown[];
}

const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : '');

function attributeType(a: AttributeLike): number {
  // Files from old exporters may leave `type` unset: go by the field that is present.
  return a.type || (a.t ? 4 : a.s?.length ? 3 : a.ints?.length ? 7 : a.floats?.length ? 6 : a.strings?.length ? 8 : a.g ? 5 : a.i !== undefined && int64(a.i) !== 0 ? 2 : 1);
}

function attributeValue(a: AttributeLike, where: string, external: ExternalReader | null): AttributeValue {
  switch (attributeType(a)) {
    case 1: return a.f ?? 0;
    case 2: return int64(a.i);
    case 3: return text(a.s);
    case 4: return tensorFrom(a.t ?? {}, `${where} attribute "${a.name}"`, external);
    case 6: return a.floats ?? [];
    case 7: return (a.ints ?? []).map(int64);
    case 8: return (a.strings ?? []).map(text);
    default: return null; // graphs, sparse tensors, type protos: no supported op reads them
  }
}

interface ValueInfoLike {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: Int64; dimParam?: string }[] } } };
}

function valueInfo(v: ValueInfoLike): OnnxValueInfo {
  const tensorType = v.type?.tensorType;
  const dims = tensorType?.shape?.dim ? tensorType.shape.dim.map((d) => (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam ? int64(d.dimValue) : null)) : null;
  return { name: v.name ?? '', dims, elemType: tensorType?.elemType ?? 0 };
}

interface ModelLike {
  irVersion?: Int64;
  producerName?: string;
  producerVersion?: string;
  opsetImport?: { domain?: string; version?: Int64 }[];
  graph?: {
    node?: { name?: string; opType?: string; domain?: string; input?: string[]; output?: string[]; attribute?: AttributeLike[] }[];
    initializer?: TensorProtoLike[];
    sparseInitializer?: unknown[];
    input?: ValueInfoLike[];
    output?: ValueInfoLike[];
  };
}

/** Decodes and checks an ONNX model; `file` names it in messages. */
export function decodeOnnx(bytes: Uint8Array, file: string, external: ExternalReader | null = null): OnnxModel {
  let message: ModelLike;
  try {
    message = ModelProto.decode(bytes) as unknown as ModelLike;
  } catch (error) {
    throw new ModelError(`${file} is not a readable ONNX model (${(error as Error).message}); the file may be truncated or not an .onnx file.`);
  }
  const graph = message.graph;
  if (!graph || !graph.node?.length) throw new ModelError(`${file} holds no ONNX graph (is it an .onnx model file?).`);
  if (graph.sparseInitializer?.length) throw new ModelError(`${file} has sparse initializers, which CNN Lens cannot read yet.`);
  const opsets = message.opsetImport ?? [];
  const defaultOpset = opsets.find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = defaultOpset ? int64(defaultOpset.version) : 1;
  const initializers = (graph.initializer ?? []).map((t) => tensorFrom(t, file, external));
  const initialized = new Set(initializers.map((t) => t.name));
  const names = new Set<string>();
  const nodes: OnnxNode[] = graph.node.map((n, i) => {
    const outputs = n.output ?? [];
    // Node names are optional and need not be unique; layers are addressed by them.
    let name = n.name || outputs[0] || `node_${i}`;
    if (names.has(name)) name = `${name} → ${outputs[0] ?? i}`;
    if (names.has(name)) name = `${name} #${i}`;
    names.add(name);
    const attributes = new Map((n.attribute ?? []).map((a) => [a.name ?? '', attributeValue(a, `${file}: node "${name}"`, external)]));
    const attributeTypes = new Map((n.attribute ?? []).map((a) => [a.name ?? '', attributeType(a)]));
    return { name, opType: n.opType ?? '', domain: n.domain ?? '', inputs: n.input ?? [], outputs, attributes, attributeTypes };
  });
  return {
    opset,
    producer: [message.producerName, message.producerVersion].filter(Boolean).join(' '),
    nodes,
    initializers,
    inputs: (graph.input ?? []).map(valueInfo).filter((v) => !initialized.has(v.name)),
    outputs: (graph.output ?? []).map(valueInfo),
  };
}

/** External data: a file inside the model's folder only (no "..", no absolute paths). */
function externalReader(dir: string, file: string): ExternalReader {
  const opened = new Map<string, Buffer>();
  return {
    dir,
    file,
    read(location, offset, length) {
      const resolved = path.resolve(dir, location);
      const relative = path.relative(dir, resolved);
      if (path.isAbsolute(location) || relative.startsWith('..') || path.isAbsolute(relative)) {
        throw new ModelError(`${file}: external data "${location}" points outside the model's folder.`);
      }
      let bytes = opened.get(resolved);
      if (!bytes) {
        try {
          bytes = readFileSync(resolved);
        } catch {
          throw new ModelError(`${file}: external data file "${location}" is missing.`);
        }
        opened.set(resolved, bytes);
      }
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new ModelError(`${file}: external data "${location}" has ${bytes.length} bytes; bytes ${offset}–${offset + length} were asked for (truncated file?).`);
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

export async function readOnnxFile(file: string): Promise<{ model: OnnxModel; sizeOnDisk: number }> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new ModelError(`Model file not found: ${file}`);
  }
  if (stat.isDirectory()) throw new ModelError(`${file} is a folder; expected an .onnx file.`);
  if (stat.size > MAX_ONNX_BYTES) throw new ModelError(`${file} is ${stat.size} bytes; larger than the ${MAX_ONNX_BYTES} bytes CNN Lens reads.`);
  if (stat.size === 0) throw new ModelError(`${file} is empty.`);
  const bytes = await fs.readFile(file);
  const model = decodeOnnx(bytes, file, externalReader(path.dirname(file), file));
  return { model, sizeOnDisk: stat.size };
}

const TensorProto = root.lookupType('onnx.TensorProto');

/** One serialised TensorProto (the ONNX test suites store inputs and expected outputs so). */
export function decodeTensor(bytes: Uint8Array, file: string): OnnxTensor {
  let message: TensorProtoLike;
  try {
    message = TensorProto.decode(bytes) as unknown as TensorProtoLike;
  } catch (error) {
    throw new ModelError(`${file} is not a readable ONNX tensor (${(error as Error).message}).`);
  }
  return tensorFrom(message, file, null);
}
