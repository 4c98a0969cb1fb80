/**
 * Keras files written by hand, for layers tfjs cannot produce a model of (so kerasFiles.ts, which starts from
 * a tfjs model, cannot write them): Keras 3 config.json entries in the form Keras 3 writes them
 * (module / class_name / config / registered_name, DTypePolicy, `{args, kwargs}` nodes of `__keras_tensor__`s:
 * keras/src/saving/serialization_lib.py, keras/src/models/functional.py at 3422977), a `.keras` zip of a
 * config and the datasets of its model.weights.h5, and a legacy `.h5` of a Keras 2 config and its weights.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { ensureGroup, h5 } from './kerasFiles';
import type { AttentionWeights } from './kerasReference';

export type Json = Record<string, any>;

export const DTYPE = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

export function kerasTensor(layer: string, node = 0, index = 0): Json {
  return { class_name: '__keras_tensor__', config: { shape: [null], dtype: 'float32', keras_history: [layer, node, index] } };
}

export function inputLayer(name: string, shape: number[]): Json {
  return {
    module: 'keras.layers',
    class_name: 'InputLayer',
    config: { batch_shape: [null, ...shape], dtype: 'float32', sparse: false, ragged: false, name, optional: false },
    registered_name: null,
    name,
    inbound_nodes: [],
  };
}

export interface EntryOptions {
  kwargs?: Json;
  module?: string;
  registeredName?: string | null;
}

/** A layer entry called on `args` (layer names become Keras tensors; a nested list is one list argument). */
export function layer(className: string, name: string, config: Json, args: unknown[], options: EntryOptions = {}): Json {
  const toArg = (arg: unknown): unknown => (typeof arg === 'string' ? kerasTensor(arg) : Array.isArray(arg) ? arg.map(toArg) : arg);
  return {
    module: options.module ?? 'keras.layers',
    class_name: className,
    config: { name, trainable: true, dtype: DTYPE, ...config },
    registered_name: options.registeredName ?? null,
    name,
    inbound_nodes: [{ args: args.map(toArg), kwargs: options.kwargs ?? {} }],
  };
}

/** A keras.ops call in a functional graph, as Keras 3 saves it (an Operation with its constructor arguments). */
export function operation(module: string, className: string, name: string, config: Json, args: unknown[]): Json {
  const entry = layer(className, name, {}, args, { module, registeredName: className });
  entry.config = { name, ...config };
  return entry;
}

export function functional(name: string, layers: Json[], input: string, output: string): Json {
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: { name, trainable: true, layers, input_layers: [input, 0, 0], output_layers: [output, 0, 0] },
    registered_name: 'Functional',
  };
}

export interface Dataset {
  /** Inside model.weights.h5, e.g. "layers/dense/vars/0". */
  path: string;
  shape: number[];
  data: Float32Array | BigInt64Array;
}

async function writeDatasets(file: string, datasets: Dataset[], names: Record<string, string>): Promise<void> {
  const lib = await h5();
  const f = new lib.File(file, 'w');
  try {
    for (const { path: where, shape, data } of datasets) {
      const parts = where.split('/');
      const group = ensureGroup(f, parts.slice(0, -1), lib);
      group.create_dataset({ name: parts.at(-1)!, data, shape, dtype: data instanceof BigInt64Array ? '<q' : '<f' });
    }
    for (const [group, name] of Object.entries(names)) ensureGroup(f, group.split('/'), lib).create_attribute('name', name);
  } finally {
    f.close();
  }
}

/** A `.keras` archive: config.json and a model.weights.h5 of `datasets`, `names` the vars groups' name attributes. */
export async function writeKerasArchive(
  file: string,
  config: Json,
  datasets: Dataset[],
  names: Record<string, string> = {},
): Promise<string> {
  const weights = path.join(path.dirname(file), `${path.basename(file)}.weights.h5`);
  await writeDatasets(weights, datasets, names);
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const zip = zipSync({
    'metadata.json': text({ keras_version: '3.16.0', date_saved: '2026-01-01@00:00:00' }),
    'config.json': text(config),
    'model.weights.h5': await fs.readFile(weights),
  });
  await fs.rm(weights);
  await fs.writeFile(file, zip);
  return file;
}

