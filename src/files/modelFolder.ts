/**
 * The one way a model's files are opened: model.json and its weight shards, ONNX external data, labels,
 * cnnlens.json and metadata.json. Every read
 *   - opens a regular file only, checked on the opened handle (fstat), never a FIFO, a device or a folder,
 *     and opens without blocking (O_NONBLOCK) so that a named pipe cannot hang the engine;
 *   - reads at most what the model declares (a shard's declared bytes, an external-data range) or a stated
 *     cap (labels, sidecars, metadata), in bounded chunks, stopping when an AbortSignal fires;
 *   - for a file the model's folder names (shards, external data, the sidecar's labels, metadata.json),
 *     resolves symlinks and refuses a target outside the folder (itself resolved).
 * A file the user named (the model file, a labels file given on the command line or in the settings) may
 * live anywhere, but gets the same regular-file check and cap. No tfjs here: the host imports this module
 * through modelConfig.ts.
 */
import { constants, promises as fs, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Budgets a model is checked against from what it declares, before anything is read or built. */
export interface ModelLimits {
  /** Weight bytes a model may declare in all (TF.js shards; ONNX initializers, external data included). */
  maxWeightBytes: number;
  /** Elements of any one declared weight tensor. */
  maxTensorElements: number;
  /** Layers of a TF.js layers topology (nested models' layers included). */
  maxLayers: number;
  /** Nodes of a TF.js graph topology. */
  maxGraphNodes: number;
  /** JSON nesting depth of a TF.js topology. */
  maxNesting: number;
  /** Bytes of a labels file, cnnlens.json or metadata.json. */
  maxTextBytes: number;
}

export const DEFAULT_MODEL_LIMITS: Readonly<ModelLimits> = Object.freeze({
  maxWeightBytes: 2 * GiB,
  maxTensorElements: 2 ** 28,
  maxLayers: 5000,
  maxGraphNodes: 100_000,
  maxNesting: 100,
  maxTextBytes: 16 * MiB,
});

/** The environment variable that raises (or lowers) the limits: a JSON object of ModelLimits fields. */
export const MODEL_LIMITS_ENV = 'CNN_LENS_MODEL_LIMITS';

function fromEnvironment(): Partial<ModelLimits> {
  const text = process.env[MODEL_LIMITS_ENV];
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ModelError(
      `${MODEL_LIMITS_ENV} must be a JSON object such as {"maxWeightBytes": 4294967296}; it is ${JSON.stringify(text)}.`,
    );
  }
  return checkModelLimits(parsed, MODEL_LIMITS_ENV);
}

/** Checks an object of ModelLimits fields (a setting, a flag's JSON); `where` names it in the message. */
export function checkModelLimits(value: unknown, where: string): Partial<ModelLimits> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ModelError(`${where} must be an object of model limits.`);
  const out: Partial<ModelLimits> = {};
  for (const [key, limit] of Object.entries(value)) {
    if (!(key in DEFAULT_MODEL_LIMITS))
      throw new ModelError(`${where}: there is no model limit "${key}" (the limits are ${Object.keys(DEFAULT_MODEL_LIMITS).join(', ')}).`);
    if (limit === undefined) continue;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit <= 0)
      throw new ModelError(`${where}: "${key}" must be a positive whole number.`);
    out[key as keyof ModelLimits] = limit;
  }
  return out;
}

/** The defaults, then the environment's, then the caller's (the CLI's --model-limits, the cnnLens.modelLimits setting). */
export function modelLimits(given: Partial<ModelLimits> = {}): ModelLimits {
  return { ...DEFAULT_MODEL_LIMITS, ...fromEnvironment(), ...checkModelLimits(given, 'limits') };
}

const BYTE_LIMITS: (keyof ModelLimits)[] = ['maxWeightBytes', 'maxTextBytes'];

export function formatBytes(bytes: number): string {
  const unit = bytes >= GiB ? ['GiB', GiB] : bytes >= MiB ? ['MiB', MiB] : null;
  return unit ? `${Number((bytes / (unit[1] as number)).toFixed(1))} ${unit[0]} (${bytes} bytes)` : `${bytes} bytes`;
}

