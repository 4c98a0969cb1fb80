/**
 * The engine's front door: picks a backend once, loads and caches models, and runs a technique on an
 * image through the shared pipeline (preprocess → predictions → technique → upsample → normalise).
 * Used by the CLI directly and by the extension through its worker thread.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { selectBackend, type BackendChoice, type SelectedBackend } from './tfjs/backend';
import { Acceleration, type AccelerationChoice } from './accel/ortRuntime';
import { resolveClass } from './classes';
import { evaluate, type Evaluation, type EvaluationOptions } from './evaluate';
import { inspect, type InspectOptions, type InspectResult } from './inspect/inspect';
import { loadModel, type LoadedModel } from './models/loadModel';
import type { ModelAdapter } from './models/adapter';
import { readSidecar, SIDECAR_NAME, type ModelConfigOverrides } from '../files/modelConfig';
import { modelJsonPathOf } from '../files/modelFiles';
import { colourToRgba, normalise, normalisedMap, probabilities, toHeatmap, topK } from './postprocess';
import { imageWindow, modelScaler, regionOf, toModelPixels } from './preprocess';
import { resolveParameters } from './techniques/parameters';
import { findTechnique, techniqueInfos } from './techniques/registry';
import { tf } from './tfjs/tf';
import { hasNonFinite, nonFiniteError } from './finite';
import {
  DEFAULT_RESIZE,
  type Concepts,
  type ExplainOptions,
  type Explanation,
  type Prediction,
  type Preview,
  type Region,
  type RgbaImage,
  type TechniqueInfo,
} from './types';
import { CamTechnique, type TechniqueInput, type TechniqueOutput } from './techniques/base';
import { TechniqueNotApplicableError } from './techniques/cam';

export { resolveClass } from './classes';

export class CancelledError extends Error {
  constructor() {
    super('Cancelled.');
    this.name = 'CancelledError';
  }
}

/** Throws CancelledError when the caller has asked to stop; checked between pipeline stages. */
export type CancelCheck = () => void;

/** How often a cancel check is polled while a model loads (the loaders take an AbortSignal). */
const CANCEL_POLL_MS = 20;

/**
 * Runs `run` with an AbortSignal that fires, with the check's error as its reason, once `checkCancelled`
 * throws: polled on a timer, which runs whenever the load awaits (a file chunk, an inflate step, a weight).
 */
async function whileNotCancelled<T>(checkCancelled: CancelCheck | undefined, run: (signal?: AbortSignal) => Promise<T>): Promise<T> {
  if (!checkCancelled) return run();
  const controller = new AbortController();
  const timer = setInterval(() => {
    try {
      checkCancelled();
    } catch (error) {
      clearInterval(timer);
      controller.abort(error);
    }
  }, CANCEL_POLL_MS);
  try {
    return await run(controller.signal);
  } finally {
    clearInterval(timer);
  }
}

export interface EngineOptions {
  backend: BackendChoice;
  /**
   * 'auto' runs exported models on onnxruntime-node where it is installed (see accel/ortRuntime.ts): from
   * cnnLens.onnxRuntime (the worker), --no-onnxruntime (the CLI) or `onnxRuntimeFromEnvironment()`.
   */
  onnxRuntime: AccelerationChoice;
  wasmDir?: string;
  log: (line: string) => void;
}

/**
 * CNN_LENS_ONNXRUNTIME=off: the onnxruntime choice of runs that have no setting or flag to take it from — the
 * unit suite (`npm run test:unit` runs it a second time with the variable set, so the TF.js path stays tested)
 * and the benchmarks. The one place the variable is read: the extension passes cnnLens.onnxRuntime, the CLI
 * its --no-onnxruntime, and the engine never looks at the environment itself.
 */
export function onnxRuntimeFromEnvironment(): AccelerationChoice {
  return process.env.CNN_LENS_ONNXRUNTIME === 'off' ? 'off' : 'auto';
}

const TOP_K = 5;

