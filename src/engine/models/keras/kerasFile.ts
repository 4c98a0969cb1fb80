/**
 * Reads a Keras model file as data, never as code:
 * - `.keras` (Keras 3, also Keras 2.13+): a zip with `config.json` (the architecture), `metadata.json`
 *   and `model.weights.h5` (saving_lib: _CONFIG_FILENAME, _METADATA_FILENAME, _VARS_FNAME_H5);
 * - legacy `.h5` (HDF5): the root attribute `model_config` (JSON) and weights under `/model_weights`.
 * Sizes are capped before anything is inflated or read, and again on the bytes really inflated
 * (zipEntries.ts: chunked, cancellable, stopped at the declared size); zip entry names that would escape a
 * folder are refused even though nothing is extracted to disk by its name. The weights go to a private
 * temporary file (h5wasm reads paths) that is removed on every path out, and at process exit (tempFiles.ts).
 * The budgets of a model folder (ModelLimits, modelFolder.ts) apply as to TF.js models, before anything is
 * built: the config's layer count and nesting, the weights entry's declared size, and every HDF5 dataset's
 * declared shape (elements per tensor, bytes in all) before its value is read.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { makeTempFolder } from '../../../files/tempFiles';
import { checkTopology, MAX_MODEL_JSON_BYTES, ModelError } from '../../../files/modelFiles';
import { checkLimit, modelLimits, type ModelLimits } from '../../../files/modelFolder';
import { Hdf5Reader } from './hdf5';
import { translateKerasConfig, type KerasTopology } from './kerasConfig';
import { readKeras3Weights, readLegacyWeights, type StoredWeights } from './kerasWeights';
import { inflateEntry, listZip } from './zipEntries';

/** As for ONNX: image classifiers are far smaller; a bigger file is refused before it is read. */
export const MAX_KERAS_BYTES = 1024 * 1024 * 1024;

export const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
export const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

export interface KerasModelFile extends KerasTopology {
  weights: StoredWeights;
  sizeOnDisk: number;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelError(`${what} is not valid JSON (${(error as Error).message}).`);
  }
}

/** A zip entry name that is absolute, has a drive letter or a ".." segment would escape any folder. */
function unsafeEntryName(name: string): boolean {
  return name.startsWith('/') || name.startsWith('\\') || /^[a-z]:/i.test(name) || name.split(/[\\/]/).includes('..');
}

/** Inflates `config.json` into memory and `model.weights.h5` into a private temporary file for h5wasm. */
async function readKerasArchive(
  handle: FileHandle,
  fileSize: number,
  file: string,
  limits: ModelLimits,
  signal?: AbortSignal,
): Promise<Omit<KerasModelFile, 'sizeOnDisk'>> {
  const entries = await listZip(handle, fileSize, file);
  const unsafe = entries.filter((e) => unsafeEntryName(e.name)).map((e) => e.name);
  if (unsafe.length) {
    throw new ModelError(
      `${file} has archive entries that point outside any folder (${unsafe
        .slice(0, 3)
        .map((n) => `"${n}"`)
        .join(', ')}); refusing a tampered .keras file.`,
    );
  }
  const named = (name: string) => {
    const found = entries.filter((e) => e.name === name);
    if (found.length > 1) throw new ModelError(`${file} has ${found.length} entries named "${name}"; refusing a tampered .keras file.`);
    return found[0];
  };
  const configEntry = named('config.json');
  if (!configEntry) throw new ModelError(`${file} has no config.json: it is not a Keras model archive.`);
  const weightsEntry = named('model.weights.h5');
  const parts: Uint8Array[] = [];
  await inflateEntry(handle, fileSize, configEntry, file, { cap: MAX_MODEL_JSON_BYTES, signal, onData: (chunk) => void parts.push(chunk) });
  const root = parseJson(Buffer.concat(parts).toString('utf8'), `${file}: config.json`);
  checkTopology(root, 'layers', file, limits, 'the model config');
  const version = (root as { keras_version?: unknown })?.keras_version;
  const topology = translateKerasConfig(root, file, typeof version === 'string' ? version : '3');
  if (!weightsEntry) return { ...topology, weights: new Map() };
  checkLimit(file, 'its model.weights.h5 inflates to $value', weightsEntry.size, limits, 'maxWeightBytes');
  signal?.throwIfAborted();

  const temp = await makeTempFolder('keras');
  try {
    const tmp = path.join(temp.dir, 'model.weights.h5');
    const out = await fs.open(tmp, 'wx', 0o600);
    let first = true;
    // Written 4 MB at a time: the inflate steps are small.
    let parts: Uint8Array[] = [];
    let buffered = 0;
    const flush = async () => {
      const bytes = Buffer.concat(parts);
      parts = [];
      buffered = 0;
      await out.write(bytes);
    };
    try {
      await inflateEntry(handle, fileSize, weightsEntry, file, {
        cap: MAX_KERAS_BYTES,
        signal,
        onData: async (chunk) => {
          if (first && chunk.length >= HDF5_MAGIC.length) {
            if (!startsWith(chunk, HDF5_MAGIC)) throw new ModelError(`${file}: model.weights.h5 is not an HDF5 file.`);
            first = false;
          }
          parts.push(chunk);
          buffered += chunk.length;
          if (buffered >= 4 * 1024 * 1024) await flush();
        },
      });
      await flush();
    } finally {
      await out.close();
    }
    if (first) throw new ModelError(`${file}: model.weights.h5 is not an HDF5 file.`);
    signal?.throwIfAborted();
    const reader = await Hdf5Reader.open(tmp, `${file} (model.weights.h5)`);
    try {
      return { ...topology, weights: await readKeras3Weights(reader, topology.layers, { limits, signal }) };
    } finally {
      reader.close();
    }
  } finally {
    await temp.remove();
  }
}

