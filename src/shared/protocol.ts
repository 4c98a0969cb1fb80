/**
 * Every message between the extension host and the CNN Lens panel's webview, typed once.
 * Both sides import this module; it imports only the shared vocabulary (no vscode, DOM, Node or engine).
 */
import {
  COLORMAP_NAMES,
  INSPECT_KINDS,
  REGULARISER_NAMES,
  REGULARISER_RANGES,
  type ColormapName,
  type ExplainRequest,
  type InspectKind,
  type InspectRequest,
  type LayerInfo,
  type Prediction,
  type Region,
  type RegulariserName,
  type TechniqueInfo,
  type TechniqueParameters,
  type TileLayout,
  type Timings,
} from './vocabulary';

/** Pixels as sent to the webview: RGBA for images, one byte per pixel (0..255) for maps. */
export interface PixelsMessagePart {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface PanelModel {
  name: string;
  backend: string;
  inputShape: [number, number, number];
  layers: LayerInfo[];
  defaultLayer: string | null;
  /** Every class label, index = class id, so the user can pick any class by name or index. */
  labels: string[];
  /** How the labels were fitted to the outputs (a background class dropped or added), shown by the class picker; null when they matched. */
  labelsNote: string | null;
  /** Which model this is and why the panel explains with it; null when the host does not say. */
  source: ModelSource | null;
}

/** Why a model is the one in use: nothing set (the shipped default), the cnnLens.model setting, or a downloaded model it names. */
export const MODEL_ORIGINS = ['default', 'setting', 'downloaded'] as const;
export type ModelOrigin = (typeof MODEL_ORIGINS)[number];
export interface ModelSource {
  origin: ModelOrigin;
  /** True when a cnnlens.json beside the model set its input scaling (and labels). */
  configured: boolean;
  /** One line for the header, e.g. "default model: cnnLens.model is not set". */
  text: string;
}
/** The commands the panel may ask the host to run (its header's Select Model… and Download… buttons). */
export const PANEL_COMMANDS = ['cnnLens.selectModel', 'cnnLens.downloadModel'] as const;
export type PanelCommand = (typeof PANEL_COMMANDS)[number];

export interface ViewSettings {
  colormap: ColormapName;
  opacity: number;
}

// ---- host → webview ----
export interface InitMessage {
  type: 'init';
  imageName: string;
  model: PanelModel;
  techniques: TechniqueInfo[];
  colormaps: readonly ColormapName[];
  view: ViewSettings;
  /** The seed for "Look inside" optimisations (the cnnLens.seed setting). */
  seed: number;
}
export interface RunStartedMessage {
  type: 'runStarted';
  runId: number;
  technique: string;
  /** What the run was asked for, so previews are captioned by their own run (class null = top-1). */
  request?: ExplainRequest;
  /** A Look-inside run's request. */
  inspect?: InspectRequest;
}
export interface ResultMessage {
  type: 'result';
  runId: number;
  technique: string;
  layer: string;
  target: Prediction;
  predictions: Prediction[];
  backend: string;
  timings: Timings;
  notes: string[];
  /** The parameters the technique ran with (defaults filled in). */
  parameters: TechniqueParameters;
  /** The image, downscaled for display when large. */
  image: PixelsMessagePart;
  /** The normalised map at its own resolution (for signed maps 128 is zero); the webview scales it onto `region`. */
  heatmap: PixelsMessagePart;
  /** Where on the image the model looked (fractions; the whole image unless it was centre-cropped). */
  region: Region;
  /** The image's full size in pixels, for the caption. */
  imageSize: { width: number; height: number };
  /** True when the map is signed: drawn with the diverging colormap, whatever the picker says. */
  signed: boolean;
  /** The colour-gradient view (RGBA at the model input's size), drawn instead of the colormapped map. */
  colour: PixelsMessagePart | null;
  /** Superpixel boundaries (255 on a boundary, at the model input's size) for the superpixel techniques; else null. */
  outline: PixelsMessagePart | null;
  /** Deep Feature Factorization: its concepts, drawn one colour each (with a legend) instead of the map. */
  concepts?: ConceptsPart | null;
}
/** Concepts as sent to the webview: each map as bytes (0..255 = its own 0..1) at the layer's size, and each one's top classes. */
export interface ConceptsPart {
  maps: PixelsMessagePart[];
  classes: Prediction[][];
}
/** The map so far while a long run goes on (SmoothGrad, integrated gradients). */
export interface PreviewMessage {
  type: 'preview';
  runId: number;
  /** 0..1 of the work done. */
  fraction: number;
  /** What the technique is at, e.g. "channel 24 of 64"; may be empty. */
  detail: string;
  /** The map so far and the image to draw it on; null when the technique has no map yet. */
  image: PixelsMessagePart | null;
  heatmap: PixelsMessagePart | null;
  region: Region;
  signed: boolean;
}
/** One technique's column in the Compare view. */
export interface CompareRow {
  technique: string;
  /** Set when the technique could not run; everything else is then absent. */
  error?: string;
  layer?: string;
  heatmap?: PixelsMessagePart;
  region?: Region;
  signed?: boolean;
  colour?: PixelsMessagePart | null;
  /** Superpixel boundaries, as ResultMessage's. */
  outline?: PixelsMessagePart | null;
  /** Class probability after 0, 1/k, …, 1 of the pixels were deleted / inserted. */
  deletion?: number[];
  insertion?: number[];
  deletionAuc?: number;
  insertionAuc?: number;
  timeMs?: number;
  /** Technique time ÷ forward-pass time. */
  timeRatio?: number;
  averageDrop?: number;
  /** P(class | input × map) − P(class | input) (pytorch-grad-cam's CamMultImageConfidenceChange). */
  imageTimesMapChange?: number;
  /** ROAD, when asked for: mean MoRF and LeRF changes over the percentiles and (LeRF − MoRF) / 2. */
  road?: { mostRelevantFirst: number; leastRelevantFirst: number; combined: number };
  /** Spearman ρ with the original map, per randomised layer (output first), when the check ran. */
  sanity?: { layer: string; correlation: number }[];
  sanityWarning?: string | null;
}
export interface CompareResultMessage {
  type: 'compareResult';
  runId: number;
  classIndex: number;
  classLabel: string;
  steps: number;
  image: PixelsMessagePart;
  rows: CompareRow[];
}

/** A picture of what a layer or filter responds to (feature maps, kernels, an optimised image). */
export interface InspectResultMessage {
  type: 'inspectResult';
  runId: number;
  kind: InspectKind;
  image: PixelsMessagePart;
  /** One line saying what the picture shows. */
  caption: string;
  /** The objective after every step, for the optimised images. */
  history: number[];
  /** For feature-map grids: where each channel's tile is (a click picks it), and the paging. */
  tiles: TileLayout | null;
  page: number;
  pages: number;
}
/** The image so far while an optimisation runs. */
export interface InspectPreviewMessage {
  type: 'inspectPreview';
  runId: number;
  fraction: number;
  image: PixelsMessagePart;
}
export interface RunEndedMessage {
  type: 'runEnded';
  runId: number;
  outcome: 'cancelled' | 'failed';
  message: string;
}
export interface ExportedMessage {
  type: 'exported';
  /** What was written (paths joined by ", "). */
  path: string;
  /** True when the user cancelled at the replace question or while the files were written: nothing was written. */
  cancelled?: boolean;
}
export interface ErrorMessage {
  type: 'error';
  message: string;
}
/** What a click in the model tree asks of the panel: target a layer, or look at its maps or filters. */
export const LAYER_ACTIONS = ['explain', 'featuremaps', 'filters'] as const;
export type LayerAction = (typeof LAYER_ACTIONS)[number];
export interface FocusLayerMessage {
  type: 'focusLayer';
  layer: string;
  action: LayerAction;
}
export type HostToWebview =
  | InitMessage
  | FocusLayerMessage
  | RunStartedMessage
  | ResultMessage
  | CompareResultMessage
  | InspectResultMessage
  | InspectPreviewMessage
  | PreviewMessage
  | RunEndedMessage
  | ExportedMessage
  | ErrorMessage;

// ---- webview → host ----
export interface ReadyMessage {
  type: 'ready';
}
export interface RunRequestMessage extends ExplainRequest {
  type: 'run';
}
export const MIN_COMPARED = 2;
export const MAX_COMPARED = 6;
/** Compare 2–6 techniques on the same class and layer, with faithfulness metrics. */
export interface CompareRequestMessage {
  type: 'compare';
  techniques: string[];
  classIndex: number | null;
  layer: string | null;
  /** Also run the model-randomisation check (slow). */
  sanity: boolean;
  /** Also run ROAD (two imputations and forward passes per percentile). */
  road: boolean;
}
export interface InspectRequestMessage extends InspectRequest {
  type: 'inspect';
}
/** Save the last inspection picture as a PNG next to the image. */
export interface SaveInspectMessage {
  type: 'saveInspect';
}
export interface CancelMessage {
  type: 'cancel';
}
/**
 * What Export writes beside the image: the overlay at the photo's size, the map at its own resolution
 * (16-bit PNG + .npy), or the Compare view's tiles and metrics.
 */
export const EXPORT_KINDS = ['overlay', 'map', 'compare'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];
export interface ExportMessage {
  type: 'export';
  view: ViewSettings;
  /** 'overlay' when absent. */
  what: ExportKind;
}
export interface ViewChangedMessage {
  type: 'viewChanged';
  view: ViewSettings;
}

/** Run one of PANEL_COMMANDS (nothing else: the webview is untrusted). */
export interface RunCommandMessage {
  type: 'runCommand';
  command: PanelCommand;
}

/** The user asked for this panel's colormap and opacity to be the defaults of new panels (workspace settings). */
export interface SaveViewDefaultsMessage {
  type: 'saveViewDefaults';
  view: ViewSettings;
}
export type WebviewToHost =
  | ReadyMessage
  | RunRequestMessage
  | CompareRequestMessage
  | InspectRequestMessage
  | SaveInspectMessage
  | CancelMessage
  | ExportMessage
  | ViewChangedMessage
  | RunCommandMessage
  | SaveViewDefaultsMessage;

export const MAX_INSPECT_STEPS = 5000;

const MAX_NAME_LENGTH = 512;
/** Limits on the `parameters` of a run request (the engine validates names and ranges itself). */
export const MAX_PARAMETERS = 16;
export const MAX_PARAMETER_NAME_LENGTH = 32;
export const MAX_PARAMETER_VALUE_LENGTH = 64;
const PARAMETER_NAME = /^[a-z][a-zA-Z-]*$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isShortString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_LENGTH;
}

