/**
 * Reads an `.onnx` file: protobufjs decodes it with the ONNX project's own schema (accel/onnx.proto, bundled
 * as protobufjs's JSON descriptor accel/onnxSchema.json, which the onnxruntime exports write with too;
 * regenerate with scripts/onnx-schema.mjs), then everything CNN Lens relies on is checked before a tensor is made: file size, tensor data lengths against their
 * dims, data types, attribute kinds. What the tensors declare is checked against the budgets (ModelLimits:
 * elements per tensor, bytes in all) before any is made. Tensors stored outside the file (external data)
 * are read through the model's folder (modelFolder.ts): regular files inside it, only the declared byte
 * ranges, each distinct range once, their total within the weight budget.
 */
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { ModelError, type ReadModelOptions } from '../../../files/modelFiles';
import { checkLimit, ModelFolder, modelLimits, readCappedFile, type ModelLimits } from '../../../files/modelFolder';
import schema from '../../accel/onnxSchema.json';
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
const DT = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;
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
      case DT.FLOAT:
        return view.getFloat32(i * 4, true);
      case DT.DOUBLE:
        return view.getFloat64(i * 8, true);
      case DT.FLOAT16:
        return halfToFloat(view.getUint16(i * 2, true));
      case DT.UINT8:
      case DT.BOOL:
        return view.getUint8(i);
      case DT.INT8:
        return view.getInt8(i);
      case DT.UINT16:
        return view.getUint16(i * 2, true);
      case DT.INT16:
        return view.getInt16(i * 2, true);
      case DT.INT32:
        return view.getInt32(i * 4, true);
      case DT.UINT32:
        return clampInt(view.getUint32(i * 4, true));
      case DT.INT64:
        return clampInt(view.getBigInt64(i * 8, true));
      default:
        return 0;
    }
  };
  const out =
    dataType === DT.BOOL ? new Uint8Array(count) : dtypeOf(dataType, '') === 'float32' ? new Float32Array(count) : new Int32Array(count);
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
  read(location: string, offset: number, length: number): Uint8Array;
}

/** A tensor's bytes in an external data file, as its TensorProto declares them. */
interface ExternalRange {
  location: string;
  offset: number;
  length: number;
}

function externalRange(proto: TensorProtoLike, label: string, dims: number[], count: number, dataType: number): ExternalRange {
  const entries = new Map((proto.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new ModelError(`${label} is external data without a "location".`);
  const expected = count * RAW_BYTES[dataType];
  const offset = entries.has('offset') ? Number(entries.get('offset')) : 0;
  const length = entries.has('length') ? Number(entries.get('length')) : expected;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ModelError(
      `${label}: external data "${location}" offset ${entries.get('offset')} length ${entries.get('length')} is not a byte range.`,
    );
  }
  if (length !== expected) {
    throw new ModelError(
      `${label} ${JSON.stringify(dims)} declares ${length} bytes of external data, expected ${expected} (the file is damaged or truncated).`,
    );
  }
  return { location, offset, length };
}

function checkedDims(proto: TensorProtoLike, label: string, maxElements: number): { dims: number[]; count: number } {
  const dims = (proto.dims ?? []).map(int64);
  if (dims.some((d) => d < 0)) throw new ModelError(`${label} has a negative dimension ${JSON.stringify(dims)}.`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count > maxElements)
    throw new ModelError(
      `${label} ${JSON.stringify(dims)} has ${count} elements; too large for CNN Lens (limit ${maxElements}: maxTensorElements).`,
    );
  return { dims, count };
}

function tensorFrom(proto: TensorProtoLike, where: string, external: ExternalReader | null): OnnxTensor {
  const name = proto.name ?? '';
  const label = `${where} tensor "${name}"`;
  const { dims, count } = checkedDims(proto, label, MAX_ELEMENTS);
  const dataType = proto.dataType ?? 0;
  const dtype = dtypeOf(dataType, label);
  let raw = proto.rawData && proto.rawData.length > 0 ? proto.rawData : null;
  if (proto.dataLocation === 1) {
    if (!external)
      throw new ModelError(`${label} is stored in an external data file; load the model from its .onnx file so the data can be read.`);
    const { location, offset, length } = externalRange(proto, label, dims, count, dataType);
    raw = external.read(location, offset, length);
  }
  if (raw) {
    const expected = count * RAW_BYTES[dataType];
    if (raw.length !== expected) {
      throw new ModelError(
        `${label} ${JSON.stringify(dims)} holds ${raw.length} bytes of data, expected ${expected} (the file is damaged or truncated).`,
      );
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
    throw new ModelError(
      `${label} ${JSON.stringify(dims)} holds ${values.length} values, expected ${count} (the file is damaged or truncated).`,
    );
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
  return (
    a.type ||
    (a.t
      ? 4
      : a.s?.length
        ? 3
        : a.ints?.length
          ? 7
          : a.floats?.length
            ? 6
            : a.strings?.length
              ? 8
              : a.g
                ? 5
                : a.i !== undefined && int64(a.i) !== 0
                  ? 2
                  : 1)
  );
}

function attributeValue(a: AttributeLike, where: string, external: ExternalReader | null): AttributeValue {
  switch (attributeType(a)) {
    case 1:
      return a.f ?? 0;
    case 2:
      return int64(a.i);
    case 3:
      return text(a.s);
    case 4:
      return tensorFrom(a.t ?? {}, `${where} attribute "${a.name}"`, external);
    case 6:
      return a.floats ?? [];
    case 7:
      return (a.ints ?? []).map(int64);
    case 8:
      return (a.strings ?? []).map(text);
    default:
      return null; // graphs, sparse tensors, type protos: no supported op reads them
  }
}

interface ValueInfoLike {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: Int64; dimParam?: string }[] } } };
}