export class Engine {
  private readonly models = new Map<string, { mtimeMs: number; key: string; model: LoadedModel }>();

  private constructor(
    readonly backend: SelectedBackend,
    private readonly acceleration: Acceleration,
    private readonly log: (line: string) => void,
  ) {}

  static async create(options: EngineOptions): Promise<Engine> {
    const backend = await selectBackend({ choice: options.backend, wasmDir: options.wasmDir, log: options.log });
    const acceleration = new Acceleration(options.onnxRuntime, options.log);
    const { runtime, reason } = acceleration.state;
    options.log(`Using the ${backend.label} backend; onnxruntime: ${reason}.`);
    return new Engine(runtime ? { ...backend, label: `${backend.label} + onnxruntime` } : backend, acceleration, options.log);
  }

  techniques(): TechniqueInfo[] {
    return techniqueInfos();
  }

  /**
   * Loads a model, reusing the loaded copy while the model file, the settings and the files that
   * configure it (cnnlens.json, the labels it names or the settings name, metadata.json) are unchanged.
   * `checkCancelled` stops a load part-way (between file chunks, inflate steps and weights; before the
   * build): it rejects with the check's error, its temporary files removed, and nothing is cached, so the
   * next load starts afresh. A load that completes is cached even if a cancel came during its build.
   */
  async loadModel(
    modelPath: string,
    overrides: ModelConfigOverrides = {},
    defaults: ModelConfigOverrides = {},
    checkCancelled?: CancelCheck,
  ): Promise<LoadedModel> {
    const mtime = (file: string) =>
      fs.stat(file).then(
        (stat) => stat.mtimeMs,
        // readModelFiles reports a missing model file with a proper message.
        () => -1,
      );
    const dir = path.dirname(modelJsonPathOf(modelPath));
    const sidecarLabels = await readSidecar(dir).then(
      (sidecar) => (typeof sidecar?.labels === 'string' ? [path.resolve(dir, sidecar.labels)] : []),
      () => [],
    );
    const configFiles = [
      path.join(dir, SIDECAR_NAME),
      path.join(dir, 'metadata.json'),
      ...sidecarLabels,
      overrides.labelsPath,
      defaults.labelsPath,
    ].filter((f): f is string => !!f);
    const [mtimeMs, ...configMtimes] = await Promise.all([mtime(modelPath), ...configFiles.map(mtime)]);
    const key = JSON.stringify([overrides, defaults, configMtimes]);
    const cached = this.models.get(modelPath);
    if (cached && cached.mtimeMs === mtimeMs && cached.key === key) return cached.model;
    checkCancelled?.();
    const model = await whileNotCancelled(checkCancelled, (signal) => loadModel(modelPath, overrides, defaults, this.acceleration, signal));
    if (cached) cached.model.adapter.dispose();
    this.models.set(modelPath, { mtimeMs, key, model });
    this.log(`Loaded ${model.summary.format} model "${model.summary.name}" (${model.summary.layers.length} layers).`);
    return model;
  }

  dispose(): void {
    for (const { model } of this.models.values()) model.adapter.dispose();
    this.models.clear();
  }

