/**
 * Loads a model from disk into the adapter for its format, plus its preprocessing and labels.
 * Model file kinds (formats.ts) map to their readers here; the rest of the engine sees only `ModelAdapter`.
 */
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { defaultCamLayer, type AttentionLayout, type ModelAdapter } from './adapter';
import type { Acceleration } from '../accel/ortRuntime';
import { loadGraphAdapter } from './graph/graphAdapter';
import { LayersAdapter, loadLayersAdapter } from './layers/layersAdapter';
import { fitLabelsNoted, limitsOf, resolveModelConfig, type ModelConfigOverrides } from '../../files/modelConfig';
import { readKerasFile } from './keras/kerasFile';
import { buildKerasModel } from './keras/kerasModel';
import { fileKindOf, type ModelFileKind, type ModelFormat } from '../../files/formats';
import { ModelError, readModelFiles, type ModelFiles, type ReadModelOptions } from '../../files/modelFiles';
import { OnnxAdapter } from './onnx/onnxAdapter';
import type { AdapterOptions } from './outputCheck';
import { readOnnxFile } from './onnx/onnxFile';
import type { ModelSummary } from '../types';

export interface LoadedModel {
  adapter: ModelAdapter;
  summary: ModelSummary;
  /** One per output; how they were fitted to the outputs, if they were, is `summary.labelsNote`. */
  labels: string[];
  sizeOnDisk: number;
}

const TFJS_ADAPTERS: Record<
  ModelFiles['format'],
  (files: ModelFiles, acceleration: Acceleration, options: AdapterOptions) => Promise<ModelAdapter>
> = {
  layers: loadLayersAdapter,
  graph: loadGraphAdapter,
};

/**
 * tfjs leaves tensors and variables behind when a load fails part-way (seen: 6–8 per failed
 * loadLayersModel), so a load runs in an engine scope: on failure the scope and every variable
 * created since are disposed; on success the model's own weights are kept and the rest let go.
 * The worker runs one job at a time, so nothing else allocates inside this scope.
 */
async function withoutLeaks(load: () => Promise<ModelAdapter>): Promise<ModelAdapter> {
  const engine = tf.engine();
  const variablesBefore = new Set(Object.keys(engine.registeredVariables));
  engine.startScope();
  try {
    const adapter = await load();
    adapter.ownedTensors().forEach((tensor) => tf.keep(tensor));
    engine.endScope();
    return adapter;
  } catch (error) {
    engine.endScope();
    for (const [name, variable] of Object.entries(engine.registeredVariables)) {
      if (!variablesBefore.has(name)) variable.dispose();
    }
    throw error;
  }
}

/**
 * One forward pass on a blank image, so that settings tfjs accepts but cannot run (strides of 1e9, found by
 * the fuzz run) fail at load, naming the file, rather than in the first explain. A kernel the wasm backend
 * lacks is not the model's fault: runs fall back to cpu for it.
 */
function runsOnce(adapter: ModelAdapter): void {
  try {
    tf.tidy(() => void adapter.scores(tf.zeros([1, ...adapter.inputShape]) as Tensor4D).dataSync());
  } catch (error) {
    if (/not registered for backend/.test((error as Error).message)) return;
    throw new Error(`it does not run on a blank image (${(error as Error).message})`);
  }
}

/** What loadModel reads before it builds the adapter: the model's folder and path, and a factory. */
interface ModelSource {
  dir: string;
  file: string;
  format: ModelFormat;
  sizeOnDisk: number;
  build: (acceleration: Acceleration, options: AdapterOptions) => Promise<ModelAdapter>;
}

