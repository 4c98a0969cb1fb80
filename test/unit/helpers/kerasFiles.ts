/**
 * Writes Keras model files from tiny TF.js models, the way Keras writes them (no Keras here):
 * - legacy `.h5`: root attributes `model_config` (the Keras 2 JSON tfjs produces with toJSON), `keras_version`,
 *   `backend`; `/model_weights` with `layer_names`, one group per layer with `weight_names`
 *   (`<layer>/<weight>:0`) and the datasets at those paths (tf_keras legacy/hdf5_format.py);
 * - Keras 3 `.keras`: a zip of `metadata.json`, `config.json` (Keras 3 serialisation: module / class_name /
 *   config / registered_name / build_config, DTypePolicy objects, `batch_shape`, inbound nodes as
 *   `{args, kwargs}` with `__keras_tensor__` entries — keras/src/saving/serialization_lib.py,
 *   keras/src/models/functional.py) and `model.weights.h5` with `layers/<snake class>[_n]/vars/<i>`
 *   (keras/src/saving/saving_lib.py _save_container_state, Layer.save_own_variables).
 * Facts read from keras-team/keras at 3422977 (3.16.0).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import type * as H5 from 'h5wasm';
import { kerasSnakeCase } from '../../../src/engine/models/keras/kerasConfig';
import type { tfl } from '../../../src/engine/tfjs/tf';

type Json = Record<string, unknown>;
type H5Lib = typeof H5;

let lib: Promise<H5Lib> | null = null;
export function h5(): Promise<H5Lib> {
  lib ??= import('h5wasm/node').then(async (m) => {
    await m.ready;
    return m as H5Lib;
  });
  return lib;
}

/** A layer's weights as [short name, shape, values], in the layer's order. */
function layerWeights(layer: tfl.layers.Layer): { name: string; shape: number[]; data: Float32Array }[] {
  return layer.weights.map((w) => {
    const value = w.read();
    return { name: w.originalName.slice(w.originalName.lastIndexOf('/') + 1), shape: value.shape, data: value.dataSync() as Float32Array };
  });
}

/** Creates `parts` as nested groups (h5wasm does not create intermediate groups). */
export function ensureGroup(root: H5.Group, parts: string[], lib: H5Lib): H5.Group {
  let group = root;
  for (const part of parts) {
    const existing = group.get(part);
    group = existing instanceof lib.Group ? existing : group.create_group(part);
  }
  return group;
}

export interface LegacyOptions {
  /** Leave out `model_config` (what `save_weights("x.h5")` writes). */
  weightsOnly?: boolean;
  /** Replace the model config (e.g. to add a Lambda layer). */
  config?: Json;
  /** Skip this weight ("layer/weight") when writing. */
  skip?: string;
}

export async function writeLegacyH5(model: tfl.LayersModel, file: string, options: LegacyOptions = {}): Promise<string> {
  const lib = await h5();
  const f = new lib.File(file, 'w');
  try {
    const weighted = model.layers.filter((layer) => layer.weights.length > 0);
    if (!options.weightsOnly) {
      f.create_attribute('model_config', JSON.stringify(options.config ?? model.toJSON(null, false)));
      f.create_attribute('keras_version', '2.15.0');
      f.create_attribute('backend', 'tensorflow');
    }
    const root = options.weightsOnly ? f : f.create_group('model_weights');
    root.create_attribute(
      'layer_names',
      model.layers.map((layer) => layer.name),
    );
    for (const layer of weighted) {
      const group = root.create_group(layer.name);
      const weights = layerWeights(layer).filter((w) => `${layer.name}/${w.name}` !== options.skip);
      group.create_attribute(
        'weight_names',
        weights.map((w) => `${layer.name}/${w.name}:0`),
      );
      const inner = ensureGroup(group, [layer.name], lib);
      for (const w of weights) inner.create_dataset({ name: `${w.name}:0`, data: w.data, shape: w.shape, dtype: '<f' });
    }
  } finally {
    f.close();
  }
  return file;
}

const KERAS3_DTYPE = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

/** A Keras 2 style value (initializer, …) as Keras 3 serialises it. */
function keras3Object(value: unknown, module: string): unknown {
  if (value && typeof value === 'object' && !Array.isArray(value) && 'class_name' in value) {
    const v = value as Json;
    return { module, class_name: v.class_name, config: v.config ?? {}, registered_name: null };
  }
  return value;
}

function keras3LayerConfig(className: string, config: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.endsWith('_initializer')) out[key] = keras3Object(value, 'keras.initializers');
    else if (key.endsWith('_regularizer')) out[key] = keras3Object(value, 'keras.regularizers');
    else if (key.endsWith('_constraint')) out[key] = keras3Object(value, 'keras.constraints');
    else if (key === 'dtype') out[key] = KERAS3_DTYPE;
    else if (key === 'batch_input_shape' || key === 'input_dtype') continue;
    else out[key] = value;
  }
  if (className === 'LeakyReLU') {
    out.negative_slope = out.alpha;
    delete out.alpha;
  }
  if (className === 'Conv2D') out.groups = 1;
  if (className === 'BatchNormalization') out.synchronized = false;
  return out;
}

function keras3Input(name: string, batchShape: unknown): Json {
  return {
    module: 'keras.layers',
    class_name: 'InputLayer',
    config: { batch_shape: batchShape, dtype: 'float32', sparse: false, ragged: false, name, optional: false },
    registered_name: null,
  };
}

