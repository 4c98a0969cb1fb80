/**
 * The host side of the engine worker: implements EngineApi by posting jobs to the worker thread.
 * Cancel is cooperative first (a shared flag the worker checks between stages); a job that does not
 * stop within a grace period gets its worker terminated, and the next job starts a fresh one.
 */
import * as path from 'node:path';
import { describeModelSource, type ModelChoice } from './modelSource';
import { makeWorkerTempRoot, removeStaleWorkerTempRoots, removeWorkerTempRoot } from './workerTemp';
import { removeStrandedTemporaries } from '../files/atomicWrite';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { BackendChoice } from '../engine/tfjs/backend';
import type { AccelerationChoice } from '../engine/accel/ortRuntime';
import type { ModelConfigOverrides } from '../files/modelConfig';
import type { Explanation, Preview, RgbaImage, TechniqueInfo } from '../engine/types';
import {
  CANCEL_SLOTS,
  type DescribeResult,
  type ImageLimitsRef,
  type ModelRef,
  type WorkerReply,
  type WorkerRequest,
  type WorkerResults,
} from '../worker/workerProtocol';
import type { Evaluation } from '../engine/evaluate';
import type { ScalingCheck } from '../engine/preprocessCheck';
import type { InspectResult } from '../engine/inspect/inspect';
import {
  RunCancelledError,
  type CancelSignal,
  type EngineApi,
  type EvaluateJob,
  type ExplainJob,
  type InspectJob,
  type InspectionSave,
  type Kept,
  type LoadedModelInfo,
  type OverlayExport,
  type RawMapExport,
  type CompareExport,
} from './engineApi';

/** The longest side of each tile of an exported Compare grid. */
export const COMPARE_EXPORT_MAX_SIDE = 512;

export interface EngineSettings {
  backend: BackendChoice;
  onnxRuntime: AccelerationChoice;
  /** Absolute model.json path, or null for the bundled model. */
  modelPath: string | null;
  /** Why the model setting cannot be used (a bad `zoo:` id, a model not downloaded here); jobs fail with it. */
  modelProblem: string | null;
  /** Why this model (default, setting, downloaded), for the panel's header; absent = from modelPath alone. */
  modelChoice?: ModelChoice;
  defaults: ModelConfigOverrides;
  limits: ImageLimitsRef;
}

const CANCEL_GRACE_MS = 3000;

type Pending = {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onPreview?: (preview: Preview) => void;
  onImage?: (image: RgbaImage, fraction: number) => void;
  /** The files an export job writes: their temporary files are removed should the worker be terminated mid-write. */
  outputs: string[];
};

/** The output paths a request names (exports and saves). */
function outputsOf(body: object): string[] {
  const fields = body as Record<string, unknown>;
  return ['outPath', 'pngPath', 'npyPath', 'csvPath']
    .map((key) => fields[key])
    .filter((value): value is string => typeof value === 'string');
}

/** Distributes Omit over the request union so each kind keeps its own fields. */
type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

export class EngineClient implements EngineApi {
  private worker: Worker | null = null;
  private cancelFlag = new Int32Array(new SharedArrayBuffer(4 * CANCEL_SLOTS));
  private nextCancelSlot = 0;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private workerBackend: string | null = null;
  /** Each running worker's temporary folder, removed here when the worker ends (see workerTemp.ts). */
  private readonly tempRoots = new Map<Worker, string>();
  /** Folders left by hosts that died are swept once, when the first worker starts (not at activation). */
  private swept = false;

  constructor(
    private readonly distDir: string,
    private readonly settings: () => EngineSettings,
    private readonly log: (line: string) => void,
    private readonly onBackend: (label: string) => void,
  ) {}