  async explain(
    model: LoadedModel,
    image: RgbaImage,
    options: ExplainOptions,
    checkCancelled: CancelCheck = () => {},
    previews?: PreviewOptions,
  ): Promise<Explanation> {
    const started = performance.now();
    const technique = findTechnique(options.technique ?? 'gradcam');
    const { adapter, summary, labels } = model;
    const notes: string[] = summary.labelsNote ? [summary.labelsNote] : [];

    const parameters = resolveParameters(technique.info.id, technique.info.parameters, options.parameters);
    const preprocess = modelScaler(summary);
    const policy = summary.preprocessing.resize ?? DEFAULT_RESIZE;
    const region = regionOf(imageWindow(image, summary.inputShape, policy));
    const pixels = toModelPixels(image, summary.inputShape, policy, checkCancelled);
    const input = preprocess(pixels);
    try {
      const forwardStart = performance.now();
      const probs = tf.tidy(() => probabilities(adapter.scores(input), adapter.hasLogits));
      const forwardMs = performance.now() - forwardStart;
      if (hasNonFinite(probs)) throw nonFiniteError(model, input, 'class scores');
      const predictions = topK(probs, labels, TOP_K);
      const classIndex = resolveClass(options.classTarget ?? options.classIndex ?? undefined, labels, predictions);
      const target: Prediction = { index: classIndex, label: labels[classIndex], score: probs[classIndex] };
      const layer = resolveLayer(model, options.layer, technique.info.needsLayer, technique instanceof CamTechnique);
      checkCancelled();

      const techniqueStart = performance.now();
      const restoreBackend = await this.backendFor(
        technique.info.needsGradients,
        () => gradientsOnWasm(adapter, layer, 'scores', technique instanceof CamTechnique),
        notes,
      );
      const reportProgress = previewReporter(previews, region);
      // Plain data, kept beside the tidy: it returns tensors, and walks whatever else it returns element by
      // element (a typed array of segment labels included).
      let concepts: TechniqueOutput['concepts'];
      let segments: TechniqueOutput['segments'];
      const run = () =>
        tf.tidy(() => {
          const {
            concepts: found,
            segments: outlined,
            ...out
          } = technique.run({
            model: adapter,
            input,
            pixels,
            preprocess,
            classIndex,
            layer,
            parameters,
            checkCancelled,
            reportProgress,
          });
          concepts = found;
          segments = outlined;
          return { ...out, signed: out.signed ?? false, metrics: out.metrics ?? {} };
        });
      let raw;
      try {
        raw = await this.retriedOnCpu(run, notes);
      } catch (error) {
        releaseFailedGradientTape();
        throw explainFailure(error, technique.info.title, summary.name);
      } finally {
        await restoreBackend();
      }
      notes.push(...raw.notes);
      const techniqueMs = performance.now() - techniqueStart;
      let heatmap, flat, colour, rawMap;
      try {
        checkCancelled();
        rawMap = toHeatmap(raw.map);
        if (hasNonFinite(rawMap.data)) throw nonFiniteError(model, input, `${technique.info.title} map of "${target.label}"`);
        ({ heatmap, flat } = normalisedMap(raw.map, raw.signed));
        colour = raw.colour ? colourToRgba(raw.colour) : null;
      } finally {
        tf.dispose([raw.map, ...(raw.colour ? [raw.colour] : [])]);
      }
      if (flat)
        notes.push(
          `The map is flat: "${target.label}" has no ${raw.signed ? '' : 'positive '}evidence${raw.layer ? ` at layer "${raw.layer}"` : ''}.`,
        );
      return {
        model: summary.name,
        backend: tf.getBackend(),
        technique: technique.info.id,
        layer: raw.layer,
        target,
        predictions,
        heatmap,
        region,
        imageSize: image.full ?? { width: image.width, height: image.height },
        signed: raw.signed,
        colour,
        rawMap,
        segments: segments ?? null,
        timings: { decodeMs: 0, forwardMs, techniqueMs, totalMs: performance.now() - started },
        notes,
        parameters,
        metrics: raw.metrics,
        ...(concepts ? { concepts: labelledConcepts(concepts, labels) } : {}),
      };
    } finally {
      tf.dispose([pixels, input]);
    }
  }

  /** "Look inside" views (see inspect/inspect.ts), with the same backend choice and failure handling as explain. */
  async inspect(
    model: LoadedModel,
    image: RgbaImage,
    request: InspectOptions,
    checkCancelled: CancelCheck = () => {},
    onPreview?: (image: RgbaImage, fraction: number) => void,
  ): Promise<InspectResult> {
    const notes: string[] = [];
    const needsGradients = request.kind !== 'featuremaps' && request.kind !== 'filters';
    const restoreBackend = await this.backendFor(needsGradients, () => gradientsOnWasm(model.adapter, request.layer, 'activations'), notes);
    try {
      const result = await this.retriedOnCpu(() => inspect(model, image, request, checkCancelled, onPreview), notes);
      return notes.length ? { ...result, caption: `${result.caption}. ${notes.join(' ')}` } : result;
    } catch (error) {
      releaseFailedGradientTape();
      throw explainFailure(error, 'this view', model.summary.name);
    } finally {
      await restoreBackend();
    }
  }

