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
import type { CompareResultMessage, ModelSource } from '../shared/protocol';

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

export interface OverlayExport {
  imagePath: string;
  explanation: Explanation;
  colormap: ColormapName;
  opacity: number;
  outPath: string;
  /** True: replace an existing file; false: keep it and reject with code EEXIST. */
  replace: boolean;
}

export interface RawMapExport {
  explanation: Pick<Explanation, 'heatmap' | 'rawMap'>;
  pngPath: string;
  npyPath: string;
  replace: boolean;
}

export interface CompareExport {
  imagePath: string;
  compare: CompareResultMessage;
  /** Technique titles for the metrics file. */
  titleOf(technique: string): string | undefined;
  colormap: ColormapName;
  opacity: number;
  pngPath: string;
  csvPath: string;
  replace: boolean;
}

export interface EngineApi {
  /** Loads (or reuses) the model configured for the workspace and describes it. */
  describeModel(): Promise<LoadedModelInfo>;
  techniques(): Promise<TechniqueInfo[]>;
  /** Rejects with RunCancelledError when `cancel` fires first. */
  explain(job: ExplainJob, cancel: CancelSignal): Promise<Explanation>;
  /** Runs each technique and measures its faithfulness (deletion / insertion, confidence, sanity). */
  evaluate(job: EvaluateJob, cancel: CancelSignal): Promise<Evaluation>;
  /** Feature maps, kernels or an optimised image for the "Look inside" section. */
  /** `jobId` names the picture for saveInspection. */
  inspect(job: InspectJob, cancel: CancelSignal): Promise<InspectResult & { jobId: number }>;
  /** Writes an earlier inspect job's picture (kept in the worker) as a PNG; returns the path written. */
  saveInspection(jobId: number, outPath: string): Promise<string>;
  /** The model's top-5 on the image under every input scaling ("Check preprocessing"). */
  checkScalings(imagePath: string, cancel: CancelSignal): Promise<ScalingCheck[]>;
  /** The image decoded (with the size caps) and downscaled so its longest side is at most maxSide. */
  displayImage(imagePath: string, maxSide: number, cancel?: CancelSignal): Promise<RgbaImage>;
  /**
   * Renders the overlay like the CLI does and writes it as a PNG at `outPath`; returns the path written.
   * Without `replace` an existing file is kept and the promise rejects with code EEXIST.
   */
  exportOverlay(job: OverlayExport): Promise<string>;
  /** Writes the map at its own resolution: a 16-bit grayscale PNG and a float32 .npy; returns both paths. */
  exportRawMap(job: RawMapExport): Promise<string[]>;
  /** Writes the Compare view's tiles as one PNG grid and its metrics as CSV; returns both paths. */
  exportCompare(job: CompareExport): Promise<string[]>;
}
