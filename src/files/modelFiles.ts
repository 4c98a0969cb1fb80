/**
 * Reads a TF.js model (model.json + weight shards) from disk and validates it completely before
 * tfjs sees it: tfjs's own errors for broken files are cryptic ("the tensor should have 288 values
 * but has 265") or silent (extra bytes), and each failed load leaks tensors. What the model declares is
 * checked against the budgets (ModelLimits: weight bytes, tensor sizes, layer count, nesting) before a
 * shard is opened; the shards are read through the model's folder (modelFolder.ts): regular files inside
 * it, exactly the declared bytes.
 */
import * as path from 'node:path';
import type { io } from '@tensorflow/tfjs-core';
import { fileKindOf, MAX_MODEL_JSON_BYTES } from './formats';
import {
  checkLimit,
  ModelError,
  ModelFolder,
  modelLimits,
  overLimit,
  readCappedFile,
  type ModelLimits,
  type OpenedFile,
} from './modelFolder';

export { ModelError };
export type { ModelLimits };

export type TfjsFormat = 'layers' | 'graph';
export type { ModelFormat } from './formats';

export interface ModelFiles {
  dir: string;
  modelJsonPath: string;
  format: TfjsFormat;
  artifacts: io.ModelArtifacts;
  /** model.json plus every shard, in bytes. */
  sizeOnDisk: number;
}

export { MAX_MODEL_JSON_BYTES };

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string };
}

export function weightBytes(spec: WeightSpec, file: string): number {
  if (typeof spec !== 'object' || spec === null) throw new ModelError(`${file}: a weightsManifest weight is not an object.`);
  const storedType = spec.quantization?.dtype ?? spec.dtype;
  const size = BYTES_PER_ELEMENT[storedType];
  if (size === undefined) {
    throw new ModelError(`${file}: weight "${spec.name}" has dtype "${storedType}", which CNN Lens cannot read.`);
  }
  if (!Array.isArray(spec.shape) || spec.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ModelError(`${file}: weight "${spec.name}" has an invalid shape ${JSON.stringify(spec.shape)}.`);
  }
  return weightElements(spec) * size;
}

export function weightElements(spec: WeightSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

/** What to read a model with: its budgets (defaults: DEFAULT_MODEL_LIMITS and CNN_LENS_MODEL_LIMITS) and a cancel signal. */
export interface ReadModelOptions {
  limits?: Partial<ModelLimits>;
  signal?: AbortSignal;
}

/** A manifest path must name a file inside the model's folder: no "..", no absolute paths, no URLs. */
export function resolveShardPath(dir: string, shard: unknown, file: string): string {
  if (typeof shard !== 'string' || shard.length === 0) {
    throw new ModelError(`${file}: a weightsManifest path is not a file name.`);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(shard) || path.isAbsolute(shard)) {
    throw new ModelError(`${file}: weight file "${shard}" must be a relative path inside the model's folder.`);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(shard);
  } catch {
    throw new ModelError(`${file}: weight file "${shard}" is not a valid file name.`);
  }
  const resolved = path.resolve(dir, decoded);
  const relative = path.relative(dir, resolved);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new ModelError(`${file}: weight file "${shard}" points outside the model's folder.`);
  }
  return resolved;
}

export function formatOf(json: Record<string, unknown>, file: string): TfjsFormat {
  const topology = json.modelTopology as Record<string, unknown> | null | undefined;
  if (!topology || typeof topology !== 'object') {
    throw new ModelError(`${file} has no modelTopology: it is a weights-only manifest, not a model.`);
  }
  if (json.format === 'graph-model' || Array.isArray(topology.node)) return 'graph';
  if (json.format === 'layers-model' || 'class_name' in topology || 'model_config' in topology) return 'layers';
  throw new ModelError(`${file}: modelTopology is neither a Keras (layers) nor a TensorFlow graph topology.`);
}

async function readJson(file: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const bytes = await readCappedFile(
    file,
    file,
    `Model file not found: ${file}`,
    MAX_MODEL_JSON_BYTES,
    (size) => `${file} is ${size} bytes; too large for a model.json.`,
    signal,
  );
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new ModelError(`${file} is not valid JSON (${(error as Error).message}).`);
  }
}

/**
 * The topology's size, walked without recursion (a deep one must not overflow the stack here or in tfjs):
 * its JSON nesting, and its layers (every layer list, nested models' included) or graph nodes. `what` names
 * it in the messages (a Keras file's is "the model config").
 */
export function checkTopology(topology: unknown, format: TfjsFormat, file: string, limits: ModelLimits, what = 'the modelTopology'): void {
  const stack: [unknown, number][] = [[topology, 1]];
  let layers = 0;
  while (stack.length) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > limits.maxNesting) throw overLimit(file, `${what} nests at least $value levels deep`, depth, limits, 'maxNesting');
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
      continue;
    }
    const record = value as Record<string, unknown>;
    if (format === 'layers' && typeof record.class_name === 'string') {
      const config = record.config as Record<string, unknown> | unknown[] | undefined;
      const list = Array.isArray(config) ? config : Array.isArray(config?.layers) ? config.layers : null;
      if (list) {
        layers += list.length;
        if (layers > limits.maxLayers) throw overLimit(file, `${what} has $value layers`, layers, limits, 'maxLayers');
      }
    }
    for (const item of Object.values(record)) if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
  }
  if (format === 'graph') {
    const nodes = (topology as { node?: unknown[] }).node?.length ?? 0;
    checkLimit(file, 'the graph has $value nodes', nodes, limits, 'maxGraphNodes');
  }
}

