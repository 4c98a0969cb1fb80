/**
 * Per-model settings: input scaling and class labels. They come from, in order of precedence,
 * explicit overrides (CLI flags), the sidecar `cnnlens.json` next to model.json, the caller's
 * defaults (VS Code settings), and finally built-in defaults.
 * Files the model's folder names (the sidecar's labels file, metadata.json) must stay inside it; every
 * file is read through modelFolder.ts (regular files only, at most limits.maxTextBytes).
 */
import * as path from 'node:path';
import { writeFileAtomic } from './atomicWrite';
import {
  CHANNEL_ORDERS,
  DEFAULT_RESIZE,
  INTERPOLATIONS,
  RESIZE_MODES,
  SCALING_PRESETS,
  type ChannelOrder,
  type Interpolation,
  type Preprocessing,
  type ResizePolicy,
  type ScalingPreset,
} from './choices';
import { ModelError } from './modelFiles';
import { ModelFolder, modelLimits, readUserTextFile, type ModelLimits } from './modelFolder';

/** For the host (which may import this module, not modelFolder.ts): the settings' budgets are checked as the engine checks them. */
export { checkModelLimits, type ModelLimits } from './modelFolder';

export const SIDECAR_NAME = 'cnnlens.json';

export interface ModelConfigOverrides {
  preprocess?: ScalingPreset;
  /** A labels file path (CLI/settings: any readable path the user gave). */
  labelsPath?: string;
  /**
   * The output to explain, for models with several (CLI --output, setting cnnLens.modelOutput); between the
   * two, cnnlens.json's "output" (an override beats it, a default gives way to it).
   */
  output?: string;
  /**
   * Budgets for the model's files (see ModelLimits; CLI --model-limits, setting cnnLens.modelLimits): an
   * override's beat a default's, which beat CNN_LENS_MODEL_LIMITS's, which beat DEFAULT_MODEL_LIMITS.
   */
  limits?: Partial<ModelLimits>;
}

/** The budgets the overrides and the defaults give, the overrides' winning (modelLimits adds the rest). */
export function limitsOf(overrides: ModelConfigOverrides, defaults: ModelConfigOverrides = {}): Partial<ModelLimits> {
  return { ...defaults.limits, ...overrides.limits };
}

export interface ModelConfig {
  preprocessing: Preprocessing;
  /** Raw labels as found; fitted to the class count later. */
  labels: string[] | null;
  /** Where the labels came from (a file, or cnnlens.json's "labels"), for messages. */
  labelsSource: string | null;
  /** Default target layer named by the sidecar, if any. */
  layer: string | null;
  /** The output to explain, for models with several (--output, cnnlens.json "output", cnnLens.modelOutput). */
  output: string | null;
  /** Where `output` came from, for messages ("--output", the cnnlens.json file, "the cnnLens.modelOutput setting"). */
  outputSource: string | null;
  displayName: string | null;
}

/** What `cnnlens.json` may hold; the configure flow writes it, the loader reads it. */
export interface Sidecar {
  preprocess?: unknown;
  channelOrder?: unknown;
  resize?: unknown;
  labels?: unknown;
  layer?: unknown;
  output?: unknown;
  name?: unknown;
}

export function isScalingPreset(value: unknown): value is ScalingPreset {
  return typeof value === 'string' && (SCALING_PRESETS as readonly string[]).includes(value);
}

export function isChannelOrder(value: unknown): value is ChannelOrder {
  return typeof value === 'string' && (CHANNEL_ORDERS as readonly string[]).includes(value);
}

export async function readSidecar(dir: string, limits: ModelLimits = modelLimits()): Promise<Sidecar | null> {
  const file = path.join(dir, SIDECAR_NAME);
  const text = await (await ModelFolder.of(dir, file, limits)).readText(SIDECAR_NAME, 'sidecar', true);
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Sidecar;
  } catch (error) {
    throw new ModelError(`${file} is not valid JSON (${(error as Error).message}).`);
  }
}

/** Parses a labels file: a JSON array, a JSON object {index: label} or {labels: [...]}, or text with one label per line. */
export function parseLabels(text: string, file: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new ModelError(`Labels file ${file} is not valid JSON (${(error as Error).message}).`);
    }
    if (Array.isArray(parsed)) return parsed.map(String);
    const record = parsed as Record<string, unknown>;
    if (Array.isArray(record.labels)) return record.labels.map(String);
    const entries = Object.entries(record).filter(([key]) => /^\d+$/.test(key));
    if (entries.length === 0) throw new ModelError(`Labels file ${file} has no labels.`);
    // {index: label} must number its labels 0…n−1, each once: a gap or a huge index (an attack as much as
    // a mistake: {"99999999": "x"}) would otherwise make up names or allocate an enormous list.
    const labels: string[] = new Array<string>(entries.length);
    for (const [key, value] of entries) {
      const index = Number(key);
      if (index >= entries.length || String(index) !== key) {
        throw new ModelError(
          `Labels file ${file}: its ${entries.length} labels must be numbered 0 to ${entries.length - 1} without gaps, but one is numbered ${key}.`,
        );
      }
      labels[index] = String(value);
    }
    return labels;
  }
  return trimmed
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

