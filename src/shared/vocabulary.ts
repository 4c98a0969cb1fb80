/**
 * The words the engine, the host and the webview all speak: techniques and their parameters, layers,
 * predictions, maps and where they lie on the image, colormaps, "Look inside" requests. Plain data only;
 * the webview bundles this file, so it imports nothing (no Node, no vscode, no engine).
 */

/** An 8-bit RGBA image, row-major, top row first. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
  /** When this is a reduced copy (the engine's working copy of a photo): the full image's size, upright. */
  full?: { width: number; height: number };
}

/** A single-channel float map (0..1 once normalised), row-major, top row first. */
export interface Heatmap {
  width: number;
  height: number;
  data: Float32Array;
}

/**
 * Superpixels a map was measured on (LIME, KernelSHAP, feature ablation), at the model input's size: labels
 * 0 … count − 1, row-major. A type, not an interface, so it can sit in a tf.tidy result.
 */
export type SegmentLabels = {
  width: number;
  height: number;
  count: number;
  labels: Int32Array;
};

/** A rectangle of an image as fractions of its width and height: where the model's input was cut from. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const WHOLE_IMAGE: Region = { x: 0, y: 0, width: 1, height: 1 };

export const COLORMAP_NAMES = ['jet', 'turbo', 'viridis', 'inferno', 'gray', 'diverging'] as const;
export type ColormapName = (typeof COLORMAP_NAMES)[number];

export interface LayerInfo {
  name: string;
  /** Keras class name for layers models, op name for graph models. */
  kind: string;
  /** Output shape without the batch dimension; null where unknown. */
  outputShape: (number | null)[];
  params: number;
  /** 4-D output with spatial size > 1: Grad-CAM can target it. */
  camCapable: boolean;
  /** A convolution with a 4-D kernel: its filters can be drawn ("Look inside" → Filters). */
  hasKernel: boolean;
  /**
   * How an output that is not a CNN's feature map becomes `outputShape`'s grid, for display: e.g.
   * "197 tokens: 1 special + 14×14" (a ViT's sequence) or "channels-last" (Swin); absent for feature maps.
   */
  layout?: string;
}

export interface Prediction {
  index: number;
  label: string;
  score: number;
}

/**
 * Deep Feature Factorization's concepts: each concept's map at the layer's resolution, scaled to 0..1 on
 * its own (pytorch-grad-cam's scale_cam_image), and the top classes its channel vector scores through the
 * model's head. Drawn as one colour per concept (src/shared/conceptDrawing.ts).
 */
export interface Concepts {
  maps: Heatmap[];
  classes: Prediction[][];
}

export interface ParameterSpec {
  name: string;
  summary: string;
  default: number | string;
  /** For numbers: the allowed range. */
  min?: number;
  max?: number;
  integer?: boolean;
  /** For choices: the allowed values. */
  choices?: string[];
}

export type TechniqueParameters = Record<string, number | string>;

export interface TechniqueInfo {
  id: string;
  title: string;
  /** One line for pickers and `--help`. */
  summary: string;
  needsGradients: boolean;
  needsLayer: boolean;
  /** True for the CAM techniques, which can fuse the maps of several layers. */
  fusesLayers?: boolean;
  /**
   * The map does not depend on the class (Eigen-CAM: the activations' principal component), always or
   * when a parameter has a value (deconvnet's `target` = `activation`). Captions then say so.
   */
  classAgnostic?: boolean | { parameter: string; value: string };
  /** Runs only on ViT-family models (global self-attention over patch tokens): attention rollout. */
  needsAttention?: boolean;
  /** Tunable parameters with their defaults (SmoothGrad's samples, IG's steps, …). */
  parameters?: ParameterSpec[];
}

/** True when `info`'s map does not depend on the class for these parameters. */
export function isClassAgnostic(info: Pick<TechniqueInfo, 'classAgnostic'> | undefined, parameters: TechniqueParameters = {}): boolean {
  const flag = info?.classAgnostic;
  if (flag === undefined || flag === false) return false;
  if (flag === true) return true;
  return String(parameters[flag.parameter]) === flag.value;
}

export interface Timings {
  decodeMs: number;
  forwardMs: number;
  techniqueMs: number;
  totalMs: number;
}

/** Where each channel's tile sits in a grid picture, so a click can pick the channel. */
export interface TileLayout {
  columns: number;
  tileWidth: number;
  tileHeight: number;
  gap: number;
  channels: number[];
}

export const INSPECT_KINDS = ['featuremaps', 'filters', 'maximize', 'classimage', 'dream', 'invert'] as const;
export type InspectKind = (typeof INSPECT_KINDS)[number];

export const REGULARISER_NAMES = ['l2', 'blurEvery', 'blurSigma', 'jitter', 'clipNorm', 'clipContribution', 'tv'] as const;
export type RegulariserName = (typeof REGULARISER_NAMES)[number];
/** Bounds accepted for each regulariser (percentiles below 1, steps and pixels small). */
export const REGULARISER_RANGES: Record<RegulariserName, [number, number]> = {
  l2: [0, 1],
  blurEvery: [0, 1000],
  blurSigma: [0.1, 10],
  jitter: [0, 64],
  clipNorm: [0, 0.99],
  clipContribution: [0, 0.99],
  tv: [0, 1000],
};

/**
 * The one request from the panel's controls to a technique, the same at every step: the webview posts it
 * (`run`), the host adds the image (ExplainJob), the worker's message carries it, Engine.explain reads it.
 */
export interface ExplainRequest {
  technique: string;
  /** null = the top-1 class. */
  classIndex: number | null;
  /** null = the model's default layer; CAM techniques take several, comma-separated, and fuse their maps. */
  layer: string | null;
  /** Technique parameters by name; missing ones take their defaults (the engine checks names and ranges). */
  parameters: TechniqueParameters;
}

/** A "Look inside" request: which view, of what, with which optimisation settings. */
export interface InspectRequest {
  kind: InspectKind;
  layer: string | null;
  /** Filter of the layer; null = the default (the most active for feature maps, 0 to maximise, all to dream). */
  filter: number | null;
  classIndex: number | null;
  /** Optimisation steps; null = the default. */
  steps: number | null;
  seed: number;
  /** maximize / classimage: optimise a decorrelated Fourier spectrum instead of pixels. */
  fourier: boolean;
  /** Feature maps: order of the channels and which page of them (0-based). */
  sort: 'mean' | 'index';
  page: number;
  /** maximize: one unit (row, column) of the filter instead of its mean; start from the image instead of noise. */
  unit: { y: number; x: number } | null;
  fromImage: boolean;
  /** Regularisers by name; absent = the view's default. */
  regularisers: Partial<Record<RegulariserName, number>>;
}