function valueInfo(v: ValueInfoLike): OnnxValueInfo {
  const tensorType = v.type?.tensorType;
  const dims = tensorType?.shape?.dim
    ? tensorType.shape.dim.map((d) => (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam ? int64(d.dimValue) : null))
    : null;
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
export function decodeOnnx(
  bytes: Uint8Array,
  file: string,
  external: ExternalReader | null = null,
  limits: ModelLimits = modelLimits(),
): OnnxModel {
  const message = decodeMessage(bytes, file);
  planTensors(message, file, limits);
  return onnxModelOf(message, file, external);
}

function decodeMessage(bytes: Uint8Array, file: string): ModelLike {
  try {
    return ModelProto.decode(bytes) as unknown as ModelLike;
  } catch (error) {
    throw new ModelError(
      `${file} is not a readable ONNX model (${(error as Error).message}); the file may be truncated or not an .onnx file.`,
    );
  }
}

/**
 * Checks what the graph's tensors (initializers and tensor attributes) declare against the budgets, before
 * any is made or read: elements per tensor, bytes in memory in all, and the distinct external-data ranges
 * (several tensors naming one range read it once; their total is within the weight budget too).
 */
function planTensors(message: ModelLike, file: string, limits: ModelLimits): ExternalRange[] {
  const graph = message.graph;
  const tensors: [TensorProtoLike, string][] = (graph?.initializer ?? []).map((t) => [t, `${file} tensor "${t.name ?? ''}"`]);
  for (const node of graph?.node ?? []) {
    for (const a of node.attribute ?? [])
      if (attributeType(a) === 4 && a.t)
        tensors.push([a.t, `${file}: node "${node.name ?? ''}" attribute "${a.name}" tensor "${a.t.name ?? ''}"`]);
  }
  let memory = 0;
  const ranges = new Map<string, ExternalRange>();
  for (const [proto, label] of tensors) {
    const { dims, count } = checkedDims(proto, label, MAX_ELEMENTS);
    checkLimit(label, `${JSON.stringify(dims)} has $value elements`, count, limits, 'maxTensorElements');
    const dataType = proto.dataType ?? 0;
    memory += count * (dtypeOf(dataType, label) === 'bool' ? 1 : 4);
    if (proto.dataLocation === 1) {
      const range = externalRange(proto, label, dims, count, dataType);
      ranges.set(rangeKey(range.location, range.offset, range.length), range);
    }
  }
  checkLimit(file, 'the tensors declared need $value', memory, limits, 'maxWeightBytes');
  const external = [...ranges.values()].reduce((sum, r) => sum + r.length, 0);
  checkLimit(file, 'the external data declared is $value', external, limits, 'maxWeightBytes');
  return [...ranges.values()];
}

const rangeKey = (location: string, offset: number, length: number) => `${location}\u0000${offset}\u0000${length}`;

function onnxModelOf(message: ModelLike, file: string, external: ExternalReader | null): OnnxModel {
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

/**
 * Reads the declared external-data ranges, each distinct one once, from regular files inside the model's
 * folder; a range past a file's end is refused before anything is read from it.
 */
async function readExternal(ranges: ExternalRange[], folder: ModelFolder, signal?: AbortSignal): Promise<ExternalReader> {
  const read = new Map<string, Uint8Array>();
  const byLocation = new Map<string, ExternalRange[]>();
  for (const range of ranges) byLocation.set(range.location, [...(byLocation.get(range.location) ?? []), range]);
  for (const [location, wanted] of byLocation) {
    const opened = await folder.open(location, 'external data');
    try {
      const past = wanted.find((r) => r.offset + r.length > opened.size);
      if (past) {
        throw new ModelError(
          `${folder.file}: external data "${location}" has ${opened.size} bytes; bytes ${past.offset}–${past.offset + past.length} were asked for (truncated file?).`,
        );
      }
      for (const r of wanted) read.set(rangeKey(location, r.offset, r.length), await opened.read(r.offset, r.length, signal));
    } finally {
      await opened.close();
    }
  }
  return {
    read(location, offset, length) {
      const bytes = read.get(rangeKey(location, offset, length));
      if (!bytes)
        throw new ModelError(`${folder.file}: external data "${location}" bytes ${offset}–${offset + length} were not planned for.`);
      return bytes;
    },
  };
}

export async function readOnnxFile(file: string, options: ReadModelOptions = {}): Promise<{ model: OnnxModel; sizeOnDisk: number }> {
  const limits = modelLimits(options.limits);
  const bytes = await readCappedFile(
    file,
    file,
    `Model file not found: ${file}`,
    MAX_ONNX_BYTES,
    (size) => `${file} is ${size} bytes; larger than the ${MAX_ONNX_BYTES} bytes CNN Lens reads.`,
    options.signal,
  );
  if (bytes.length === 0) throw new ModelError(`${file} is empty.`);
  const message = decodeMessage(bytes, file);
  const ranges = planTensors(message, file, limits);
  const external = await readExternal(ranges, await ModelFolder.of(path.dirname(file), file, limits), options.signal);
  const model = onnxModelOf(message, file, external);
  return { model, sizeOnDisk: bytes.length };
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
