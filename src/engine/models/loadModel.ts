/**
 * Loads a model from disk into the adapter for its format, plus its preprocessing and labels.
 * Model formats register here; the rest of the engine sees only `ModelAdapter`.
 */
import * as path from 'node:path';
import { tf, tfc, tfl } from '../tf';
import { defaultCamLayer, type ModelAdapter } from './adapter';
import { GraphAdapter } from './graphAdapter';
import { LayersAdapter } from './layersAdapter';
import { fitLabels, resolveModelConfig, type ModelConfigOverrides } from './modelConfig';
import { ModelError, readModelFiles, type ModelFiles } from './modelFiles';
import type { ModelSummary } from '../types';

export interface LoadedModel {
  adapter: ModelAdapter;
  summary: ModelSummary;
  labels: string[];
  sizeOnDisk: number;
}

type AdapterFactory = (files: ModelFiles) => Promise<ModelAdapter>;

const ADAPTERS: Record<ModelFiles['format'], AdapterFactory> = {
  layers: async (files) => new LayersAdapter(await tfl.loadLayersModel(tf.io.fromMemory(files.artifacts))),
  graph: async (files) => {
    const model = await tfc.loadGraphModel(tf.io.fromMemory(files.artifacts));
    const nodes = (files.artifacts.modelTopology as { node: { name: string; op: string; input?: string[] }[] }).node;
    try {
      return new GraphAdapter(model, nodes);
    } catch (error) {
      model.dispose();
      throw error;
    }
  },
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

export async function loadModel(
  modelPath: string,
  overrides: ModelConfigOverrides = {},
  defaults: ModelConfigOverrides = {},
): Promise<LoadedModel> {
  const files = await readModelFiles(modelPath);
  const config = await resolveModelConfig(files.dir, overrides, defaults);
  const adapter = await withoutLeaks(async () => {
    try {
      return await ADAPTERS[files.format](files);
    } catch (error) {
      if (error instanceof ModelError) throw error;
      throw new ModelError(`${files.modelJsonPath} could not be loaded: ${(error as Error).message}`);
    }
  });
  const labels = fitLabels(config.labels, adapter.numClasses);
  const layerNames = new Set(adapter.layers.map((layer) => layer.name));
  const sidecarLayer = config.layer && layerNames.has(config.layer) ? config.layer : null;
  const summary: ModelSummary = {
    name: config.displayName ?? path.basename(files.dir),
    path: files.modelJsonPath,
    format: files.format,
    inputShape: adapter.inputShape,
    numClasses: adapter.numClasses,
    layers: adapter.layers,
    defaultLayer: sidecarLayer ?? defaultCamLayer(adapter.layers),
    preprocessing: config.preprocessing,
    hasLogits: adapter.hasLogits,
  };
  return { adapter, summary, labels, sizeOnDisk: files.sizeOnDisk };
}
