/**
 * The model files CNN Lens reads, in one table: how each kind is named, how it is told from other files of
 * the same name (a few bytes or the text alone: no tfjs, no weights), and what to say when it is not one.
 * Discovery, the model picker, its open dialog, the CLI's help and loading all ask here; loading's readers, which
 * need tfjs, are keyed by the same ids in loadModel.ts. Nothing here loads tfjs, so the extension host imports it.
 * A file is sniffed as the loaders read it (modelFolder.ts): a regular file only, opened without blocking, a few
 * bytes or at most MAX_MODEL_JSON_BYTES of text. The one copy that cannot ask is package.json's Explorer menu
 * (`when` is static): test/unit/modelKind.test.ts checks that it names exactly these endings.
 */
import * as path from 'node:path';
import { ModelError, OpenedFile } from './modelFolder';

/** The adapter a file ends up in (a Keras file runs as a layers model, but says where it came from). */
export type ModelFormat = 'layers' | 'graph' | 'onnx' | 'keras';

/** How the model view names each format. */
export const FORMAT_TITLES: Record<ModelFormat, string> = {
  layers: 'TF.js layers model',
  graph: 'TF.js graph model',
  onnx: 'ONNX model',
  keras: 'Keras model',
};

export interface ModelFileKind {
  id: 'tfjs' | 'onnx' | 'keras';
  /** Lower-case name endings read as this kind (anything else, a folder included, is a TF.js model.json). */
  endings: string[];
  /** Names looked for in the workspace. */
  discovered: string[];
  /** What the picker says it accepts. */
  title: string;
  /** Whether `sniff` needs the first HEAD_BYTES bytes or the whole text (TF.js's JSON). */
  reads: 'head' | 'text';
  /** The format the content holds, or null when it is not a model of this kind. */
  sniff(content: Uint8Array | string, fileName: string): ModelFormat | null;
  /** The message for a file named like this kind that is not one. */
  notOne(fileName: string): string;
}

/** Enough to tell every binary kind apart (the HDF5 signature is the longest). */
export const HEAD_BYTES = 8;

/** The largest model.json CNN Lens reads. */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

const startsWith = (head: Uint8Array, magic: number[]) => head.length >= magic.length && magic.every((b, i) => head[i] === b);
const bytes = (content: Uint8Array | string) =>
  typeof content === 'string' ? new TextEncoder().encode(content.slice(0, HEAD_BYTES)) : content;

export const MODEL_FILE_KINDS: readonly ModelFileKind[] = [
  {
    id: 'tfjs',
    endings: ['.json'],
    discovered: ['model.json'],
    title: 'a TF.js model.json',
    reads: 'text',
    sniff: (content) => tfjsFormat(typeof content === 'string' ? content : new TextDecoder().decode(content)),
    notOne: () => 'a TensorFlow.js model (no modelTopology and weightsManifest)',
  },
  {
    id: 'onnx',
    endings: ['.onnx'],
    discovered: ['*.onnx'],
    title: 'an .onnx file',
    reads: 'head',
    // A protobuf ModelProto, which exporters begin with field 1 (ir_version, a varint): the byte 0x08.
    sniff: (content) => {
      const head = bytes(content);
      return head.length > 2 && head[0] === 0x08 ? 'onnx' : null;
    },
    notOne: () => 'an ONNX model (it does not start like a ModelProto; a Git LFS pointer?)',
  },
  {
    id: 'keras',
    endings: ['.keras', '.h5', '.hdf5'],
    discovered: ['*.keras', '*.h5', '*.hdf5'],
    title: 'a .keras, .h5 or .hdf5 file',
    reads: 'head',
    // A .keras file is a zip, a legacy .h5 an HDF5 file. Whether an .h5 holds a whole model or only weights
    // is in its attributes, which need an HDF5 reader: loading says so with a message of its own.
    sniff: (content, fileName) =>
      startsWith(bytes(content), fileName.toLowerCase().endsWith('.keras') ? ZIP_MAGIC : HDF5_MAGIC) ? 'keras' : null,
    notOne: (fileName) =>
      fileName.toLowerCase().endsWith('.keras')
        ? 'a Keras model (not a zip archive; a Git LFS pointer?)'
        : 'a Keras model (not an HDF5 file; a Git LFS pointer?)',
  },
];

/** The kind a path names: by its ending, else a TF.js model (a model.json, or the folder holding one). */
export function fileKindOf(modelPath: string): ModelFileKind {
  const lower = path.basename(modelPath).toLowerCase();
  return MODEL_FILE_KINDS.find((kind) => kind.id !== 'tfjs' && kind.endings.some((ending) => lower.endsWith(ending))) ?? tfjsKind();
}

/** The workspace search pattern for every kind's file names. */
export function discoveryGlob(): string {
  return `**/{${MODEL_FILE_KINDS.flatMap((kind) => kind.discovered).join(',')}}`;
}

/** "a TF.js model.json, an .onnx file or a .keras, .h5 or .hdf5 file" */
export function acceptedFiles(): string {
  return orList(MODEL_FILE_KINDS.map((kind) => kind.title));
}

/** The names a model file goes by, from `discovered`: model.json, then each single-file kind's endings. */
export function modelFileNames(): string[] {
  return MODEL_FILE_KINDS.flatMap((kind) => kind.discovered.map((name) => name.replace(/^\*/, '')));
}

/** "model.json, .onnx, .keras, .h5 or .hdf5" (the CLI's help, the picker's "none found"). */
export function modelFileNameList(): string {
  return orList(modelFileNames());
}

/** The open dialog's filter: every ending (without its dot; "json" lets a model.json be picked). */
export function dialogFilters(): Record<string, string[]> {
  return { Models: MODEL_FILE_KINDS.flatMap((kind) => kind.endings.map((ending) => ending.slice(1))) };
}

function orList(items: string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function tfjsKind(): ModelFileKind {
  return MODEL_FILE_KINDS.find((kind) => kind.id === 'tfjs')!;
}

/** A TF.js model.json's format from its text, or null for any other JSON (a package.json, a weights manifest). */
export function tfjsFormat(text: string): ModelFormat | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null) return null;
  const { format, modelTopology, weightsManifest } = json as Record<string, unknown>;
  if (typeof modelTopology !== 'object' || modelTopology === null || !Array.isArray(weightsManifest)) return null;
  if (format === 'graph-model' || Array.isArray((modelTopology as { node?: unknown }).node)) return 'graph';
  if (format === 'layers-model' || 'class_name' in modelTopology || 'model_config' in modelTopology || 'config' in modelTopology)
    return 'layers';
  return null;
}

/**
 * The format of the model a file holds, or null when it is not one CNN Lens reads. Read as loading reads
 * it: a regular file only (a named pipe, device or folder is refused at once with a ModelError, whatever a
 * link points at, and nothing is opened blocking), the first HEAD_BYTES of a binary kind, and the text of
 * a model.json of at most MAX_MODEL_JSON_BYTES (a larger one is refused before it is read).
 */
export async function sniffModelFile(file: string): Promise<ModelFormat | null> {
  const kind = fileKindOf(file);
  const opened = await OpenedFile.open(path.resolve(file), file, `Model file not found: ${file}`, true);
  try {
    if (kind.reads === 'head') return kind.sniff(await opened.read(0, Math.min(HEAD_BYTES, opened.size)), file);
    if (opened.size > MAX_MODEL_JSON_BYTES) throw new ModelError(`${file} is ${opened.size} bytes; too large for a model.json.`);
    return kind.sniff(new TextDecoder().decode(await opened.read(0, opened.size)), file);
  } finally {
    await opened.close();
  }
}
