/**
 * Reads a Keras model file as data, never as code:
 * - `.keras` (Keras 3, also Keras 2.13+): a zip with `config.json` (the architecture), `metadata.json`
 *   and `model.weights.h5` (saving_lib: _CONFIG_FILENAME, _METADATA_FILENAME, _VARS_FNAME_H5);
 * - legacy `.h5` (HDF5): the root attribute `model_config` (JSON) and weights under `/model_weights`.
 * Sizes are capped before anything is inflated or read; zip entry names that would escape a folder are
 * refused even though nothing is extracted to disk by its name.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { unzipSync, type UnzipFileInfo } from 'fflate';
import { MAX_MODEL_JSON_BYTES, ModelError } from '../modelFiles';
import { Hdf5Reader } from './hdf5';
import { translateKerasConfig, type KerasTopology } from './kerasConfig';
import { readKeras3Weights, readLegacyWeights, type StoredWeights } from './kerasWeights';

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

function readZip(bytes: Uint8Array, file: string): { config: Uint8Array; weights: Uint8Array | null } {
  const wanted: Record<string, number> = { 'config.json': MAX_MODEL_JSON_BYTES, 'model.weights.h5': MAX_KERAS_BYTES };
  const unsafe: string[] = [];
  let entries;
  try {
    entries = unzipSync(bytes, {
      filter: (info: UnzipFileInfo) => {
        if (unsafeEntryName(info.name)) unsafe.push(info.name);
        const cap = wanted[info.name];
        if (cap === undefined) return false;
        if (info.originalSize > cap) throw new ModelError(`${file}: "${info.name}" inflates to ${info.originalSize} bytes; larger than the ${cap} bytes CNN Lens reads.`);
        return unsafe.length === 0;
      },
    });
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(`${file} is not a readable .keras archive (${(error as Error).message}); the file may be truncated or damaged.`);
  }
  if (unsafe.length) {
    throw new ModelError(`${file} has archive entries that point outside any folder (${unsafe.slice(0, 3).map((n) => `"${n}"`).join(', ')}); refusing a tampered .keras file.`);
  }
  const config = entries['config.json'];
  if (!config) throw new ModelError(`${file} has no config.json: it is not a Keras model archive.`);
  return { config, weights: entries['model.weights.h5'] ?? null };
}

async function readKerasArchive(bytes: Uint8Array, file: string): Promise<Omit<KerasModelFile, 'sizeOnDisk'>> {
  const { config, weights } = readZip(bytes, file);
  const root = parseJson(new TextDecoder().decode(config), `${file}: config.json`);
  const version = (root as { keras_version?: unknown })?.keras_version;
  const topology = translateKerasConfig(root, file, typeof version === 'string' ? version : '3');
  if (!weights) return { ...topology, weights: new Map() };
  if (!startsWith(weights, HDF5_MAGIC)) throw new ModelError(`${file}: model.weights.h5 is not an HDF5 file.`);
  const stored = await Hdf5Reader.withBytes(weights, `${file} (model.weights.h5)`, (reader) => readKeras3Weights(reader, topology.layers));
  return { ...topology, weights: stored };
}

async function readLegacyH5(filePath: string, file: string): Promise<Omit<KerasModelFile, 'sizeOnDisk'>> {
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
    const topology = translateKerasConfig(parseJson(text, `${file}: model_config`), file, version);
    return { ...topology, weights: readLegacyWeights(reader, topology.layers) };
  } finally {
    reader.close();
  }
}

export async function readKerasFile(filePath: string): Promise<KerasModelFile> {
  const file = path.resolve(filePath);
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new ModelError(`Model file not found: ${file}`);
  }
  if (stat.isDirectory()) throw new ModelError(`${file} is a folder; expected a .keras or .h5 file.`);
  if (stat.size > MAX_KERAS_BYTES) throw new ModelError(`${file} is ${stat.size} bytes; larger than the ${MAX_KERAS_BYTES} bytes CNN Lens reads.`);
  if (stat.size === 0) throw new ModelError(`${file} is empty.`);
  const handle = await fs.open(file, 'r');
  const head = new Uint8Array(8);
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
  let parsed: Omit<KerasModelFile, 'sizeOnDisk'>;
  if (startsWith(head, ZIP_MAGIC)) parsed = await readKerasArchive(await fs.readFile(file), file);
  else if (startsWith(head, HDF5_MAGIC)) parsed = await readLegacyH5(file, file);
  else throw new ModelError(`${file} is neither a .keras archive (zip) nor an HDF5 .h5 file (a Git LFS pointer or a download error page?).`);
  return { ...parsed, sizeOnDisk: stat.size };
}