function parseView(value: unknown): ViewSettings | null {
  if (!isRecord(value)) return null;
  const { colormap, opacity } = value;
  if (typeof colormap !== 'string' || !(COLORMAP_NAMES as readonly string[]).includes(colormap)) return null;
  if (typeof opacity !== 'number' || !Number.isFinite(opacity) || opacity < 0 || opacity > 1) return null;
  return { colormap: colormap as ColormapName, opacity };
}

/**
 * Run parameters: a plain object of at most MAX_PARAMETERS entries, names like `samples` (the regex also
 * keeps out `__proto__`), values finite numbers or non-empty strings of at most
 * MAX_PARAMETER_VALUE_LENGTH characters (an empty string would read as 0 where a number is expected).
 * Rebuilt into a fresh object. Anything else → null; the engine then checks names and ranges.
 */
export function parseParameters(value: unknown): TechniqueParameters | null {
  if (!isRecord(value)) return null;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return null;
  const keys = Object.keys(value);
  if (keys.length > MAX_PARAMETERS) return null;
  const parameters: TechniqueParameters = {};
  for (const key of keys) {
    if (key.length > MAX_PARAMETER_NAME_LENGTH || !PARAMETER_NAME.test(key)) return null;
    const item = value[key];
    const valid =
      (typeof item === 'number' && Number.isFinite(item)) ||
      (typeof item === 'string' && item.length > 0 && item.length <= MAX_PARAMETER_VALUE_LENGTH);
    if (!valid) return null;
    parameters[key] = item;
  }
  return parameters;
}