  /**
   * Ends a worker and removes its temporary folder (again on its 'exit', for files made meanwhile), and, once
   * it has stopped, the temporary files of the exports it was writing: they lie beside their targets, and a
   * terminated worker thread runs none of its own clean-up.
   */
  private endWorker(worker: Worker, outputs: string[] = []): void {
    void worker.terminate().then(() => outputs.forEach(removeStrandedTemporaries));
    const tempRoot = this.tempRoots.get(worker);
    if (tempRoot) removeWorkerTempRoot(tempRoot);
  }

  private pendingOutputs(): string[] {
    return [...this.pending.values()].flatMap((pending) => pending.outputs);
  }

  private ensureWorker(): Worker {
    const { backend, onnxRuntime } = this.settings();
    const runtimes = `${backend}/${onnxRuntime}`;
    if (this.worker && this.workerBackend !== runtimes) this.restart('the backend setting changed');
    if (this.worker) return this.worker;
    if (!this.swept) {
      this.swept = true;
      removeStaleWorkerTempRoots();
    }
    this.cancelFlag = new Int32Array(new SharedArrayBuffer(4 * CANCEL_SLOTS));
    const tempRoot = makeWorkerTempRoot();
    const worker = new Worker(path.join(this.distDir, 'engineWorker.js'), {
      // The process's real environment, not a copy: onnxruntime's native library reads its telemetry
      // switch there, and the worker sets it around loading the library (engine/accel/ortRuntime.ts).
      env: SHARE_ENV,
      workerData: { backend, onnxRuntime, cancelFlag: this.cancelFlag.buffer, tempRoot },
    });
    if (tempRoot) this.tempRoots.set(worker, tempRoot);
    worker.on('message', (message: WorkerReply) => this.receive(message));
    worker.on('error', (error) => this.failAll(new Error(`The CNN Lens engine stopped: ${error.message}`)));
    worker.on('exit', (code) => {
      if (tempRoot) removeWorkerTempRoot(tempRoot);
      this.tempRoots.delete(worker);
      if (this.worker === worker) {
        this.worker = null;
        this.failAll(new Error(`The CNN Lens engine exited (code ${code}).`));
      }
    });
    this.worker = worker;
    this.workerBackend = runtimes;
    return worker;
  }

