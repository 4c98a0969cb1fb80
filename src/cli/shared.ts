/** What every CLI command shares: flags, usage errors, the engine and the model from the flags. */
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_CHOICES, type BackendChoice } from '../engine/tfjs/backend';
import { defaultModelPath } from '../engine/bundledModel';
import { Engine } from '../engine/engine';
import { DEFAULT_IMAGE_LIMITS, ImageError, readImage, WORKING_MAX_SIDE, type DecodedImage, type ImageLimits } from '../engine/image';
import { isScalingPreset } from '../files/modelConfig';
import { checkModelLimits, DEFAULT_MODEL_LIMITS, MODEL_LIMITS_ENV, type ModelLimits } from '../files/modelFolder';
import type { LoadedModel } from '../engine/models/loadModel';
import { DEFAULT_RESIZE, resizeSamples, SCALING_PRESETS } from '../engine/types';

export class UsageError extends Error {}

/**
 * The copy of an image the model reads (as in the panel): decoded at working size with the full size
 * remembered, or at full size when the model's resize samples the image.
 */
export function readImageForModel(file: string, model: LoadedModel, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<DecodedImage> {
  const full = resizeSamples(model.summary.preprocessing.resize ?? DEFAULT_RESIZE);
  return readImage(path.resolve(file), limits, { maxSide: full ? undefined : WORKING_MAX_SIDE });
}

export function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    tokens: true,
    options: {
      model: { type: 'string' },
      output: { type: 'string' },
      'model-limits': { type: 'string' },
      technique: { type: 'string', default: 'gradcam' },
      class: { type: 'string' },
      layer: { type: 'string' },
      preprocess: { type: 'string' },
      labels: { type: 'string' },
      colormap: { type: 'string' },
      opacity: { type: 'string', default: '0.5' },
      out: { type: 'string' },
      heatmap: { type: 'string' },
      json: { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      'no-onnxruntime': { type: 'boolean' },
      'max-megapixels': { type: 'string' },
      'max-file-mb': { type: 'string' },
      base: { type: 'string' },
      samples: { type: 'string' },
      noise: { type: 'string' },
      variant: { type: 'string' },
      steps: { type: 'string' },
      baseline: { type: 'string' },
      quadrature: { type: 'string' },
      view: { type: 'string' },
      filter: { type: 'string' },
      target: { type: 'string' },
      techniques: { type: 'string' },
      batch: { type: 'string' },
      box: { type: 'string' },
      boxes: { type: 'string' },
      sanity: { type: 'boolean' },
      road: { type: 'boolean' },
      'road-percentiles': { type: 'string' },
      'road-noise': { type: 'string' },
      sort: { type: 'string' },
      page: { type: 'string' },
      'page-size': { type: 'string' },
      unit: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      l2: { type: 'string' },
      'blur-every': { type: 'string' },
      'blur-sigma': { type: 'string' },
      jitter: { type: 'string' },
      'clip-norm': { type: 'string' },
      'clip-contribution': { type: 'string' },
      tv: { type: 'string' },
      octaves: { type: 'string' },
      'octave-scale': { type: 'string' },
      from: { type: 'string' },
      fourier: { type: 'boolean' },
      param: { type: 'string', multiple: true },
      'out-dir': { type: 'string' },
      'json-lines': { type: 'string' },
      recursive: { type: 'boolean' },
      heatmaps: { type: 'boolean' },
      overwrite: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type Flag = keyof ReturnType<typeof parse>['values'];

const MODEL_FLAGS: Flag[] = ['model', 'output', 'model-limits', 'preprocess', 'labels', 'backend', 'no-onnxruntime'];
const LIMIT_FLAGS: Flag[] = ['max-megapixels', 'max-file-mb'];
const ASCENT_FLAGS: Flag[] = ['steps', 'lr', 'seed', 'l2', 'blur-every', 'blur-sigma', 'jitter', 'clip-norm', 'clip-contribution', 'tv'];

/**
 * What each command takes: its flags (any other is refused, not ignored) and how many positional
 * arguments after its name (Infinity: images, folders and globs).
 */
export const COMMANDS: Record<string, { flags: Flag[]; positionals: number; name?: string }> = {
  layers: { flags: [...MODEL_FLAGS, 'json'], positionals: 0 },
  techniques: { flags: ['backend', 'no-onnxruntime'], positionals: 0 },
  explain: {
    flags: [
      ...MODEL_FLAGS,
      ...LIMIT_FLAGS,
      ...(['technique', 'class', 'layer', 'colormap', 'opacity', 'out', 'heatmap', 'json', 'param'] as const),
      ...(['base', 'samples', 'noise', 'variant', 'steps', 'baseline', 'quadrature', 'view', 'filter', 'target'] as const),
      ...(['out-dir', 'json-lines', 'recursive', 'heatmaps', 'overwrite'] as const),
    ],
    positionals: Infinity,
  },
  evaluate: {
    flags: [
      ...MODEL_FLAGS,
      ...LIMIT_FLAGS,
      'techniques',
      'class',
      'layer',
      'steps',
      'batch',
      'box',
      'boxes',
      'sanity',
      'road',
      'road-percentiles',
      'road-noise',
      'seed',
      'json',
      'json-lines',
      'recursive',
    ],
    positionals: Infinity,
  },
  // --sort, --page, --page-size and --colormap are documented for filters too (they change nothing there).
  featuremaps: {
    flags: [...MODEL_FLAGS, ...LIMIT_FLAGS, 'layer', 'sort', 'page', 'page-size', 'colormap', 'out'],
    positionals: 1,
    name: 'IMAGE',
  },
  filters: { flags: [...MODEL_FLAGS, 'layer', 'sort', 'page', 'page-size', 'colormap', 'out'], positionals: 0 },
  maximize: {
    flags: [...MODEL_FLAGS, ...LIMIT_FLAGS, ...ASCENT_FLAGS, 'layer', 'filter', 'unit', 'from', 'fourier', 'out'],
    positionals: 0,
  },
  classimage: { flags: [...MODEL_FLAGS, ...ASCENT_FLAGS, 'class', 'fourier', 'out'], positionals: 0 },
  dream: {
    flags: [...MODEL_FLAGS, ...LIMIT_FLAGS, ...ASCENT_FLAGS, 'layer', 'filter', 'octaves', 'octave-scale', 'out'],
    positionals: 1,
    name: 'IMAGE',
  },
  invert: { flags: [...MODEL_FLAGS, ...LIMIT_FLAGS, ...ASCENT_FLAGS, 'layer', 'out'], positionals: 1, name: 'IMAGE' },
};

/** A flag another command takes, or a positional argument too many: refused rather than ignored. */
export function checkArguments(command: string, parsed: ReturnType<typeof parse>): void {
  const spec = COMMANDS[command];
  if (!spec) return;
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option' || token.name === 'help') continue;
    if (!spec.flags.includes(token.name as Flag)) throw new UsageError(`${command} does not take ${token.rawName}.`);
  }
  const extra = parsed.positionals.slice(1 + spec.positionals);
  if (extra.length)
    throw new UsageError(
      spec.positionals === 0
        ? `${command} takes no positional argument; got "${extra[0]}".`
        : `${command} takes one ${spec.name ?? 'argument'}; got also "${extra[0]}".`,
    );
}

export type Values = ReturnType<typeof parse>['values'];

export function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got "${value}".`);
  return value as T;
}

export async function createEngine(values: Values): Promise<Engine> {
  const choice = oneOf<BackendChoice>(values.backend ?? 'auto', BACKEND_CHOICES, 'backend');
  // Backend fallbacks are worth knowing about but must not clutter normal output.
  return Engine.create({
    backend: choice,
    onnxRuntime: values['no-onnxruntime'] ? 'off' : 'auto',
    log: (line) => process.env.CNN_LENS_VERBOSE && console.error(line),
  });
}

export async function loadFromFlags(engine: Engine, values: Values) {
  if (values.preprocess !== undefined && !isScalingPreset(values.preprocess)) {
    throw new UsageError(`--preprocess must be one of ${SCALING_PRESETS.join(', ')}; got "${values.preprocess}".`);
  }
  if (values.output !== undefined && values.output.trim() === '')
    throw new UsageError('--output names one of the model\'s outputs; got "".');
  const limits = modelLimitsFlag(values);
  const modelPath = values.model ? path.resolve(values.model) : defaultModelPath();
  return engine.loadModel(modelPath, {
    preprocess: values.preprocess as (typeof SCALING_PRESETS)[number] | undefined,
    labelsPath: values.labels ? path.resolve(values.labels) : undefined,
    output: values.output,
    ...(limits ? { limits } : {}),
  });
}

/**
 * --model-limits '{"maxWeightBytes": 4294967296}': the model budgets as the cnnLens.modelLimits setting and
 * CNN_LENS_MODEL_LIMITS give them (a JSON object of ModelLimits fields; the flag's win).
 */
export function modelLimitsFlag(values: Values): Partial<ModelLimits> | undefined {
  const text = values['model-limits'];
  if (text === undefined) return undefined;
  const example = `--model-limits '{"maxWeightBytes": ${2 * DEFAULT_MODEL_LIMITS.maxWeightBytes}}'`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`--model-limits takes a JSON object such as ${example}; got ${JSON.stringify(text)}.`);
  }
  try {
    return checkModelLimits(parsed, '--model-limits');
  } catch (error) {
    throw new UsageError(`${(error as Error).message} For example ${example} (as ${MODEL_LIMITS_ENV} and cnnLens.modelLimits).`);
  }
}

export function integerFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${flag} must be an integer; got "${value}".`);
  return n;
}