async function readLegacyH5(
  filePath: string,
  file: string,
  limits: ModelLimits,
  signal?: AbortSignal,
): Promise<Omit<KerasModelFile, 'sizeOnDisk'>> {
  const reader = await Hdf5Reader.open(filePath, file);
  try {
    const text = reader.stringAttribute('/', 'model_config');
    if (text === null) {
      const weightsOnly = reader.stringListAttribute('/', 'layer_names') !== null;
      throw new ModelError(
        weightsOnly
          ? `${file} is a weights-only .h5 (saved with save_weights): it has no model_config, so the architecture is unknown. Save the whole model (model.save("model.keras")) and use that file.`
          : `${file} is an HDF5 file without a Keras model_config attribute: not a Keras model saved with model.save().`,
      );
    }
    const version = reader.stringAttribute('/', 'keras_version');
    const root = parseJson(text, `${file}: model_config`);
    checkTopology(root, 'layers', file, limits, 'the model config');
    const topology = translateKerasConfig(root, file, version);
    return { ...topology, weights: await readLegacyWeights(reader, topology.layers, { limits, signal }) };
  } finally {
    reader.close();
  }
}

export interface KerasReadOptions {
  /** Stops the load between chunks of a `.keras` archive's inflating and between weights (a temporary file is removed). */
  signal?: AbortSignal;
  /** The budgets (defaults: DEFAULT_MODEL_LIMITS and CNN_LENS_MODEL_LIMITS). */
  limits?: Partial<ModelLimits>;
}

export async function readKerasFile(filePath: string, options: KerasReadOptions = {}): Promise<KerasModelFile> {
  const file = path.resolve(filePath);
  const limits = modelLimits(options.limits);
  options.signal?.throwIfAborted();
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new ModelError(`Model file not found: ${file}`);
  }
  if (stat.isDirectory()) throw new ModelError(`${file} is a folder; expected a .keras or .h5 file.`);
  if (stat.size > MAX_KERAS_BYTES)
    throw new ModelError(`${file} is ${stat.size} bytes; larger than the ${MAX_KERAS_BYTES} bytes CNN Lens reads.`);
  if (stat.size === 0) throw new ModelError(`${file} is empty.`);
  const handle = await fs.open(file, 'r');
  let parsed: Omit<KerasModelFile, 'sizeOnDisk'>;
  try {
    const head = new Uint8Array(8);
    await handle.read(head, 0, head.length, 0);
    if (startsWith(head, ZIP_MAGIC)) parsed = await readKerasArchive(handle, stat.size, file, limits, options.signal);
    else if (startsWith(head, HDF5_MAGIC)) parsed = await readLegacyH5(file, file, limits, options.signal);
    else
      throw new ModelError(`${file} is neither a .keras archive (zip) nor an HDF5 .h5 file (a Git LFS pointer or a download error page?).`);
  } finally {
    await handle.close();
  }
  return { ...parsed, sizeOnDisk: stat.size };
}
