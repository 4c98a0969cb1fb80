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
import { ModelError } from '../../../files/modelFiles';
import { checkLimit, type ModelLimits } from '../../../files/modelFolder';
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

/** How the weights are read: against the budgets, stopping between datasets when `signal` fires. */
export interface WeightReadOptions {
  limits: ModelLimits;
  signal?: AbortSignal;
}

/** A dataset to read: where it is, the layer it belongs to and its name there (for messages). */
interface Planned {
  where: string;
  layer: string;
  label: string;
}

/** The datasets each layer takes, in its order. */
type WeightPlan = Map<string, Planned[]>;

function notStored(reader: Hdf5Reader, label: string, layer: string, where: string): ModelError {
  return new ModelError(`${reader.file}: weight "${label}" of layer "${layer}" is listed but not stored at "${where}" (damaged file?).`);
}

/**
 * Reads the planned datasets: first every one's declared shape is checked against the budgets (elements per
 * tensor, bytes in all) from the HDF5 headers alone, then the values are read, one dataset at a time, the
 * event loop let through between them (a cancel lands) and `signal` checked.
 */
async function readPlanned(reader: Hdf5Reader, plan: WeightPlan, { limits, signal }: WeightReadOptions): Promise<StoredWeights> {
  let total = 0;
  for (const list of plan.values()) {
    for (const { where, layer, label } of list) {
      const declared = reader.declared(where);
      if (!declared) throw notStored(reader, label, layer, where);
      checkLimit(
        reader.file,
        `weight "${label}" of layer "${layer}" ${JSON.stringify(declared.shape)} has $value elements`,
        declared.elements,
        limits,
        'maxTensorElements',
      );
      total += declared.bytes;
    }
  }
  checkLimit(reader.file, 'the weights it stores are $value', total, limits, 'maxWeightBytes');
  const out: StoredWeights = new Map();
  for (const [layer, list] of plan) {
    const stored: StoredWeight[] = [];
    for (const { where, label } of list) {
      await new Promise((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
      const dataset = reader.dataset(where, limits.maxTensorElements);
      if (!dataset) throw notStored(reader, label, layer, where);
      stored.push({ path: where, ...dataset });
    }
    out.set(layer, stored);
  }
  return out;
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
export function readLegacyWeights(reader: Hdf5Reader, layers: KerasLayerRef[], options: WeightReadOptions): Promise<StoredWeights> {
  const root = reader.isGroup('model_weights') ? 'model_weights' : '';
  const out: WeightPlan = new Map();
  for (const { name, kerasClass } of layers) {
    const group = root ? `${root}/${name}` : name;
    if (!reader.isGroup(group)) continue;
    const names = usedOnly(kerasClass, legacyOrder(kerasClass, reader.stringListAttribute(group, 'weight_names') ?? []));
    out.set(
      name,
      names.map((weight) => ({ where: `${group}/${weight}`, layer: name, label: weight })),
    );
  }
  return readPlanned(reader, out, options);
}

/** Keras 3 `model.weights.h5` (inside a `.keras` archive). */
export function readKeras3Weights(reader: Hdf5Reader, layers: KerasLayerRef[], options: WeightReadOptions): Promise<StoredWeights> {
  const base = ['layers', '_layer_checkpoint_dependencies'].find((group) => reader.isGroup(group));
  const out: WeightPlan = new Map();
  // A model without weights, or a file that lacks them: loading names what is missing.
  if (!base) return Promise.resolve(new Map());
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
  return readPlanned(reader, out, options);
}

/** A `vars` group's datasets in index order; null when the group is absent. */
function readVars(reader: Hdf5Reader, vars: string, layer: string, kerasClass: string, label = 'vars'): Planned[] | null {
  if (!reader.isGroup(vars)) return null;
  const keys = reader
    .keys(vars)
    .filter((key) => /^\d+$/.test(key))
    .sort((a, b) => Number(a) - Number(b));
  return usedOnly(kerasClass, keys).map((key) => ({ where: `${vars}/${key}`, layer, label: `${label}/${key}` }));
}

/** The sub-layers' variables in order, each found by its stored name, else by its attribute. */
function readSublayers(
  reader: Hdf5Reader,
  group: string,
  layer: string,
  sublayers: { name: string; attribute: string }[],
): Planned[] | null {
  if (!reader.isGroup(group)) return null;
  const children = reader.keys(group).filter((key) => reader.isGroup(`${group}/${key}/vars`));
  const named = new Map(children.map((key) => [reader.stringAttribute(`${group}/${key}/vars`, 'name'), key]));
  return sublayers.flatMap(({ name, attribute }) => {
    const child = named.get(name) ?? [attribute, `_${attribute}`].find((key) => children.includes(key));
    return child ? (readVars(reader, `${group}/${child}/vars`, layer, '', `${child}/vars`) ?? []) : [];
  });
}