export function numberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number; got "${value}".`);
  return n;
}

/**
 * The image caps, as the editor's cnnLens.maxImageMegapixels and cnnLens.maxImageFileSizeMB settings set
 * them: --max-megapixels N and --max-file-mb N.
 */
export function imageLimits(values: Values): ImageLimits {
  const limit = (flag: 'max-megapixels' | 'max-file-mb', scale: number, fallback: number) => {
    const value = values[flag];
    if (value === undefined) return fallback;
    const n = Number(value);
    if (value.trim() === '' || !(n > 0) || !Number.isFinite(n))
      throw new UsageError(`--${flag} must be a positive number; got "${value}".`);
    return n * scale;
  };
  return {
    maxPixels: limit('max-megapixels', 1e6, DEFAULT_IMAGE_LIMITS.maxPixels),
    maxBytes: limit('max-file-mb', 1024 * 1024, DEFAULT_IMAGE_LIMITS.maxBytes),
  };
}

/** An image over a cap: the message names the flag that raises it. */
export function withLimitHint(error: unknown): unknown {
  if (!(error instanceof ImageError) || error.code !== 'too-large') return error;
  const flag = / pixels /.test(error.message) ? '--max-megapixels N' : '--max-file-mb N';
  return new ImageError('too-large', `${error.message}; raise the limit with ${flag}`);
}

/** The folder an output goes to exists and takes new files (checked before any work is done). */
export async function checkWritableFolder(file: string): Promise<void> {
  const folder = path.dirname(file);
  try {
    if (!(await fs.stat(folder)).isDirectory()) throw Object.assign(new Error('is not a folder'), { code: 'ENOTDIR' });
    await fs.access(folder, fsConstants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? 'is not writable'
          : code === 'ENOTDIR'
            ? 'is not a folder'
            : (error as Error).message;
    throw new UsageError(`Cannot write ${file}: the folder ${folder} ${why}.`);
  }
}

/** An output must not name a folder (a rename over it would fail only after the work, and after other outputs). */
async function checkNotFolder(file: string): Promise<void> {
  const stat = await fs.stat(file).catch(() => undefined);
  if (stat?.isDirectory()) throw new UsageError(`Cannot write ${file}: it is a folder; name a file.`);
}

/**
 * Every output of a command checked up front: nothing runs when one of them could not be written — its
 * folder is missing or read-only, it names a folder, or two outputs name the same file.
 */
export async function checkOutputs(files: (string | undefined)[]): Promise<void> {
  const named = files.filter((file): file is string => !!file);
  const seen = new Set<string>();
  for (const file of named) {
    // On macOS and Windows "A.png" and "a.png" are one file.
    const resolved = path.resolve(file);
    const key = process.platform === 'darwin' || process.platform === 'win32' ? resolved.toLowerCase() : resolved;
    if (seen.has(key)) throw new UsageError(`Two outputs name the same file ${file}; give each its own.`);
    seen.add(key);
  }
  await Promise.all(named.map(async (file) => (await checkWritableFolder(file), await checkNotFolder(file))));
}
