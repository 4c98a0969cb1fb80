/**
 * The engine's plain data: models, preprocessing, explanations. Nothing here imports tfjs, Node or
 * vscode, so every bundle can use it. The words the webview shares live in src/shared/vocabulary.ts, the
 * choices model files and settings make (scalings, resize policies, backend names, image endings) in
 * src/files/choices.ts; both are re-exported here so engine code has one place to import its types from.
 */
import type {
  Concepts,
  ExplainRequest,
  Heatmap,
  LayerInfo,
  Prediction,
  Region,
  RgbaImage,
  SegmentLabels,
  TechniqueParameters,
  Timings,
} from '../shared/vocabulary';
import type { ModelFormat } from '../files/formats';
import type { Preprocessing, ResizePolicy } from '../files/choices';

export {
  COLORMAP_NAMES,
  INSPECT_KINDS,
  REGULARISER_NAMES,
  REGULARISER_RANGES,
  WHOLE_IMAGE,
  type ColormapName,
  type Concepts,
  type ExplainRequest,
  type Heatmap,
  type InspectKind,
  type InspectRequest,
  type LayerInfo,
  type ParameterSpec,
  type Prediction,
  type Region,
  type RegulariserName,
  type RgbaImage,
  type SegmentLabels,
  type TechniqueInfo,
  type TechniqueParameters,
  type TileLayout,
  type Timings,
} from '../shared/vocabulary';
export {
  BACKEND_CHOICES,
  CHANNEL_ORDERS,
  DEFAULT_RESIZE,
  IMAGE_EXTENSIONS,
  INTERPOLATIONS,
  RESIZE_MODES,
  SCALING_PRESETS,
  type BackendChoice,
  type ChannelOrder,
  type Interpolation,
  type Preprocessing,
  type ResizePolicy,
  type ScalingPreset,
} from '../files/choices';

/** Packed 8-bit pixels, RGB (3 channels) or RGBA (4), row-major, top row first: full-size exports. */
export interface PackedPixels {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
  full?: { width: number; height: number };
}

/** Whether a resize samples the image (no antialiasing, or nearest): then it must read the full-size image, not a reduced copy. */
export function resizeSamples(policy: ResizePolicy): boolean {
  return !policy.antialias || policy.interpolation === 'nearest';
}

export interface ModelSummary {
  name: string;
  path: string;
  format: ModelFormat;
  /** [height, width, channels] */
  inputShape: [number, number, number];
  numClasses: number;
  layers: LayerInfo[];
  defaultLayer: string | null;
  preprocessing: Preprocessing;
  /** True when the scores techniques differentiate are pre-softmax logits. */
  hasLogits: boolean;
  /** ViT-family models: their encoder's attention blocks (what attention rollout reads); null for others. */
  attention: { blocks: number; heads: number; specialTokens: number; grid: [number, number] } | null;
  /**
   * How the labels were fitted to the outputs, when their counts differ by one (a background class dropped,
   * or "(background)" taken for output 0); null when they match. Shown wherever the labels are: a run's
   * notes, evaluate's output, the model view, the panel's class picker.
   */
  labelsNote: string | null;
}

/**
 * What Engine.explain accepts: the shared ExplainRequest with any field left out for its default, and the
 * class also by label (the CLI's `--class`); `classTarget`, when given, is used instead of `classIndex`.
 */
export interface ExplainOptions extends Partial<ExplainRequest> {
  classTarget?: number | string;
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
  /** The superpixels the map was measured on (model input size), for superpixel techniques; else null. */
  segments: SegmentLabels | null;
  timings: Timings;
  /** Notes the user should see (fallbacks, caveats). */
  notes: string[];
  /** The parameters the technique ran with (defaults filled in). */
  parameters: TechniqueParameters;
  /** Numbers the technique measured about itself, e.g. integrated gradients' completenessError. */
  metrics: Record<string, number>;
  /** Deep Feature Factorization's concepts (its own view: one colour per concept, and their classes). */
  concepts?: Concepts;
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