/** Each kind of model file's reader (formats.ts tells the kinds apart), up to the adapter's factory. */
const SOURCES: Record<ModelFileKind['id'], (modelPath: string, options: ReadModelOptions) => Promise<ModelSource>> = {
  onnx: async (modelPath, options) => {
    const file = path.resolve(modelPath);
    const { model, sizeOnDisk } = await readOnnxFile(file, options);
    return {
      dir: path.dirname(file),
      file,
      format: 'onnx',
      sizeOnDisk,
      build: async (acceleration, adapterOptions) => new OnnxAdapter(model, file, acceleration, adapterOptions),
    };
  },
  keras: async (modelPath, options) => {
    const file = path.resolve(modelPath);
    const keras = await readKerasFile(file, { signal: options.signal, limits: options.limits });
    const build = async (acceleration: Acceleration, adapterOptions: AdapterOptions) =>
      new LayersAdapter(await buildKerasModel(keras, file), acceleration, 'keras', adapterOptions);
    return { dir: path.dirname(file), file, format: 'keras', sizeOnDisk: keras.sizeOnDisk, build };
  },
  tfjs: async (modelPath, options) => {
    const files = await readModelFiles(modelPath, options);
    const build = (acceleration: Acceleration, adapterOptions: AdapterOptions) =>
      TFJS_ADAPTERS[files.format](files, acceleration, adapterOptions);
    return { dir: files.dir, file: files.modelJsonPath, format: files.format, sizeOnDisk: files.sizeOnDisk, build };
  },
};

/**
 * Reads, checks and builds a model. `acceleration`: whether the model runs on onnxruntime, the caller's choice
 * (the engine's, from its options). `signal` stops the reading between chunks (file reads, a `.keras`
 * archive's inflate steps, HDF5 datasets; a temporary folder is removed) and before the build, rejecting with
 * the signal's reason; the build itself runs to the end once started.
 */
export async function loadModel(
  modelPath: string,
  overrides: ModelConfigOverrides,
  defaults: ModelConfigOverrides,
  acceleration: Acceleration,
  signal?: AbortSignal,
): Promise<LoadedModel> {
  signal?.throwIfAborted();
  const kind = fileKindOf(modelPath);
  const source = await SOURCES[kind.id](modelPath, { limits: limitsOf(overrides, defaults), signal });
  const config = await resolveModelConfig(source.dir, overrides, defaults);
  signal?.throwIfAborted();
  const adapter = await withoutLeaks(async () => {
    try {
      const built = await source.build(acceleration, {
        file: source.file,
        output: config.output ?? undefined,
        outputSource: config.outputSource ?? undefined,
      });
      try {
        runsOnce(built);
      } catch (error) {
        built.dispose();
        throw error;
      }
      return built;
    } catch (error) {
      if (error instanceof ModelError) throw error;
      // A JS error from inside tfjs means it met a structure it never checks (a number where a list goes).
      const internal = error instanceof TypeError || error instanceof RangeError || (error as Error).name === 'InvalidCharacterError';
      const reason = internal
        ? `its topology is damaged or was edited (TensorFlow.js stopped at: ${(error as Error).message})`
        : (error as Error).message;
      throw new ModelError(`${source.file} could not be loaded: ${reason}`);
    }
  });
  let fitted;
  try {
    fitted = fitLabelsNoted(config.labels, adapter.numClasses, config.labelsSource ?? undefined);
  } catch (error) {
    adapter.dispose();
    throw error;
  }
  const layerNames = new Set(adapter.layers.map((layer) => layer.name));
  const sidecarLayer = config.layer && layerNames.has(config.layer) ? config.layer : null;
  const summary: ModelSummary = {
    // A TF.js model is named by its folder, a single-file model by its file.
    name: config.displayName ?? (kind.id === 'tfjs' ? path.basename(source.dir) : path.basename(source.file, path.extname(source.file))),
    path: source.file,
    format: source.format,
    inputShape: adapter.inputShape,
    numClasses: adapter.numClasses,
    layers: adapter.layers,
    defaultLayer: sidecarLayer ?? adapter.preferredCamLayer ?? defaultCamLayer(adapter.layers),
    preprocessing: config.preprocessing,
    hasLogits: adapter.hasLogits,
    attention: attentionSummary(adapter.attentionLayout?.() ?? null),
    labelsNote: fitted.note,
  };
  return { adapter, summary, labels: fitted.labels, sizeOnDisk: source.sizeOnDisk };
}

function attentionSummary(layout: AttentionLayout | null): ModelSummary['attention'] {
  return layout && { blocks: layout.blocks, heads: layout.heads, specialTokens: layout.special, grid: layout.grid };
}