/** The fields of an ExplainRequest, rebuilt; null when any is malformed. */
function parseExplainRequest(raw: Record<string, unknown>): ExplainRequest | null {
  const { technique, classIndex, layer } = raw;
  if (!isShortString(technique)) return null;
  const validClass = classIndex === null || (typeof classIndex === 'number' && Number.isInteger(classIndex) && classIndex >= 0);
  if (!validClass) return null;
  if (layer !== null && !isShortString(layer)) return null;
  const parameters = parseParameters(raw.parameters);
  if (!parameters) return null;
  return { technique, classIndex: classIndex as number | null, layer: layer as string | null, parameters };
}

/** Known regulariser names with finite numbers inside their ranges, rebuilt; anything else → null. */
function parseRegularisers(value: unknown): Partial<Record<RegulariserName, number>> | null {
  if (!isRecord(value)) return null;
  const result: Partial<Record<RegulariserName, number>> = {};
  for (const [name, item] of Object.entries(value)) {
    if (!(REGULARISER_NAMES as readonly string[]).includes(name)) return null;
    const [min, max] = REGULARISER_RANGES[name as RegulariserName];
    if (typeof item !== 'number' || !Number.isFinite(item) || item < min || item > max) return null;
    result[name as RegulariserName] = item;
  }
  return result;
}

