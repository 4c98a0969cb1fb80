/**
 * Per-model settings: input scaling and class labels. They come from, in order of precedence,
 * explicit overrides (CLI flags), the sidecar `cnnlens.json` next to model.json, the caller's
 * defaults (VS Code settings), and finally built-in defaults.
 * Label files named by the sidecar must stay inside the model's folder.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import { CHANNEL_ORDERS, DEFAULT_RESIZE, INTERPOLATIONS, RESIZE_MODES, SCALING_PRESETS, type ChannelOrder, type Interpolation, type Preprocessing, type ResizePolicy, type ScalingPreset } from '../types';
import { ModelError } from './modelFiles';

export const SIDECAR_NAME = 'cnnlens.json';

export interface ModelConfigOverrides {
  preprocess?: ScalingPreset;
  /** A labels file path (CLI/settings: any readable path the user gave). */
  labelsPath?: string;
}

export interface ModelConfig {
  preprocessing: Preprocessing;
  /** Raw labels as found; fitted to the class count later. */
  labels: string[] | null;
  /** Default target layer named by the sidecar, if any. */
  layer: string | null;
  displayName: string | null;
}

/** What `cnnlens.json` may hold; the configure flow writes it, the loader reads it. */
export interface Sidecar {
  preprocess?: unknown;
  channelOrder?: unknown;
  resize?: unknown;
  labels?: unknown;
  layer?: unknown;
  name?: unknown;
}

export function isScalingPreset(value: unknown): value is ScalingPreset {
  return typeof value === 'string' && (SCALING_PRESETS as readonly string[]).includes(value);
}

export function isChannelOrder(value: unknown): value is ChannelOrder {
  return typeof value === 'string' && (CHANNEL_ORDERS as readonly string[]).includes(value);
}

export async function readSidecar(dir: string): Promise<Sidecar | null> {
  const file = path.join(dir, SIDECAR_NAME);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
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
    const labels: string[] = [];
    for (const [key, value] of entries) labels[Number(key)] = String(value);
    return Array.from(labels, (label, i) => label ?? `class ${i}`);
  }
  return trimmed.split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length > 0);
}

async function readLabels(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new ModelError(`Labels file not found: ${file}`);
  }
  return parseLabels(text, file);
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
async function metadataLabels(dir: string): Promise<string[] | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(dir, 'metadata.json'), 'utf8')) as { labels?: unknown };
    return Array.isArray(parsed.labels) ? parsed.labels.map(String) : null;
  } catch {
    return null;
  }
}

/**
 * `"resize": {"mode": "center-crop", "shorterSide": 256, "interpolation": "bicubic", "antialias": true}`;
 * every key optional (defaults: stretch, bilinear, antialiased). Unknown keys or values are errors, so a
 * typo never silently changes what the model sees.
 */
export function parseResize(value: unknown, file: string): ResizePolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ModelError(`${file}: "resize" must be an object such as {"mode": "center-crop"}.`);
  const record = value as Record<string, unknown>;
  const known = ['mode', 'shorterSide', 'interpolation', 'antialias'];
  const unknown = Object.keys(record).filter((key) => !known.includes(key));
  if (unknown.length) throw new ModelError(`${file}: "resize" has no setting ${unknown.map((k) => `"${k}"`).join(', ')} (it takes ${known.join(', ')}).`);
  const policy: ResizePolicy = { ...DEFAULT_RESIZE };
  if (record.mode !== undefined) {
    if (!(RESIZE_MODES as readonly unknown[]).includes(record.mode)) throw new ModelError(`${file}: "resize.mode" must be one of ${RESIZE_MODES.join(', ')}.`);
    policy.mode = record.mode as ResizePolicy['mode'];
  }
  if (record.interpolation !== undefined) {
    if (!(INTERPOLATIONS as readonly unknown[]).includes(record.interpolation)) throw new ModelError(`${file}: "resize.interpolation" must be one of ${INTERPOLATIONS.join(', ')}.`);
    policy.interpolation = record.interpolation as Interpolation;
  }
  if (record.antialias !== undefined) {
    if (typeof record.antialias !== 'boolean') throw new ModelError(`${file}: "resize.antialias" must be true or false.`);
    policy.antialias = record.antialias;
  }
  if (record.shorterSide !== undefined) {
    const side = record.shorterSide;
    if (typeof side !== 'number' || !Number.isInteger(side) || side < 1 || side > 8192) throw new ModelError(`${file}: "resize.shorterSide" must be a whole number of pixels from 1 to 8192.`);
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
  const sidecar = await readSidecar(modelDir);
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
  if (overrides.labelsPath) labels = await readLabels(overrides.labelsPath);
  else if (Array.isArray(sidecar?.labels)) labels = sidecar.labels.map(String);
  else if (typeof sidecar?.labels === 'string') labels = await readLabels(insideFolder(modelDir, sidecar.labels, 'labels file'));
  else if (defaults.labelsPath) labels = await readLabels(defaults.labelsPath);
  else labels = await metadataLabels(modelDir);

  return {
    preprocessing,
    labels,
    layer: typeof sidecar?.layer === 'string' ? sidecar.layer : null,
    displayName: typeof sidecar?.name === 'string' ? sidecar.name : null,
  };
}

/**
 * Fits labels to the model's class count. A list one shorter than the outputs means the model has a
 * background class at index 0 (TF-Hub / slim classifiers), so it is prepended.
 */
export function fitLabels(labels: string[] | null, numClasses: number): string[] {
  if (labels && labels.length === numClasses) return labels;
  if (labels && labels.length === numClasses - 1) return ['(background)', ...labels];
  return Array.from({ length: numClasses }, (_, i) => labels?.[i] ?? `class ${i}`);
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