/** Accepts a model.json path or its folder, or a single-file model (.onnx, .keras, .h5), returned as is. */
export function modelJsonPathOf(modelPath: string): string {
  return fileKindOf(modelPath).id !== 'tfjs' || path.basename(modelPath).toLowerCase().endsWith('.json')
    ? modelPath
    : path.join(modelPath, 'model.json');
}

export async function readModelFiles(modelPath: string, options: ReadModelOptions = {}): Promise<ModelFiles> {
  const limits = modelLimits(options.limits);
  const modelJsonPath = path.resolve(modelJsonPathOf(modelPath));
  const dir = path.dirname(modelJsonPath);
  const json = await readJson(modelJsonPath, options.signal);
  const format = formatOf(json, modelJsonPath);
  checkTopology(json.modelTopology, format, modelJsonPath, limits);

  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw new ModelError(`${modelJsonPath} has no weightsManifest.`);

  // Everything the manifest declares, checked against the budgets before a shard is opened.
  const groups: { paths: unknown[]; specs: WeightSpec[]; expected: number }[] = [];
  let declared = 0;
  for (const group of manifest as { paths?: unknown; weights?: unknown }[]) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new ModelError(`${modelJsonPath}: a weightsManifest entry lacks "paths" or "weights".`);
    }
    const specs = group.weights as WeightSpec[];
    let expected = 0;
    for (const spec of specs) {
      const bytes = weightBytes(spec, modelJsonPath);
      checkLimit(
        modelJsonPath,
        `weight "${spec?.name}" ${JSON.stringify(spec.shape)} has $value elements`,
        weightElements(spec),
        limits,
        'maxTensorElements',
      );
      expected += bytes;
    }
    declared += expected;
    checkLimit(modelJsonPath, 'the weightsManifest declares $value of weights', declared, limits, 'maxWeightBytes');
    groups.push({ paths: group.paths, specs, expected });
  }

  // One buffer of exactly the declared size; each shard is a regular file inside the folder, and the
  // shards' sizes must add up to their group's declared bytes before a byte is read.
  const folder = await ModelFolder.of(dir, modelJsonPath, limits);
  const all = new Uint8Array(declared);
  const weightSpecs: WeightSpec[] = [];
  let offset = 0;
  for (const { paths, specs, expected } of groups) {
    const opened: OpenedFile[] = [];
    try {
      for (const shard of paths) {
        if (typeof shard !== 'string' || shard.length === 0)
          throw new ModelError(`${modelJsonPath}: a weightsManifest path is not a file name.`);
        opened.push(await folder.open(shard, 'weight file', true));
      }
      const actual = opened.reduce((sum, file) => sum + file.size, 0);
      if (actual !== expected) throw new ModelError(describeSizeMismatch(modelJsonPath, paths as string[], specs, expected, actual));
      for (const file of opened) {
        await file.read(0, file.size, options.signal, all.subarray(offset, offset + file.size));
        offset += file.size;
      }
    } finally {
      await Promise.all(opened.map((file) => file.close()));
    }
    weightSpecs.push(...specs);
  }

  const weightData = all.buffer;
  const artifacts: io.ModelArtifacts = {
    modelTopology: json.modelTopology as io.ModelArtifacts['modelTopology'],
    format: json.format as string | undefined,
    generatedBy: json.generatedBy as string | undefined,
    convertedBy: json.convertedBy as string | null | undefined,
    signature: json.signature as object | undefined,
    userDefinedMetadata: json.userDefinedMetadata as io.ModelArtifacts['userDefinedMetadata'],
    modelInitializer: json.modelInitializer as object | undefined,
    weightSpecs: weightSpecs as io.WeightsManifestEntry[],
    weightData,
  };
  return { dir, modelJsonPath, format, artifacts, sizeOnDisk: Buffer.byteLength(JSON.stringify(json)) + declared };
}

/** Names the first weight that the shards cannot hold (or says how many bytes are extra). */
function describeSizeMismatch(file: string, shards: string[], specs: WeightSpec[], expected: number, actual: number): string {
  const files = shards.join(', ');
  if (actual > expected) {
    return `${file}: weight file(s) ${files} hold ${actual} bytes but the weight specs need ${expected}; the model and its weights do not match.`;
  }
  let offset = 0;
  for (const spec of specs) {
    offset += weightBytes(spec, file);
    if (offset > actual) {
      return `${file}: weight file(s) ${files} end after ${actual} of ${expected} bytes; weight "${spec.name}" ${JSON.stringify(spec.shape)} is cut short (truncated download?).`;
    }
  }
  return `${file}: weight file(s) ${files} have ${actual} bytes, expected ${expected}.`;
}
