/**
 * Messages between the extension host and the engine's worker thread (not the webview: that is
 * src/shared/protocol.ts). Every request carries an id; the reply carries it back.
 */
import type { BackendChoice } from '../engine/tfjs/backend';
import type { AccelerationChoice } from '../engine/accel/ortRuntime';
import type { Evaluation } from '../engine/evaluate';
import type { InspectResult } from '../engine/inspect/inspect';
import type { ModelConfigOverrides } from '../files/modelConfig';
import type { Explanation, ModelSummary, Preview } from '../engine/types';
import type { ColormapName, ExplainRequest, InspectRequest, RgbaImage, TechniqueInfo } from '../shared/vocabulary';
import type { ScalingCheck } from '../engine/preprocessCheck';

export interface WorkerInit {
  backend: BackendChoice;
  onnxRuntime: AccelerationChoice;
  /**
   * Shared Int32Array[CANCEL_SLOTS]: the ids of the jobs the host last cancelled, written round-robin (a
   * panel's run is two jobs, its display copy and its explanation, and a cancel must reach both).
   */
  cancelFlag: SharedArrayBuffer;
  /**
   * The folder the worker makes its temporary files in: the host made it and removes it when the worker
   * ends, terminated or not (a terminated worker runs no 'exit' handler of its own); null: the OS temp folder.
   */
  tempRoot: string | null;
}

export const CANCEL_SLOTS = 8;

export function isCancelled(flags: Int32Array, id: number): boolean {
  for (let i = 0; i < flags.length; i++) if (Atomics.load(flags, i) === id) return true;
  return false;
}

export interface ModelRef {
  /** model.json path; null = the bundled model. */
  modelPath: string | null;
  defaults: ModelConfigOverrides;
}

export interface ImageLimitsRef {
  maxPixels: number;
  maxBytes: number;
}

/**
 * The exports (saveInspection, export, exportRawMap, exportCompare) name a finished job the worker still
 * keeps (`jobId`: an inspect, explain or evaluate job's own id; see keptRuns.ts) and send only the view
 * settings and the paths: no map or picture travels back. `replace` false: fail with code EEXIST rather
 * than replace an existing file.
 */
export type WorkerRequest =
  | { id: number; kind: 'describe'; model: ModelRef }
  | ({ id: number; kind: 'explain'; model: ModelRef; imagePath: string; limits: ImageLimitsRef } & ExplainRequest)
  | {
      id: number;
      kind: 'evaluate';
      model: ModelRef;
      imagePath: string;
      limits: ImageLimitsRef;
      techniques: string[];
      classIndex: number | null;
      layer: string | null;
      sanity: boolean;
      road: boolean;
    }
  | { id: number; kind: 'inspect'; model: ModelRef; imagePath: string; limits: ImageLimitsRef; request: InspectRequest }
  | { id: number; kind: 'checkScalings'; model: ModelRef; imagePath: string; limits: ImageLimitsRef }
  | { id: number; kind: 'displayImage'; imagePath: string; limits: ImageLimitsRef; maxSide: number }
  /** The Look-inside picture of an inspect job as a PNG. */
  | { id: number; kind: 'saveInspection'; jobId: number; outPath: string; replace: boolean }
  /** An explain job's map (and colour view, concepts, superpixel outlines) drawn over the full-size photo. */
  | {
      id: number;
      kind: 'export';
      jobId: number;
      limits: ImageLimitsRef;
      colormap: ColormapName;
      opacity: number;
      outPath: string;
      replace: boolean;
    }
  /** An explain job's map at its own resolution: a 16-bit PNG of the normalised map and a float32 .npy of the raw one. */
  | { id: number; kind: 'exportRawMap'; jobId: number; pngPath: string; npyPath: string; replace: boolean }
  /** An evaluate job's maps drawn over the image at `maxSide`, in one PNG grid, and its metrics as CSV. */
  | {
      id: number;
      kind: 'exportCompare';
      jobId: number;
      limits: ImageLimitsRef;
      maxSide: number;
      colormap: ColormapName;
      opacity: number;
      pngPath: string;
      csvPath: string;
      replace: boolean;
    };

export interface DescribeResult {
  summary: ModelSummary;
  labels: string[];
  backend: string;
  techniques: TechniqueInfo[];
  /** model.json plus its weight files, in bytes. */
  sizeOnDisk: number;
}

export interface WorkerResults {
  describe: DescribeResult;
  /** `jobId` (the job's own id) names the result for the exports. */
  explain: Explanation & { jobId: number };
  evaluate: Evaluation & { jobId: number };
  inspect: InspectResult & { jobId: number };
  checkScalings: ScalingCheck[];
  displayImage: RgbaImage;
  export: string;
  exportRawMap: string[];
  exportCompare: string[];
  saveInspection: string;
}

export type WorkerReply =
  | { kind: 'ready'; backend: string }
  | { kind: 'log'; line: string }
  /** A long explain job's map so far (SmoothGrad, integrated gradients). */
  | { kind: 'preview'; id: number; preview: Preview }
  /** An optimisation's image so far. */
  | { kind: 'inspectPreview'; id: number; fraction: number; image: RgbaImage }
  | { kind: 'reply'; id: number; ok: true; result: unknown }
  /** `code`: the Node error code when there is one (EEXIST: the export would replace a file). */
  | { kind: 'reply'; id: number; ok: false; error: { name: string; message: string; code?: string } };