  /** Compares techniques by faithfulness metrics on one image (see evaluate.ts). */
  evaluate(
    model: LoadedModel,
    image: RgbaImage,
    options: EvaluationOptions,
    checkCancelled?: CancelCheck,
    onProgress?: (fraction: number, detail: string) => void,
  ): Promise<Evaluation> {
    return evaluate(this, model, image, options, checkCancelled, onProgress);
  }

  /**
   * Runs `run`; if it stopped on a kernel wasm lacks (the backend check expected onnxruntime to compute a
   * gradient, and it fell back to TF.js instead), once more on the cpu backend.
   */
  private async retriedOnCpu<T>(run: () => T, notes: string[]): Promise<T> {
    try {
      return run();
    } catch (error) {
      const active = tf.getBackend();
      if (active !== 'wasm' || !(error instanceof Error) || !MISSING_WASM_KERNEL.test(error.message)) throw error;
      releaseFailedGradientTape();
      await tf.setBackend('cpu');
      notes.push(`Computed on the cpu backend (wasm lacks ${MISSING_WASM_KERNEL.exec(error.message)![1]}).`);
      try {
        return run();
      } finally {
        await tf.setBackend(active);
      }
    }
  }

  /**
   * Graph-model gradients use tfjs's stock op gradients, several of which have no wasm kernel; such
   * runs move to the cpu backend (tensors follow automatically) and come back afterwards.
   */
  private async backendFor(needsGradients: boolean, gradientsOnWasm: () => boolean, notes: string[]): Promise<() => Promise<void>> {
    const active = tf.getBackend();
    // Asked last: a graph model's answer exports gradient sessions, wanted only when wasm would run them.
    if (!needsGradients || active !== 'wasm' || gradientsOnWasm()) return async () => {};
    await tf.setBackend('cpu');
    notes.push('Gradients of graph models run on the cpu backend (wasm lacks some gradient kernels).');
    return async () => {
      await tf.setBackend(active);
    };
  }
}

export interface PreviewOptions {
  onPreview: (preview: Preview) => void;
  /** Least time between previews (each costs a normalisation and a message); default 250 ms. */
  intervalMs?: number;
}

/** The technique's progress callback: tells the listener when enough time has passed, with a preview if any. */
function previewReporter(previews: PreviewOptions | undefined, region: Region): TechniqueInput['reportProgress'] {
  const interval = previews?.intervalMs ?? 250;
  let last = performance.now();
  return (fraction, preview, detail = '') => {
    if (!previews || fraction >= 1 || performance.now() - last < interval) return;
    last = performance.now();
    let shown: Preview = { fraction, detail, map: null, signed: false, region };
    if (preview) {
      tf.tidy(() => {
        const { map, signed = false } = preview();
        const { normalised } = normalise(map, signed);
        const [height, width] = map.shape;
        // A copy: the preview's buffer is transferred to the host.
        shown = {
          fraction,
          detail,
          signed,
          region,
          map: { width, height, data: Float32Array.from(normalised.dataSync() as Float32Array) },
        };
      });
    }
    previews.onPreview(shown);
  };
}

/**
 * tfjs keeps the tensors a failed backward pass had saved (its tape is only cleared on success), and
 * the next gradient would start a fresh tape over them: dispose them now. Reads engine state, which
 * tfjs exposes but does not document; a no-op when there is no stale tape.
 */