/**
 * One message for every budget: the file, what is over (`what`, with "$value" where the value goes), the
 * limit and how to raise it.
 */
export function overLimit(file: string, what: string, value: number, limits: ModelLimits, key: keyof ModelLimits): ModelError {
  const show = (n: number) => (BYTE_LIMITS.includes(key) ? formatBytes(n) : String(n));
  const raised = Math.min(
    Number.MAX_SAFE_INTEGER,
    Math.max(limits[key] * 2, 2 ** Math.ceil(Math.log2(Math.min(value, Number.MAX_SAFE_INTEGER)))),
  );
  const raise = `{"${key}": ${raised}}`;
  return new ModelError(
    `${file}: ${what.replace('$value', show(value))}, over CNN Lens's limit of ${show(limits[key])} (${key}). ` +
      `If you trust this model, raise the limit: --model-limits '${raise}' (CLI), "cnnLens.modelLimits": ${raise} (settings) or ${MODEL_LIMITS_ENV}='${raise}'.`,
  );
}

export function checkLimit(file: string, what: string, value: number, limits: ModelLimits, key: keyof ModelLimits): void {
  if (!(value <= limits[key])) throw overLimit(file, what, value, limits, key);
}

/** What a stat says a non-regular file is. */
function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

const READ_CHUNK = 4 * MiB;
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0);

