/**
 * Plain data types shared by the engine, the CLI, the worker and (through the protocol) the webview.
 * Nothing here imports tfjs, Node or vscode, so every bundle can use it.
 */

/** An 8-bit RGBA image, row-major, top row first. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
  /** When this is a reduced copy (the engine's working copy of a photo): the full image's size, upright. */
  full?: { width: number; height: number };
}

/** Packed 8-bit pixels, RGB (3 channels) or RGBA (4), row-major, top row first: full-size exports. */
export interface PackedPixels {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
  full?: { width: number; height: number };
}

/** A single-channel float map (0..1 once normalised), row-major, top row first. */
export interface Heatmap {
  width: number;
  height: number;
  data: Float32Array;
}

/** A rectangle of an image as fractions of its width and height: where the model's input was cut from. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const WHOLE_IMAGE: Region = { x: 0, y: 0, width: 1, height: 1 };

export const RESIZE_MODES = ['stretch', 'center-crop'] as const;
export const INTERPOLATIONS = ['bilinear', 'bicubic', 'nearest', 'area'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

/** Whether a resize samples the image (no antialiasing, or nearest): then it must read the full-size image, not a reduced copy. */
export function resizeSamples(policy: ResizePolicy): boolean {
  return !policy.antialias || policy.interpolation === 'nearest';
}

/**
 * How an image becomes the model's input size. `stretch`: the whole image to the input size (aspect not
 * kept). `center-crop`: the shorter side to `shorterSide`, then the input size cut from the centre
 * (torchvision's Resize(256) + CenterCrop(224)). `antialias`: downscaling filters over every source pixel
 * it covers (PIL, torchvision on PIL images); off = tf.image.resize's default, which samples.
 */
export interface ResizePolicy {
  mode: (typeof RESIZE_MODES)[number];
  /** center-crop only; default: the input's shorter side × 256/224. */
  shorterSide?: number;
  interpolation: Interpolation;
  antialias: boolean;
}

export const DEFAULT_RESIZE: ResizePolicy = { mode: 'stretch', interpolation: 'bilinear', antialias: true };

/** The `cnnLens.backend` setting's values (backend.ts picks one; the host only validates the setting). */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export const SCALING_PRESETS = ['mobilenet', 'zero-one', 'imagenet', 'caffe', 'raw'] as const;
export type ScalingPreset = (typeof SCALING_PRESETS)[number];

export const COLORMAP_NAMES = ['jet', 'turbo', 'viridis', 'inferno', 'gray', 'diverging'] as const;
export type ColormapName = (typeof COLORMAP_NAMES)[number];

export const CHANNEL_ORDERS = ['rgb', 'bgr'] as const;
export type ChannelOrder = (typeof CHANNEL_ORDERS)[number];

/** How an image becomes the model's input, and how its outputs are named. */
export interface Preprocessing {
  preset: ScalingPreset;
  /** Channel order the model reads; absent = RGB. (The caffe preset is BGR by definition.) */
  channelOrder?: ChannelOrder;
  /** How images are resized to the input; absent = DEFAULT_RESIZE. */
  resize?: ResizePolicy;
  /** Where the setting came from, for messages ("cnnlens.json", "settings", "CLI", "default"). */
  source: string;
}

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
}

export interface ModelSummary {
  name: string;
  path: string;
  format: 'layers' | 'graph' | 'onnx' | 'keras';
  /** [height, width, channels] */
  inputShape: [number, number, number];
  numClasses: number;
  layers: LayerInfo[];
  defaultLayer: string | null;
  preprocessing: Preprocessing;
  /** True when the scores techniques differentiate are pre-softmax logits. */
  hasLogits: boolean;
}

export interface Prediction {
  index: number;
  label: string;
  score: number;
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
  /** Tunable parameters with their defaults (SmoothGrad's samples, IG's steps, …). */
  parameters?: ParameterSpec[];
}

/** A request the engine can serve; every field but the image is optional. */
export interface ExplainOptions {
  technique?: string;
  /** Class index or label; default top-1. */
  classTarget?: number | string;
  layer?: string;
  /** Technique parameters by name; missing ones take their defaults. */
  parameters?: TechniqueParameters;
}

export interface Timings {
  decodeMs: number;
  forwardMs: number;
  techniqueMs: number;
  totalMs: number;
}

export interface Explanation {
  model: string;
  backend: string;
  technique: string;
  layer: string;
  target: Prediction;
  predictions: Prediction[];
  /**
   * The map at its own resolution (the layer's, or the model input's for pixel-space techniques),
   * normalised to 0..1; for signed maps 0.5 is zero and 0 / 1 are the strongest evidence against / for
   * the class (scaled by the largest magnitude, so signs keep scale). Drawn over `region` of the image.
   */
  heatmap: Heatmap;
  /** The part of the image the model saw (all of it unless the input was a centre crop). */
  region: Region;
  /** The image's full size (what `region` is a fraction of), EXIF orientation applied. */
  imageSize: { width: number; height: number };
  /** True when the map is signed (drawn with the diverging colormap). */
  signed: boolean;
  /** The colour-gradient view at the model input's resolution (RGBA), when that view was asked for. */
  colour: RgbaImage | null;
  /** The map before normalisation, at the same resolution as `heatmap` (for checks and exports). */
  rawMap: Heatmap;
  timings: Timings;
  /** Notes the user should see (fallbacks, caveats). */
  notes: string[];
  /** The parameters the technique ran with (defaults filled in). */
  parameters: TechniqueParameters;
  /** Numbers the technique measured about itself, e.g. integrated gradients' completenessError. */
  metrics: Record<string, number>;
}

/** Progress of a long technique: how far, what it is doing, and the map so far when it has one. */
export interface Preview {
  fraction: number;
  /** e.g. "channel 24 of 64". */
  detail: string;
  /** The map so far at the model's input (or layer) resolution, 0..1; null when there is none yet. */
  map: Heatmap | null;
  /** Where the map lies on the image. */
  region: Region;
  signed: boolean;
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