function kerasTensor(history: unknown[]): Json {
  return {
    class_name: '__keras_tensor__',
    config: { shape: [null], dtype: 'float32', keras_history: [history[0], history[1], history[2]] },
  };
}

/** The Keras 3 config.json of a tfjs model (its Keras 2 JSON rewritten as Keras 3 writes it). */
export function keras3Config(model: tfl.LayersModel): Json {
  const json = model.toJSON(null, false) as Json;
  const config = json.config as Json;
  const layers = config.layers as Json[];
  if (json.class_name === 'Sequential') {
    const first = layers[0].config as Json;
    const batchShape = first.batch_input_shape;
    return {
      module: 'keras',
      class_name: 'Sequential',
      config: {
        name: config.name,
        trainable: true,
        dtype: KERAS3_DTYPE,
        layers: [
          keras3Input('input_layer', batchShape),
          ...layers.map((layer) => ({
            module: 'keras.layers',
            class_name: layer.class_name,
            config: keras3LayerConfig(layer.class_name as string, layer.config as Json),
            registered_name: null,
          })),
        ],
        build_input_shape: batchShape,
      },
      registered_name: null,
      build_config: { input_shape: batchShape },
    };
  }
  const converted = layers.map((layer) => {
    const className = layer.class_name as string;
    const name = layer.name as string;
    if (className === 'InputLayer') return { ...keras3Input(name, (layer.config as Json).batch_input_shape), name, inbound_nodes: [] };
    const nodes = (layer.inbound_nodes as unknown[][][]).map((node) => {
      const tensors = node.map(kerasTensor);
      // A merge layer is called with one list of tensors; others with one tensor.
      return { args: tensors.length > 1 ? [tensors] : tensors, kwargs: {} };
    });
    return {
      module: 'keras.layers',
      class_name: className,
      config: keras3LayerConfig(className, layer.config as Json),
      registered_name: null,
      name,
      inbound_nodes: nodes,
    };
  });
  const single = (list: unknown) => ((list as unknown[][]).length === 1 ? (list as unknown[][])[0] : list);
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {
      name: config.name,
      trainable: true,
      layers: converted,
      input_layers: single(config.input_layers),
      output_layers: single(config.output_layers),
    },
    registered_name: 'Functional',
  };
}

export interface Keras3Options {
  config?: Json;
  /** Store each layer's name as the `name` attribute of its `vars` group (Keras ≥ 3.10 does). */
  nameAttributes?: boolean;
  /** Extra zip entries (e.g. a path that escapes). */
  extraEntries?: Record<string, Uint8Array>;
  /** Replace one stored variable: `[layer name, index, shape, values]`. */
  replace?: [string, number, number[], Float32Array];
  /** Drop one stored variable: `[layer name, index]`. */
  drop?: [string, number];
}

/** Keras 3 `model.weights.h5` bytes for `layers` (config order, InputLayer included) of `model`. */
async function keras3Weights(
  model: tfl.LayersModel,
  layerOrder: { name: string; kerasClass: string }[],
  dir: string,
  options: Keras3Options,
): Promise<Uint8Array> {
  const lib = await h5();
  const file = path.join(dir, 'model.weights.h5');
  const f = new lib.File(file, 'w');
  try {
    const layersGroup = f.create_group('layers');
    const used = new Map<string, number>();
    for (const { name, kerasClass } of layerOrder) {
      const snake = kerasSnakeCase(kerasClass);
      const seen = used.get(snake);
      used.set(snake, seen === undefined ? 0 : seen + 1);
      const groupName = seen === undefined ? snake : `${snake}_${seen + 1}`;
      const layer = model.layers.find((l) => l.name === name);
      if (!layer || !layer.weights.length) continue;
      const vars = layersGroup.create_group(groupName).create_group('vars');
      if (options.nameAttributes) vars.create_attribute('name', name);
      layerWeights(layer).forEach((w, i) => {
        if (options.drop && options.drop[0] === name && options.drop[1] === i) return;
        const replaced = options.replace && options.replace[0] === name && options.replace[1] === i ? options.replace : null;
        vars.create_dataset({
          name: String(i),
          data: replaced ? replaced[3] : w.data,
          shape: replaced ? replaced[2] : w.shape,
          dtype: '<f',
        });
      });
    }
    f.create_group('optimizer').create_group('vars');
  } finally {
    f.close();
  }
  const bytes = await fs.readFile(file);
  await fs.rm(file);
  return bytes;
}

export async function writeKeras3(model: tfl.LayersModel, file: string, options: Keras3Options = {}): Promise<string> {
  const config = options.config ?? keras3Config(model);
  const layerOrder = ((config.config as Json).layers as Json[]).map((entry) => ({
    name: (entry.name ?? (entry.config as Json).name) as string,
    kerasClass: entry.class_name as string,
  }));
  const weights = await keras3Weights(model, layerOrder, path.dirname(file), options);
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const zip = zipSync({
    'metadata.json': text({ keras_version: '3.16.0', date_saved: '2026-01-01@00:00:00' }),
    'config.json': text(config),
    'model.weights.h5': weights,
    ...(options.extraEntries ?? {}),
  });
  await fs.writeFile(file, zip);
  return file;
}