/** A regular file opened for reading; `size` is the opened file's. */
export class OpenedFile {
  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly size: number,
    private readonly describe: string,
  ) {}

  /**
   * Opens `real` (a path without symlinks, or one the caller accepts as it is) only if it is a regular file:
   * checked by stat before opening (no device or pipe is opened) and again by fstat on the handle.
   * `describe` starts the messages ("Labels file x", "model.json: weight file "a.bin""); `missing` is thrown
   * when there is no such file.
   */
  static async open(real: string, describe: string, missing: string, followLink = false): Promise<OpenedFile> {
    let before: Stats;
    try {
      before = await fs.stat(real);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR')
        throw new ModelError(missing);
      throw new ModelError(`${describe} cannot be read (${(error as Error).message}).`);
    }
    if (!before.isFile())
      throw new ModelError(`${describe} is ${kindOf(before)}, not a regular file; CNN Lens reads models only from regular files.`);
    let handle: FileHandle;
    try {
      handle = await fs.open(real, followLink ? OPEN_FLAGS & ~(constants.O_NOFOLLOW ?? 0) : OPEN_FLAGS);
    } catch (error) {
      throw new ModelError(`${describe} cannot be opened (${(error as Error).message}).`);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile())
        throw new ModelError(`${describe} is ${kindOf(stat)}, not a regular file; CNN Lens reads models only from regular files.`);
      if (stat.ino !== before.ino || stat.dev !== before.dev)
        throw new ModelError(`${describe} changed while it was being opened; try again.`);
      return new OpenedFile(handle, real, stat.size, describe);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Reads `length` bytes from `position` into `into` (or a new buffer), in chunks, checking `signal` between them. */
  async read(position: number, length: number, signal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
    if (position < 0 || length < 0 || position + length > this.size) {
      throw new ModelError(
        `${this.describe} has ${this.size} bytes; bytes ${position}–${position + length} were asked for (truncated file?).`,
      );
    }
    const target = into ?? new Uint8Array(length);
    let done = 0;
    while (done < length) {
      signal?.throwIfAborted();
      const { bytesRead } = await this.handle.read(target, done, Math.min(READ_CHUNK, length - done), position + done);
      if (bytesRead === 0)
        throw new ModelError(`${this.describe} ended after ${position + done} of ${this.size} bytes (it changed while being read).`);
      done += bytesRead;
    }
    return target;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Reads a whole regular file of at most `maxBytes`, checked before a byte is read. */
export async function readCappedFile(
  real: string,
  describe: string,
  missing: string,
  maxBytes: number,
  tooLarge: (size: number) => string,
  signal?: AbortSignal,
): Promise<Buffer> {
  const file = await OpenedFile.open(real, describe, missing, true);
  try {
    if (file.size > maxBytes) throw new ModelError(tooLarge(file.size));
    const bytes = await file.read(0, file.size, signal);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } finally {
    await file.close();
  }
}

/**
 * A text file the user named (labels from the command line or the settings): anywhere, but a regular file
 * of at most `limits.maxTextBytes`.
 */
export async function readUserTextFile(file: string, what: string, limits: ModelLimits, signal?: AbortSignal): Promise<string> {
  const bytes = await readCappedFile(
    path.resolve(file),
    `${what} ${file}`,
    `${what} not found: ${file}`,
    limits.maxTextBytes,
    (size) => overLimit(file, `the ${what.toLowerCase()} is $value`, size, limits, 'maxTextBytes').message,
    signal,
  );
  return bytes.toString('utf8');
}

/** The folder a model's files live in; `file` (the model file) names the messages. */
export class ModelFolder {
  private constructor(
    readonly dir: string,
    private readonly real: string,
    readonly file: string,
    readonly limits: ModelLimits,
  ) {}

  static async of(dir: string, file: string, limits: ModelLimits = modelLimits()): Promise<ModelFolder> {
    // A missing folder leaves every file in it missing, which resolve() reports.
    const real = await fs.realpath(dir).catch(() => path.resolve(dir));
    return new ModelFolder(path.resolve(dir), real, file, limits);
  }

  /**
   * Resolves a name one of the model's files gives (`noun`: "weight file", "external data", "labels file"):
   * a relative path without "..", no URL, and — symlinks followed — still inside the folder.
   */
  async resolve(name: string, noun: string, decodeUri = false): Promise<string> {
    const shown = `"${name}"`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(name) && !/^[a-z]:[\\/]/i.test(name)) {
      throw new ModelError(`${this.file}: ${noun} ${shown} must be a relative path inside the model's folder.`);
    }
    let decoded = name;
    if (decodeUri) {
      try {
        decoded = decodeURIComponent(name);
      } catch {
        throw new ModelError(`${this.file}: ${noun} ${shown} is not a valid file name.`);
      }
    }
    if (path.isAbsolute(decoded))
      throw new ModelError(`${this.file}: ${noun} ${shown} points outside the model's folder (it must be a relative path inside it).`);
    const lexical = path.resolve(this.dir, decoded);
    if (!isInside(this.dir, lexical)) throw new ModelError(`${this.file}: ${noun} ${shown} points outside the model's folder.`);
    let real: string;
    try {
      real = await fs.realpath(lexical);
    } catch {
      throw new ModelError(`${this.file}: ${/file$/.test(noun) ? noun : `${noun} file`} ${shown} is missing.`);
    }
    if (!isInside(this.real, real))
      throw new ModelError(`${this.file}: ${noun} ${shown} points outside the model's folder (it resolves to ${real}).`);
    return real;
  }

  /** Opens a file the model names, inside the folder and regular. */
  async open(name: string, noun: string, decodeUri = false): Promise<OpenedFile> {
    const real = await this.resolve(name, noun, decodeUri);
    const describe = `${this.file}: ${noun} "${name}"`;
    return OpenedFile.open(real, describe, `${this.file}: ${/file$/.test(noun) ? noun : `${noun} file`} "${name}" is missing.`);
  }

  /** A text file the folder holds or names, at most `limits.maxTextBytes`; null when it does not exist and `optional`. */
  async readText(name: string, noun: string, optional: boolean, signal?: AbortSignal): Promise<string | null> {
    let real: string;
    try {
      real = await this.resolve(name, noun);
    } catch (error) {
      if (optional && /is missing\.$/.test((error as Error).message)) return null;
      throw error;
    }
    const shown = path.join(this.dir, name);
    const describe = `${noun[0].toUpperCase()}${noun.slice(1)} ${shown}`;
    const bytes = await readCappedFile(
      real,
      describe,
      `${describe} is missing.`,
      this.limits.maxTextBytes,
      (size) => overLimit(shown, `the ${noun} is $value`, size, this.limits, 'maxTextBytes').message,
      signal,
    );
    return bytes.toString('utf8');
  }
}

export function isInside(dir: string, file: string): boolean {
  const relative = path.relative(dir, file);
  return !path.isAbsolute(relative) && !/^\.\.($|[\\/])/.test(relative);
}