/** A legacy `.h5` as tf.keras writes it: `model_config`, and per layer `weight_names` and the datasets. */
export async function writeLegacyKeras(
  file: string,
  modelConfig: Json,
  weights: Record<string, { name: string; shape: number[]; data: Float32Array }[]>,
): Promise<string> {
  const lib = await h5();
  const f = new lib.File(file, 'w');
  try {
    f.create_attribute('model_config', JSON.stringify(modelConfig));
    f.create_attribute('keras_version', '2.15.0');
    f.create_attribute('backend', 'tensorflow');
    const root = f.create_group('model_weights');
    root.create_attribute('layer_names', Object.keys(weights));
    for (const [layerName, list] of Object.entries(weights)) {
      const group = root.create_group(layerName);
      group.create_attribute(
        'weight_names',
        list.map((w) => `${layerName}/${w.name}:0`),
      );
      for (const w of list) {
        const parts = `${layerName}/${w.name}:0`.split('/');
        ensureGroup(group, parts.slice(0, -1), lib).create_dataset({ name: parts.at(-1)!, data: w.data, shape: w.shape, dtype: '<f' });
      }
    }
  } finally {
    f.close();
  }
  return file;
}

const MHA_GROUP = 'layers/multi_head_attention';

/** A MultiHeadAttention entry with Keras 3's full config, `config` overriding it. */
export function mha(name: string, config: Json, args: unknown[], kwargs: Json = {}): Json {
  const settings = {
    num_heads: 2,
    key_dim: 3,
    value_dim: null,
    dropout: 0,
    use_bias: true,
    output_shape: null,
    attention_axes: null,
    use_gate: false,
    sliding_window: null,
    seed: null,
    kernel_initializer: null,
    bias_initializer: null,
  };
  return layer('MultiHeadAttention', name, { ...settings, ...config }, args, { kwargs });
}

/** The projections as Keras ≥ 3.0.3 saves them (`query_dense/vars`, named), or as 3.0.0–3.0.2 did (`_query_dense`). */
export function attentionDatasets(
  w: AttentionWeights,
  channels: { q: number; v: number; k: number },
  units: number,
  older = false,
): { datasets: Dataset[]; names: Record<string, string> } {
  const { heads: h, keyDim: dk, valueDim: dv } = w;
  const parts: [string, string, [Float32Array, Float32Array | null], number[], number[]][] = [
    ['query_dense', 'query', w.query, [channels.q, h, dk], [h, dk]],
    ['key_dense', 'key', w.key, [channels.k, h, dk], [h, dk]],
    ['value_dense', 'value', w.value, [channels.v, h, dv], [h, dv]],
    ['output_dense', 'attention_output', w.output, [h, dv, units], [units]],
  ];
  const datasets: Dataset[] = [];
  const names: Record<string, string> = older ? {} : { [`${MHA_GROUP}/vars`]: 'mha', [`${MHA_GROUP}/_softmax/vars`]: 'softmax' };
  // Keras writes the sub-layers in attribute order (key, output, query, value): the reader must not rely on it.
  for (const [attribute, name, [kernel, bias], kernelShape, biasShape] of parts.sort((a, b) => a[0].localeCompare(b[0]))) {
    const group = `${MHA_GROUP}/${older ? '_' : ''}${attribute}/vars`;
    datasets.push({ path: `${group}/0`, shape: kernelShape, data: kernel });
    if (bias) datasets.push({ path: `${group}/1`, shape: biasShape, data: bias });
    if (!older) names[group] = name;
  }
  return { datasets, names };
}
