/**
 * Reads a TF.js model (model.json + weight shards) from disk and validates it completely before
 * tfjs sees it: tfjs's own errors for broken files are cryptic ("the tensor should have 288 values
 * but has 265") or silent (extra bytes), and each failed load leaks tensors.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { io } from '@tensorflow/tfjs-core';
import { fileKindOf } from './formats';

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

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

export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string };
}

export function weightBytes(spec: WeightSpec, file: string): number {
  const storedType = spec.quantization?.dtype ?? spec.dtype;
  const size = BYTES_PER_ELEMENT[storedType];
  if (size === undefined) {
    throw new ModelError(`${file}: weight "${spec.name}" has dtype "${storedType}", which CNN Lens cannot read.`);
  }
  if (!Array.isArray(spec.shape) || spec.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ModelError(`${file}: weight "${spec.name}" has an invalid shape ${JSON.stringify(spec.shape)}.`);
  }
  return spec.shape.reduce((a, b) => a * b, 1) * size;
}

/** A manifest path must name a file inside the model's folder: no "..", no absolute paths, no URLs. */
export function resolveShardPath(dir: string, shard: unknown, file: string): string {
  if (typeof shard !== 'string' || shard.length === 0) {
    throw new ModelError(`${file}: a weightsManifest path is not a file name.`);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(shard) || path.isAbsolute(shard)) {
    throw new ModelError(`${file}: weight file "${shard}" must be a relative path inside the model's folder.`);
  }
  const resolved = path.resolve(dir, decodeURIComponent(shard));
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

async function readJson(file: string): Promise<Record<string, unknown>> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new ModelError(`Model file not found: ${file}`);
  }
  if (stat.isDirectory()) throw new ModelError(`${file} is a folder; expected a model.json file.`);
  if (stat.size > MAX_MODEL_JSON_BYTES) throw new ModelError(`${file} is ${stat.size} bytes; too large for a model.json.`);
  const text = await fs.readFile(file, 'utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new ModelError(`${file} is not valid JSON (${(error as Error).message}).`);
  }
}

/** Accepts a model.json path or its folder, or a single-file model (.onnx, .keras, .h5), returned as is. */
export function modelJsonPathOf(modelPath: string): string {
  return fileKindOf(modelPath).id !== 'tfjs' || path.basename(modelPath).toLowerCase().endsWith('.json') ? modelPath : path.join(modelPath, 'model.json');
}

export async function readModelFiles(modelPath: string): Promise<ModelFiles> {
  const modelJsonPath = path.resolve(modelJsonPathOf(modelPath));
  const dir = path.dirname(modelJsonPath);
  const json = await readJson(modelJsonPath);
  const format = formatOf(json, modelJsonPath);

  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw new ModelError(`${modelJsonPath} has no weightsManifest.`);

  const weightSpecs: WeightSpec[] = [];
  const buffers: Buffer[] = [];
  let sizeOnDisk = Buffer.byteLength(JSON.stringify(json));
  for (const group of manifest as { paths?: unknown; weights?: unknown }[]) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new ModelError(`${modelJsonPath}: a weightsManifest entry lacks "paths" or "weights".`);
    }
    const specs = group.weights as WeightSpec[];
    const expected = specs.reduce((sum, spec) => sum + weightBytes(spec, modelJsonPath), 0);
    const groupBuffers: Buffer[] = [];
    for (const shard of group.paths) {
      const shardPath = resolveShardPath(dir, shard, modelJsonPath);
      try {
        groupBuffers.push(await fs.readFile(shardPath));
      } catch {
        throw new ModelError(`${modelJsonPath}: weight file "${String(shard)}" is missing.`);
      }
    }
    const actual = groupBuffers.reduce((sum, b) => sum + b.length, 0);
    if (actual !== expected) {
      throw new ModelError(describeSizeMismatch(modelJsonPath, group.paths as string[], specs, expected, actual));
    }
    weightSpecs.push(...specs);
    buffers.push(...groupBuffers);
    sizeOnDisk += actual;
  }

  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const artifacts: io.ModelArtifacts = {
    modelTopology: json.modelTopology as io.ModelArtifacts['modelTopology'],
    format: json.format as string | undefined,
    generatedBy: json.generatedBy as string | undefined,
    convertedBy: json.convertedBy as string | null | undefined,
    signature: json.signature as object | undefined,
    userDefinedMetadata: json.userDefinedMetadata as io.ModelArtifacts["userDefinedMetadata"],
    modelInitializer: json.modelInitializer as object | undefined,
    weightSpecs: weightSpecs as io.WeightsManifestEntry[],
    weightData,
  };
  return { dir, modelJsonPath, format, artifacts, sizeOnDisk };
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