/** A model source as the header shows it, rebuilt; null when malformed (the header then says nothing about it). */
export function parseModelSource(raw: unknown): ModelSource | null {
  if (!isRecord(raw)) return null;
  const { origin, configured, text } = raw;
  if (typeof origin !== 'string' || !(MODEL_ORIGINS as readonly string[]).includes(origin)) return null;
  if (typeof configured !== 'boolean' || !isShortString(text)) return null;
  return { origin: origin as ModelOrigin, configured, text };
}

/**
 * The webview is untrusted input: accept only well-formed messages, rebuilt field by field so that
 * nothing unexpected travels further. Returns null for anything else.
 */
export function parseWebviewMessage(raw: unknown): WebviewToHost | null {
  if (!isRecord(raw)) return null;
  switch (raw.type) {
    case 'ready':
      return { type: 'ready' };
    case 'cancel':
      return { type: 'cancel' };
    case 'run': {
      const request = parseExplainRequest(raw);
      return request ? { type: 'run', ...request } : null;
    }
    case 'compare': {
      const { techniques, classIndex, layer, sanity, road } = raw;
      if (!Array.isArray(techniques) || techniques.length < MIN_COMPARED || techniques.length > MAX_COMPARED) return null;
      if (!techniques.every(isShortString) || new Set(techniques).size !== techniques.length) return null;
      const validClass = classIndex === null || (typeof classIndex === 'number' && Number.isInteger(classIndex) && classIndex >= 0);
      if (!validClass || (layer !== null && !isShortString(layer)) || typeof sanity !== 'boolean' || typeof road !== 'boolean') return null;
      return {
        type: 'compare',
        techniques: [...(techniques as string[])],
        classIndex: classIndex as number | null,
        layer: layer as string | null,
        sanity,
        road,
      };
    }
    case 'inspect': {
      const wholeOrNull = (v: unknown, max: number) => v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max);
      const { kind, layer, filter, classIndex, steps, seed, fourier, sort, page, unit, fromImage } = raw;
      if (typeof fourier !== 'boolean' || (sort !== 'mean' && sort !== 'index') || !wholeOrNull(page, 1e5) || page === null) return null;
      if (typeof fromImage !== 'boolean') return null;
      let cell: { y: number; x: number } | null = null;
      if (unit !== null) {
        if (!isRecord(unit) || !wholeOrNull(unit.y, 1e5) || !wholeOrNull(unit.x, 1e5) || unit.y === null || unit.x === null) return null;
        cell = { y: unit.y as number, x: unit.x as number };
      }
      const regularisers = parseRegularisers(raw.regularisers);
      if (!regularisers) return null;
      if (typeof kind !== 'string' || !(INSPECT_KINDS as readonly string[]).includes(kind)) return null;
      if (
        (layer !== null && !isShortString(layer)) ||
        !wholeOrNull(filter, 1e6) ||
        !wholeOrNull(classIndex, 1e6) ||
        !wholeOrNull(steps, MAX_INSPECT_STEPS)
      )
        return null;
      if (steps === 0 || typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 2 ** 31) return null;
      return {
        type: 'inspect',
        kind: kind as InspectKind,
        layer: layer as string | null,
        filter: filter as number | null,
        classIndex: classIndex as number | null,
        steps: steps as number | null,
        seed,
        fourier,
        sort,
        page: page as number,
        unit: cell,
        fromImage,
        regularisers,
      };
    }
    case 'saveInspect':
      return { type: 'saveInspect' };
    case 'export': {
      const view = parseView(raw.view);
      const what = raw.what ?? 'overlay';
      if (typeof what !== 'string' || !(EXPORT_KINDS as readonly string[]).includes(what)) return null;
      return view ? { type: 'export', view, what: what as ExportKind } : null;
    }
    case 'viewChanged': {
      const view = parseView(raw.view);
      return view ? { type: 'viewChanged', view } : null;
    }
    case 'runCommand': {
      const { command } = raw;
      if (typeof command !== 'string' || !(PANEL_COMMANDS as readonly string[]).includes(command)) return null;
      return { type: 'runCommand', command: command as PanelCommand };
    }
    case 'saveViewDefaults': {
      const view = parseView(raw.view);
      return view ? { type: 'saveViewDefaults', view } : null;
    }
    default:
      return null;
  }
}