/** A labels file the user named: anywhere, but a regular file within the text cap. */
async function readUserLabels(file: string, limits: ModelLimits): Promise<string[]> {
  return parseLabels(await readUserTextFile(file, 'Labels file', limits), file);
}

function insideFolder(dir: string, relative: string, what: string): string {
  const resolved = path.resolve(dir, relative);
  const rel = path.relative(dir, resolved);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ModelError(`${path.join(dir, SIDECAR_NAME)}: ${what} "${relative}" points outside the model's folder.`);
  }
  return resolved;
}

/** A `metadata.json` with {"labels": [...]} beside the model, as tfjs-models and Teachable Machine write. */
async function metadataLabels(dir: string, limits: ModelLimits): Promise<string[] | null> {
  const file = path.join(dir, 'metadata.json');
  const text = await (await ModelFolder.of(dir, file, limits)).readText('metadata.json', 'metadata file', true);
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as { labels?: unknown };
    return Array.isArray(parsed.labels) ? parsed.labels.map(String) : null;
  } catch {
    return null; // metadata.json may be anything a tool wrote; only its labels matter here
  }
}

/**
 * `"resize": {"mode": "center-crop", "shorterSide": 256, "interpolation": "bicubic", "antialias": true}`;
 * every key optional (defaults: stretch, bilinear, antialiased). Unknown keys or values are errors, so a
 * typo never silently changes what the model sees.
 */
export function parseResize(value: unknown, file: string): ResizePolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ModelError(`${file}: "resize" must be an object such as {"mode": "center-crop"}.`);
  const record = value as Record<string, unknown>;
  const known = ['mode', 'shorterSide', 'interpolation', 'antialias'];
  const unknown = Object.keys(record).filter((key) => !known.includes(key));
  if (unknown.length)
    throw new ModelError(`${file}: "resize" has no setting ${unknown.map((k) => `"${k}"`).join(', ')} (it takes ${known.join(', ')}).`);
  const policy: ResizePolicy = { ...DEFAULT_RESIZE };
  if (record.mode !== undefined) {
    if (!(RESIZE_MODES as readonly unknown[]).includes(record.mode))
      throw new ModelError(`${file}: "resize.mode" must be one of ${RESIZE_MODES.join(', ')}.`);
    policy.mode = record.mode as ResizePolicy['mode'];
  }
  if (record.interpolation !== undefined) {
    if (!(INTERPOLATIONS as readonly unknown[]).includes(record.interpolation))
      throw new ModelError(`${file}: "resize.interpolation" must be one of ${INTERPOLATIONS.join(', ')}.`);
    policy.interpolation = record.interpolation as Interpolation;
  }
  if (record.antialias !== undefined) {
    if (typeof record.antialias !== 'boolean') throw new ModelError(`${file}: "resize.antialias" must be true or false.`);
    policy.antialias = record.antialias;
  }
  if (record.shorterSide !== undefined) {
    const side = record.shorterSide;
    if (typeof side !== 'number' || !Number.isInteger(side) || side < 1 || side > 8192)
      throw new ModelError(`${file}: "resize.shorterSide" must be a whole number of pixels from 1 to 8192.`);
    if (policy.mode !== 'center-crop') throw new ModelError(`${file}: "resize.shorterSide" only applies with "mode": "center-crop".`);
    policy.shorterSide = side;
  }
  return policy;
}

export async function resolveModelConfig(
  modelDir: string,
  overrides: ModelConfigOverrides,
  defaults: ModelConfigOverrides,
): Promise<ModelConfig> {
  const limits = modelLimits(limitsOf(overrides, defaults));
  const sidecar = await readSidecar(modelDir, limits);
  const sidecarFile = path.join(modelDir, SIDECAR_NAME);
  if (sidecar?.preprocess !== undefined && !isScalingPreset(sidecar.preprocess)) {
    throw new ModelError(`${sidecarFile}: "preprocess" must be one of ${SCALING_PRESETS.join(', ')}.`);
  }
  if (sidecar?.channelOrder !== undefined && !isChannelOrder(sidecar.channelOrder)) {
    throw new ModelError(`${sidecarFile}: "channelOrder" must be one of ${CHANNEL_ORDERS.join(', ')}.`);
  }

  let preprocessing: Preprocessing;
  if (overrides.preprocess) preprocessing = { preset: overrides.preprocess, source: 'command line' };
  else if (isScalingPreset(sidecar?.preprocess)) preprocessing = { preset: sidecar.preprocess, source: SIDECAR_NAME };
  else if (defaults.preprocess) preprocessing = { preset: defaults.preprocess, source: 'settings' };
  else preprocessing = { preset: 'mobilenet', source: 'default' };
  if (isChannelOrder(sidecar?.channelOrder) && sidecar.channelOrder !== 'rgb') preprocessing.channelOrder = sidecar.channelOrder;
  if (sidecar?.resize !== undefined) preprocessing.resize = parseResize(sidecar.resize, sidecarFile);

  let labels: string[] | null = null;
  let labelsSource: string | null = null;
  if (overrides.labelsPath) {
    labels = await readUserLabels(overrides.labelsPath, limits);
    labelsSource = `Labels file ${overrides.labelsPath}`;
  } else if (Array.isArray(sidecar?.labels)) {
    labels = sidecar.labels.map(String);
    labelsSource = `${sidecarFile} ("labels")`;
  } else if (typeof sidecar?.labels === 'string') {
    insideFolder(modelDir, sidecar.labels, 'labels file');
    const folder = await ModelFolder.of(modelDir, sidecarFile, limits);
    const labelsFile = path.join(modelDir, sidecar.labels);
    labels = parseLabels((await folder.readText(sidecar.labels, 'labels file', false))!, labelsFile);
    labelsSource = `Labels file ${labelsFile}`;
  } else if (defaults.labelsPath) {
    labels = await readUserLabels(defaults.labelsPath, limits);
    labelsSource = `Labels file ${defaults.labelsPath}`;
  } else {
    labels = await metadataLabels(modelDir, limits);
    labelsSource = labels ? path.join(modelDir, 'metadata.json') : null;
  }

  const [output, outputSource] = overrides.output
    ? [overrides.output, '--output']
    : typeof sidecar?.output === 'string'
      ? [sidecar.output, sidecarFile]
      : defaults.output
        ? [defaults.output, 'the cnnLens.modelOutput setting']
        : [null, null];

  return {
    preprocessing,
    labels,
    labelsSource,
    layer: typeof sidecar?.layer === 'string' ? sidecar.layer : null,
    output,
    outputSource,
    displayName: typeof sidecar?.name === 'string' ? sidecar.name : null,
  };
}