  private receive(message: WorkerReply): void {
    if (message.kind === 'log') this.log(message.line);
    else if (message.kind === 'ready') this.onBackend(message.backend);
    else if (message.kind === 'preview') this.pending.get(message.id)?.onPreview?.(message.preview);
    else if (message.kind === 'inspectPreview') this.pending.get(message.id)?.onImage?.(message.image, message.fraction);
    else {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (message.ok) pending.resolve(message.result);
      else {
        const { name, code } = message.error;
        const error =
          name === 'CancelledError' ? new RunCancelledError() : Object.assign(new Error(message.error.message), code ? { code } : {});
        pending.reject(error);
      }
    }
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  private request<K extends keyof WorkerResults>(
    body: RequestBody & { kind: K },
    cancel?: CancelSignal,
    onPreview?: (preview: Preview) => void,
    onImage?: (image: RgbaImage, fraction: number) => void,
  ): Promise<WorkerResults[K]> {
    if (cancel?.cancelled) return Promise.reject(new RunCancelledError());
    const problem = 'model' in body ? this.settings().modelProblem : null;
    if (problem) return Promise.reject(new Error(problem));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<WorkerResults[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, onPreview, onImage, outputs: outputsOf(body) });
      cancel?.onCancel(() => this.cancel(id, worker));
      worker.postMessage({ ...body, id } as WorkerRequest);
    });
  }

  private cancel(id: number, worker: Worker): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    Atomics.store(this.cancelFlag, this.nextCancelSlot, id);
    this.nextCancelSlot = (this.nextCancelSlot + 1) % CANCEL_SLOTS;
    setTimeout(() => {
      if (!this.pending.has(id) || this.worker !== worker) return;
      this.log(`Job ${id} did not stop within ${CANCEL_GRACE_MS} ms of cancel; restarting the engine.`);
      this.pending.delete(id);
      pending.reject(new RunCancelledError());
      this.restart('a cancelled job did not stop', pending.outputs);
    }, CANCEL_GRACE_MS);
  }

  private restart(reason: string, outputs: string[] = []): void {
    const worker = this.worker;
    if (!worker) return;
    this.log(`Restarting the engine: ${reason}.`);
    this.worker = null;
    const stranded = [...outputs, ...this.pendingOutputs()];
    this.failAll(new Error(`The engine was restarted (${reason}).`));
    this.endWorker(worker, stranded);
  }

  private modelRef(): ModelRef {
    const { modelPath, defaults } = this.settings();
    return { modelPath, defaults };
  }

  async describeModel(): Promise<LoadedModelInfo> {
    const { modelPath, modelChoice } = this.settings();
    const choice = modelChoice ?? { origin: modelPath ? 'setting' : 'default', setting: modelPath ?? '', restricted: false };
    const result: DescribeResult = await this.request({ kind: 'describe', model: this.modelRef() });
    const source = describeModelSource(choice, result.summary.preprocessing.source);
    return { summary: result.summary, labels: result.labels, backend: result.backend, sizeOnDisk: result.sizeOnDisk, source };
  }

  async techniques(): Promise<TechniqueInfo[]> {
    const result = await this.request({ kind: 'describe', model: this.modelRef() });
    return result.techniques;
  }

  explain(job: ExplainJob, cancel: CancelSignal): Promise<Kept<Explanation>> {
    const { limits } = this.settings();
    const { onPreview, ...request } = job;
    return this.request(
      { kind: 'explain', model: this.modelRef(), limits, ...request, parameters: { ...request.parameters } },
      cancel,
      onPreview,
    );
  }

  evaluate(job: EvaluateJob, cancel: CancelSignal): Promise<Kept<Evaluation>> {
    const { limits } = this.settings();
    const { imagePath, techniques, classIndex, layer, sanity, road, onProgress } = job;
    return this.request(
      { kind: 'evaluate', model: this.modelRef(), limits, imagePath, techniques: [...techniques], classIndex, layer, sanity, road },
      cancel,
      onProgress,
    );
  }

  inspect(job: InspectJob, cancel: CancelSignal): Promise<Kept<InspectResult>> {
    const { imagePath, request, onImage } = job;
    return this.request(
      { kind: 'inspect', model: this.modelRef(), limits: this.settings().limits, imagePath, request: { ...request } },
      cancel,
      undefined,
      onImage,
    );
  }

  checkScalings(imagePath: string, cancel: CancelSignal): Promise<ScalingCheck[]> {
    return this.request({ kind: 'checkScalings', model: this.modelRef(), limits: this.settings().limits, imagePath }, cancel);
  }

  displayImage(imagePath: string, maxSide: number, cancel?: CancelSignal): Promise<RgbaImage> {
    return this.request({ kind: 'displayImage', imagePath, maxSide, limits: this.settings().limits }, cancel);
  }

  exportOverlay(job: OverlayExport, cancel?: CancelSignal): Promise<string> {
    return this.request({ kind: 'export', ...job, limits: this.settings().limits }, cancel);
  }

  exportRawMap(job: RawMapExport, cancel?: CancelSignal): Promise<string[]> {
    return this.request({ kind: 'exportRawMap', ...job }, cancel);
  }

  exportCompare(job: CompareExport, cancel?: CancelSignal): Promise<string[]> {
    return this.request({ kind: 'exportCompare', ...job, limits: this.settings().limits, maxSide: COMPARE_EXPORT_MAX_SIDE }, cancel);
  }

  saveInspection(job: InspectionSave, cancel?: CancelSignal): Promise<string> {
    return this.request({ kind: 'saveInspection', ...job }, cancel);
  }

  dispose(): void {
    const stranded = this.pendingOutputs();
    this.failAll(new Error('CNN Lens is shutting down.'));
    if (this.worker) this.endWorker(this.worker, stranded);
    this.worker = null;
  }
}