/** Bytes as a message may carry them: a Uint8Array, another view or buffer, or a plain array of 0..255. */
function bytesOf(data: unknown): Uint8Array | null {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data) && data.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) return Uint8Array.from(data as number[]);
  return null;
}

/** Most concepts a result may carry (the technique allows 12). */
export const MAX_CONCEPTS = 16;

/**
 * A result's concepts, checked before the webview draws them (it trusts no message blindly): 1..MAX_CONCEPTS
 * maps of one size with bytes of that length, each with 1..10 classes (whole index, short label, score in
 * 0..1). Rebuilt; null when anything is off.
 */
export function parseConcepts(raw: unknown): ConceptsPart | null {
  if (!isRecord(raw) || !Array.isArray(raw.maps) || !Array.isArray(raw.classes)) return null;
  const { maps, classes } = raw;
  if (maps.length < 1 || maps.length > MAX_CONCEPTS || classes.length !== maps.length) return null;
  const first: unknown = maps[0];
  if (!isRecord(first)) return null;
  const { width, height } = first;
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) < 1 || (height as number) < 1) return null;
  if ((width as number) * (height as number) > 2 ** 20) return null;
  const parsedMaps: PixelsMessagePart[] = [];
  for (const map of maps) {
    if (!isRecord(map) || map.width !== width || map.height !== height) return null;
    const data = bytesOf(map.data);
    if (!data || data.length !== (width as number) * (height as number)) return null;
    parsedMaps.push({ width: width as number, height: height as number, data });
  }
  const parsedClasses: Prediction[][] = [];
  for (const list of classes) {
    if (!Array.isArray(list) || list.length < 1 || list.length > 10) return null;
    const parsed: Prediction[] = [];
    for (const item of list) {
      if (!isRecord(item) || !Number.isInteger(item.index) || (item.index as number) < 0 || typeof item.label !== 'string') return null;
      if (item.label.length > MAX_NAME_LENGTH || typeof item.score !== 'number' || !(item.score >= 0 && item.score <= 1)) return null;
      parsed.push({ index: item.index as number, label: item.label, score: item.score });
    }
    parsedClasses.push(parsed);
  }
  return { maps: parsedMaps, classes: parsedClasses };
}