/** Names a background class ("background", "__background__", "none", "unused", …), whatever its case and decoration. */
export function looksLikeBackground(label: string): boolean {
  return /^(background|none|unused|unlabell?ed)$/i.test(label.replace(/[^a-z]/gi, ''));
}

export interface FittedLabels {
  labels: string[];
  /** What was adjusted, for the run's notes; null when the labels fit as they were. */
  note: string | null;
}

/**
 * Fits labels to the model's class count, or says why they do not fit. Allowed mismatches, each announced:
 * one label more than outputs whose first looks like a background class (dropped), and one label fewer (the
 * model has a background class at index 0, as TF-Hub / slim classifiers do; "(background)" is prepended).
 * Any other count is an error naming both counts and where the labels came from.
 */
export function fitLabelsNoted(labels: string[] | null, numClasses: number, source = 'The labels'): FittedLabels {
  if (!labels) return { labels: Array.from({ length: numClasses }, (_, i) => `class ${i}`), note: null };
  if (labels.length === numClasses) return { labels, note: null };
  const counts = `${source} has ${labels.length} labels for the model's ${numClasses} outputs`;
  if (labels.length === numClasses + 1 && looksLikeBackground(labels[0])) {
    return {
      labels: labels.slice(1),
      note: `${counts}: the first, "${labels[0]}", is a background class the model does not output, so it was dropped.`,
    };
  }
  if (labels.length === numClasses - 1 && numClasses > 1) {
    return { labels: ['(background)', ...labels], note: `${counts}: output 0 is taken to be a background class and named "(background)".` };
  }
  throw new ModelError(
    `${source} has ${labels.length} labels but the model has ${numClasses} outputs; the labels do not belong to this model ` +
      `(give a labels file with one label per output, in output order).`,
  );
}

/** fitLabelsNoted's labels alone. */
export function fitLabels(labels: string[] | null, numClasses: number, source?: string): string[] {
  return fitLabelsNoted(labels, numClasses, source).labels;
}

/** What the configure flow sets; keys it does not name (layer, name, …) are kept as they were. */
export interface SidecarUpdate {
  preprocess: ScalingPreset;
  channelOrder: ChannelOrder;
  /** A file name inside the model's folder, the labels themselves, null for none; undefined keeps them. */
  labels?: string | string[] | null;
  /** How images are resized to the input; undefined keeps what is there. */
  resize?: ResizePolicy;
}

/**
 * Writes `cnnlens.json` next to the model, merged into what is there (or, with `replace`, over a
 * broken one), through a temp file and a rename.
 */
export async function writeSidecar(modelDir: string, update: SidecarUpdate, replace = false): Promise<string> {
  const file = path.join(modelDir, SIDECAR_NAME);
  const existing = replace ? {} : ((await readSidecar(modelDir)) ?? {});
  if (typeof update.labels === 'string') insideFolder(modelDir, update.labels, 'labels file');
  const next: Sidecar & Record<string, unknown> = { ...existing, preprocess: update.preprocess };
  // RGB is the default; caffe is BGR by definition. Only a real choice is written.
  if (update.channelOrder === 'bgr' && update.preprocess !== 'caffe') next.channelOrder = 'bgr';
  else delete next.channelOrder;
  if (update.resize) next.resize = update.resize;
  if (update.labels === null) delete next.labels;
  else if (update.labels !== undefined) next.labels = update.labels;
  await writeFileAtomic(file, `${JSON.stringify(next, null, 2)}\n`);
  return file;
}