export function releaseFailedGradientTape(): void {
  const state = (tf.engine() as unknown as { state: { activeTape: { saved?: Tensor[] }[] | null; gradientDepth: number } }).state;
  if (!state.activeTape || state.gradientDepth !== 0) return;
  for (const node of state.activeTape) tf.dispose(node.saved ?? []);
  state.activeTape = null;
}

const MISSING_GRADIENT = /gradient function not found for (\w+)/i;
const MISSING_WASM_KERNEL = /Kernel '(\w+)' not registered for backend 'wasm'/;

/** Turns tfjs's "gradient function not found for Op" into a message naming the op and what still works. */
function explainFailure(error: unknown, techniqueTitle: string, modelName: string): unknown {
  const op = error instanceof Error ? MISSING_GRADIENT.exec(error.message)?.[1] : undefined;
  if (!op) return error;
  const gradientFree = techniqueInfos().filter((info) => !info.needsGradients);
  const offer = gradientFree.length
    ? ` Gradient-free techniques still work: ${gradientFree.map((info) => `${info.title} (${info.id})`).join(', ')}.`
    : '';
  return new TechniqueNotApplicableError(
    `Model "${modelName}" uses the op ${op}, which has no gradient in TensorFlow.js, so ${techniqueTitle} cannot run on it.${offer}`,
  );
}

/**
 * Whether the gradients a run needs avoid wasm's missing kernels: the image's gradient unless `layersOnly`
 * (a CAM reads only its layers' gradients), and each comma-separated layer's where the answer depends on it.
 */
function gradientsOnWasm(
  adapter: ModelAdapter,
  layers: string | null | undefined,
  of: 'scores' | 'activations',
  layersOnly = false,
): boolean {
  const names = (layers ?? '').split(',').filter(Boolean);
  if (!adapter.gradientsOnWasmAt) return adapter.gradientsOnWasm;
  if (!(layersOnly && names.length > 0) && !adapter.gradientsOnWasm) return false;
  return names.every((layer) => adapter.gradientsOnWasmAt!(layer, of));
}

/**
 * The layer(s) to explain: one name, or for CAM techniques several separated by commas (fused). Empty or
 * absent = the model's default target layer.
 */
export function resolveLayer(model: LoadedModel, requested: string | undefined | null, needsLayer: boolean, fuses = true): string {
  const { summary } = model;
  if (!requested) {
    if (summary.defaultLayer) return summary.defaultLayer;
    if (needsLayer)
      throw new Error(`Model "${summary.name}" has no convolutional layer with a spatial output, so there is nothing to map.`);
    return '';
  }
  let names = requested
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length > 1 && !fuses) {
    // A technique that only reads a layer when it has one (SmoothGrad over Grad-CAM) takes the first.
    if (needsLayer) throw new Error('Only the CAM techniques fuse several layers; pick one layer.');
    names = names.slice(0, 1);
  }
  return names.map((name) => checkLayer(model, name)).join(',');
}

function checkLayer(model: LoadedModel, requested: string): string {
  const { summary } = model;
  const camLayers = summary.layers.filter((layer) => layer.camCapable);
  const layer = summary.layers.find((info) => info.name === requested);
  const suggestions = camLayers
    .slice(-5)
    .map((l) => l.name)
    .join(', ');
  if (!layer) throw new Error(`Model "${summary.name}" has no layer "${requested}". Layers that can be mapped include: ${suggestions}.`);
  if (!layer.camCapable) {
    throw new Error(
      `Layer "${requested}" has output shape [${layer.outputShape.join(', ')}]; a map needs a layer with a spatial (height × width × channels) output, e.g. ${suggestions}.`,
    );
  }
  return requested;
}

/** A technique's concepts with their classes named. */
function labelledConcepts(concepts: NonNullable<TechniqueOutput['concepts']>, labels: string[]): Concepts {
  return {
    maps: concepts.maps,
    classes: concepts.classes.map((top) => top.map(({ index, score }) => ({ index, label: labels[index] ?? String(index), score }))),
  };
}
