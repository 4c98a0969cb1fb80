/**
 * Reads a Keras model's weights from HDF5, by layer name, in each layer's own order:
 * - legacy `.h5` (Keras 2 `model.save`, and Keras 3's legacy writer): `/model_weights/<layer>` has the
 *   attribute `weight_names` (Keras 2: `conv2d/kernel:0`; Keras 3: the variable path `conv2d/kernel`), each a
 *   dataset path relative to that group, in the layer's weight order; a `save_weights` file has the same
 *   layout at its root (tf_keras saving/legacy/hdf5_format.py, keras src/legacy/saving/legacy_h5_format.py);
 * - Keras 3 `model.weights.h5`: `layers/<group>/vars/0..n`, the layer's trainable then non-trainable
 *   variables (Layer.save_own_variables). The group is named after the layer's *class* in snake case,
 *   numbered per class in layer order (`conv2d`, `conv2d_1`, …: saving_lib._save_container_state), not after
 *   the layer; newer Keras also store the layer's name as the `name` attribute of `vars`, preferred when
 *   present. Files from Keras 2.13/2.14's `.keras` use `_layer_checkpoint_dependencies` for `layers`.
 *   A layer made of sub-layers keeps their variables under the attribute holding each (saving_lib._save_state
 *   walks the attributes, public names before private): MultiHeadAttention's four EinsumDense projections are
 *   `<group>/query_dense/vars/{0: kernel, 1: bias}` (Keras ≥ 3.0.3 exposes them as properties; earlier,
 *   `_query_dense`), each `vars` named after the sub-layer ("query") where Keras stores names.
 * Normalization also stores the sample count of its `adapt()` (an integer, unused at inference): only its mean
 * and variance are read.
 */
import { ModelError } from '../modelFiles';
import type { Hdf5Reader } from './hdf5';
import { kerasSnakeCase, type KerasLayerRef } from './kerasConfig';

/** One stored weight: where it is in the file, its shape and values. */
export interface StoredWeight {
  path: string;
  shape: number[];
  data: Float32Array;
}

/** Stored weights by layer name, in the order the layer lists them. */
export type StoredWeights = Map<string, StoredWeight[]>;

/** No single weight of an image classifier comes close; caps what one dataset may allocate. */
export const MAX_WEIGHT_ELEMENTS = 2 ** 28;

function readDataset(reader: Hdf5Reader, where: string, layer: string, label: string): StoredWeight {
  const dataset = reader.dataset(where, MAX_WEIGHT_ELEMENTS);
  if (!dataset) throw new ModelError(`${reader.file}: weight "${label}" of layer "${layer}" is listed but not stored at "${where}" (damaged file?).`);
  return { path: where, ...dataset };
}

/** Sub-layers whose variables a layer's own group holds, in the order CNN Lens's layer takes them. */
const SUBLAYERS: Record<string, { name: string; attribute: string }[]> = {
  MultiHeadAttention: [
    { name: 'query', attribute: 'query_dense' },
    { name: 'key', attribute: 'key_dense' },
    { name: 'value', attribute: 'value_dense' },
    { name: 'attention_output', attribute: 'output_dense' },
  ],
};

/** How many of a layer's stored variables inference uses (the rest follow them). */
const USED_VARIABLES: Record<string, number> = { Normalization: 2 };

function usedOnly<T>(kerasClass: string, items: T[]): T[] {
  const used = USED_VARIABLES[kerasClass];
  return used === undefined ? items : items.slice(0, used);
}

/** Legacy weight names of a layer with sub-layers, in the sub-layers' order (they name them: "mha/query/kernel:0"). */
function legacyOrder(kerasClass: string, names: string[]): string[] {
  const sublayers = SUBLAYERS[kerasClass];
  if (!sublayers) return names;
  const rank = (weight: string) => sublayers.findIndex(({ name }) => weight.split('/').slice(1).includes(name));
  return [...names].sort((a, b) => rank(a) - rank(b));
}

/** Legacy `.h5`: weights under `/model_weights` (full model) or the root (weights-only file). */
export function readLegacyWeights(reader: Hdf5Reader, layers: KerasLayerRef[]): StoredWeights {
  const root = reader.isGroup('model_weights') ? 'model_weights' : '';
  const out: StoredWeights = new Map();
  for (const { name, kerasClass } of layers) {
    const group = root ? `${root}/${name}` : name;
    if (!reader.isGroup(group)) continue;
    const names = usedOnly(kerasClass, legacyOrder(kerasClass, reader.stringListAttribute(group, 'weight_names') ?? []));
    out.set(name, names.map((weight) => readDataset(reader, `${group}/${weight}`, name, weight)));
  }
  return out;
}

/** Keras 3 `model.weights.h5` (inside a `.keras` archive). */
export function readKeras3Weights(reader: Hdf5Reader, layers: KerasLayerRef[]): StoredWeights {
  const base = ['layers', '_layer_checkpoint_dependencies'].find((group) => reader.isGroup(group));
  const out: StoredWeights = new Map();
  if (!base) return out; // a model without weights, or a file that lacks them: loading names what is missing
  const byName = new Map<string, string>();
  for (const key of reader.keys(base)) {
    const stored = reader.isGroup(`${base}/${key}/vars`) ? reader.stringAttribute(`${base}/${key}/vars`, 'name') : null;
    if (stored) byName.set(stored, `${base}/${key}`);
  }
  const used = new Map<string, number>();
  for (const { name, kerasClass } of layers) {
    const snake = kerasSnakeCase(kerasClass);
    const seen = used.get(snake);
    used.set(snake, seen === undefined ? 0 : seen + 1);
    const group = byName.get(name) ?? `${base}/${seen === undefined ? snake : `${snake}_${seen + 1}`}`;
    const sublayers = SUBLAYERS[kerasClass];
    const stored = sublayers ? readSublayers(reader, group, name, sublayers) : readVars(reader, `${group}/vars`, name, kerasClass);
    if (stored) out.set(name, stored);
  }
  return out;
}

/** A `vars` group's datasets in index order; null when the group is absent. */
function readVars(reader: Hdf5Reader, vars: string, layer: string, kerasClass: string, label = 'vars'): StoredWeight[] | null {
  if (!reader.isGroup(vars)) return null;
  const keys = reader.keys(vars).filter((key) => /^\d+$/.test(key)).sort((a, b) => Number(a) - Number(b));
  return usedOnly(kerasClass, keys).map((key) => readDataset(reader, `${vars}/${key}`, layer, `${label}/${key}`));
}

/** The sub-layers' variables in order, each found by its stored name, else by its attribute. */
function readSublayers(reader: Hdf5Reader, group: string, layer: string, sublayers: { name: string; attribute: string }[]): StoredWeight[] | null {
  if (!reader.isGroup(group)) return null;
  const children = reader.keys(group).filter((key) => reader.isGroup(`${group}/${key}/vars`));
  const named = new Map(children.map((key) => [reader.stringAttribute(`${group}/${key}/vars`, 'name'), key]));
  return sublayers.flatMap(({ name, attribute }) => {
    const child = named.get(name) ?? [attribute, `_${attribute}`].find((key) => children.includes(key));
    return child ? (readVars(reader, `${group}/${child}/vars`, layer, '', `${child}/vars`) ?? []) : [];
  });
}
