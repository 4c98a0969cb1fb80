/**
 * Messages between the extension host and the engine's worker thread (not the webview: that is
 * src/shared/protocol.ts). Every request carries an id; the reply carries it back.
 */
import type { BackendChoice } from '../engine/tfjs/backend';
import type { AccelerationChoice } from '../engine/accel/ortRuntime';
import type { Evaluation } from '../engine/evaluate';
import type { InspectResult } from '../engine/inspect/inspect';
import type { ModelConfigOverrides } from '../engine/models/modelConfig';
import type { Explanation, ModelSummary, Preview } from '../engine/types';
import type {
  ColormapName,
  Concepts,
  ExplainRequest,
  Heatmap,
  InspectRequest,
  Region,
  RgbaImage,
  SegmentLabels,
  TechniqueInfo,
} from '../shared/vocabulary';
import type { ScalingCheck } from '../engine/preprocessCheck';
import type { CompareMetrics } from '../engine/compareCsv';
import type { PixelsMessagePart } from '../shared/protocol';

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
  /** Writes the picture of an earlier inspect job (by its id) as a PNG: the pixels stay in the worker. */
  | { id: number; kind: 'saveInspection'; inspectId: number; outPath: string }
  /** The small map (and colour view) go back with the region they cover; the worker draws them over the full-size photo. */
  | {
      id: number;
      kind: 'export';
      imagePath: string;
      limits: ImageLimitsRef;
      heatmap: Heatmap;
      signed: boolean;
      colour: RgbaImage | null;
      /** Deep Feature Factorization's concepts, drawn instead of the map. */
      concepts?: Concepts;
      /** The superpixels of LIME, KernelSHAP and feature ablation, outlined over the map. */
      segments?: SegmentLabels | null;
      region: Region;
      imageSize: { width: number; height: number };
      colormap: ColormapName;
      opacity: number;
      outPath: string;
      /** False: fail with code EEXIST rather than replace an existing file. */
      replace: boolean;
    }
  /** The map at its own resolution: a 16-bit PNG of `heatmap` and a float32 .npy of `rawMap`. */
  | { id: number; kind: 'exportRawMap'; heatmap: Heatmap; rawMap: Heatmap; pngPath: string; npyPath: string; replace: boolean }
  /**
   * The Compare view: each technique's map (bytes, 0..255 as the panel got them; null when it did not run)
   * drawn over the image at `maxSide`, in one PNG grid, and the metrics as CSV.
   */
  | {
      id: number;
      kind: 'exportCompare';
      imagePath: string;
      limits: ImageLimitsRef;
      maxSide: number;
      tiles: ({ heatmap: PixelsMessagePart; colour: PixelsMessagePart | null; region: Region; signed: boolean } | null)[];
      metrics: CompareMetrics[];
      target: { index: number; label: string };
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
  explain: Explanation;
  evaluate: Evaluation;
  /** `jobId` names the picture for saveInspection. */
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
