/**
 * What the host layer asks of the engine. The engine itself runs in a worker thread
 * (see engineClient.ts); the panel and commands only see this interface, so tests can
 * substitute it and the extension host never runs tensor code on its event loop.
 */
import type { Evaluation } from '../engine/evaluate';
import type { InspectResult } from '../engine/inspect/inspect';
import type { Explanation, ModelSummary, Preview } from '../engine/types';
import type { ColormapName, ExplainRequest, InspectRequest, RgbaImage, TechniqueInfo } from '../shared/vocabulary';
import type { ScalingCheck } from '../engine/preprocessCheck';
import type { ModelSource } from '../shared/protocol';

/**
 * A result with the id of the job that produced it: the worker keeps the last few runs under their ids
 * (bounded, least recently used out), and the exports name a run by it instead of sending its maps back.
 */
export type Kept<T> = T & { jobId: number };

/** The panel's request on one image. */
export interface ExplainJob extends ExplainRequest {
  imagePath: string;
  /** Called with the map so far while long techniques run (SmoothGrad, integrated gradients). */
  onPreview?: (preview: Preview) => void;
}

export interface EvaluateJob {
  imagePath: string;
  /** 2–6 technique ids. */
  techniques: string[];
  classIndex: number | null;
  layer: string | null;
  sanity: boolean;
  road: boolean;
  onProgress?: (preview: Preview) => void;
}

export interface InspectJob {
  imagePath: string;
  request: InspectRequest;
  /** The image so far while an optimisation runs. */
  onImage?: (image: RgbaImage, fraction: number) => void;
}

export interface CancelSignal {
  readonly cancelled: boolean;
  onCancel(listener: () => void): void;
}

export class RunCancelledError extends Error {
  constructor() {
    super('The run was cancelled.');
    this.name = 'RunCancelledError';
  }
}

export interface LoadedModelInfo {
  summary: ModelSummary;
  labels: string[];
  backend: string;
  /** model.json plus its weight files, in bytes. */
  sizeOnDisk: number;
  /** Which model this is and why it is the one in use (absent from test doubles). */
  source?: ModelSource;
}

/**
 * The exports name a finished run by its `jobId` and send only the view and the paths. `replace` true:
 * replace an existing file; false: keep it and reject with code EEXIST. A run the worker no longer keeps
 * rejects with a message asking to run it again.
 */
export interface OverlayExport {
  /** An explain job's id. */
  jobId: number;
  colormap: ColormapName;
  opacity: number;
  outPath: string;
  replace: boolean;
}

export interface RawMapExport {
  /** An explain job's id. */
  jobId: number;
  pngPath: string;
  npyPath: string;
  replace: boolean;
}

export interface CompareExport {
  /** An evaluate job's id. */
  jobId: number;
  colormap: ColormapName;
  opacity: number;
  pngPath: string;
  csvPath: string;
  replace: boolean;
}

export interface InspectionSave {
  /** An inspect job's id. */
  jobId: number;
  outPath: string;
  replace: boolean;
}

export interface EngineApi {
  /** Loads (or reuses) the model configured for the workspace and describes it. */
  describeModel(): Promise<LoadedModelInfo>;
  techniques(): Promise<TechniqueInfo[]>;
  /** Rejects with RunCancelledError when `cancel` fires first. `jobId` names the result for the exports. */
  explain(job: ExplainJob, cancel: CancelSignal): Promise<Kept<Explanation>>;
  /** Runs each technique and measures its faithfulness (deletion / insertion, confidence, sanity). */
  evaluate(job: EvaluateJob, cancel: CancelSignal): Promise<Kept<Evaluation>>;
  /** Feature maps, kernels or an optimised image for the "Look inside" section; `jobId` names the picture for saveInspection. */
  inspect(job: InspectJob, cancel: CancelSignal): Promise<Kept<InspectResult>>;
  // The exports write what an earlier job produced (kept in the worker, named by its jobId) and return the
  // paths written; `cancel` stops them (RunCancelledError) with nothing written.
  /** An inspect job's picture as a PNG. */
  saveInspection(job: InspectionSave, cancel?: CancelSignal): Promise<string>;
  /** The model's top-5 on the image under every input scaling ("Check preprocessing"). */
  checkScalings(imagePath: string, cancel: CancelSignal): Promise<ScalingCheck[]>;
  /** The image decoded (with the size caps) and downscaled so its longest side is at most maxSide. */
  displayImage(imagePath: string, maxSide: number, cancel?: CancelSignal): Promise<RgbaImage>;
  /** An explain job's overlay at the photo's full size, drawn as the CLI draws it, as a PNG at `outPath`. */
  exportOverlay(job: OverlayExport, cancel?: CancelSignal): Promise<string>;
  /** An explain job's map at its own resolution: a 16-bit grayscale PNG and a float32 .npy; returns both paths. */
  exportRawMap(job: RawMapExport, cancel?: CancelSignal): Promise<string[]>;
  /** An evaluate job's tiles as one PNG grid and its metrics as CSV; returns both paths. */
  exportCompare(job: CompareExport, cancel?: CancelSignal): Promise<string[]>;
}
