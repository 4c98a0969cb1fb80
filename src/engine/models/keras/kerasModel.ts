/**
 * Builds a tfjs-layers model from a Keras file: the translated topology is deserialised by tfjs (with
 * zero initialisers, so building costs no random numbers, and no more weight values than the file stores),
 * then every layer's weights are matched to
 * the file's by layer name and position and checked for count and shape before any is assigned. The
 * result is a plain LayersModel, run by the LayersAdapter like a TF.js layers model.
 */
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { tf, tfl } from '../../tfjs/tf';
import { ModelError } from '../../../files/modelFiles';
import { withStoredElements } from '../layers/declaredWeights';
// Registers the Keras layers tfjs lacks, which modelFromJSON looks up by class name.
import './customLayers';
import type { KerasLayerRef } from './kerasConfig';
import type { KerasModelFile } from './kerasFile';
import type { StoredWeight } from './kerasWeights';

type Layer = LayersModel['layers'][number];

interface Assignment {
  layer: Layer;
  values: { shape: number[]; data: Float32Array }[];
}

/** A weight's name within its layer ("kernel", or "query/kernel" in an attention layer). */
function shortName(originalName: string, layer: string): string {
  return originalName.startsWith(`${layer}/`)
    ? originalName.slice(layer.length + 1)
    : originalName.slice(originalName.lastIndexOf('/') + 1);
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * The shape to give a stored weight, or why it does not fit. A grouped Conv2D's kernel [kh, kw, 1, filters]
 * is, element for element, the depthwise kernel [kh, kw, groups, filters / groups] it runs as (output
 * channel g·m + j reads input channel g in both layouts) — when each group is one input channel.
 */
function fitShape(want: readonly number[], stored: StoredWeight, ref: KerasLayerRef | undefined): number[] | string {
  if (sameShape(want, stored.shape)) return stored.shape;
  const got = stored.shape;
  if (ref?.groups && want.length === 4 && got.length === 4 && sameShape(want.slice(0, 2), got.slice(0, 2))) {
    if (got[2] === 1 && want[2] === ref.groups && want[2] * want[3] === got[3]) return [...want];
    return `is a grouped convolution (groups=${ref.groups}) whose groups take ${got[2]} input channels each (kernel ${JSON.stringify(got)}); CNN Lens runs grouped convolutions only with one input channel per group, as depthwise convolutions`;
  }
  return `should be ${JSON.stringify(want)} but the file has ${JSON.stringify(got)} at "${stored.path}"`;
}

function countProblem(layer: Layer, names: string[], stored: StoredWeight[]): string {
  const expected = names.length;
  const missing = names.slice(stored.length);
  return stored.length < expected
    ? `layer "${layer.name}" (${layer.getClassName()}) needs ${expected} weights [${names.join(', ')}] but the file has ${stored.length}${missing.length ? `: ${missing.join(', ')} missing` : ''}`
    : `layer "${layer.name}" (${layer.getClassName()}) has ${expected} weights [${names.join(', ')}] but the file stores ${stored.length} for it (${stored.map((s) => s.path).join(', ')})`;
}

/** Every layer's stored weights, shaped for it, or every reason they do not fit. */
function matchWeights(model: LayersModel, keras: KerasModelFile): { assignments: Assignment[]; problems: string[] } {
  const assignments: Assignment[] = [];
  const problems: string[] = [];
  const refs = new Map(keras.layers.map((ref) => [ref.name, ref]));
  for (const layer of model.layers) {
    const expected = layer.weights;
    const stored = keras.weights.get(layer.name) ?? [];
    if (!expected.length && !stored.length) continue;
    const names = expected.map((w) => shortName(w.originalName, layer.name));
    if (stored.length !== expected.length) {
      problems.push(countProblem(layer, names, stored));
      continue;
    }
    const shapes = expected.map((weight, i) => fitShape(weight.shape as number[], stored[i], refs.get(layer.name)));
    shapes.forEach((shape, i) => typeof shape === 'string' && problems.push(`layer "${layer.name}" weight "${names[i]}" ${shape}`));
    assignments.push({ layer, values: stored.map((s, i) => ({ data: s.data, shape: shapes[i] as number[] })) });
  }
  return { assignments, problems };
}

export async function buildKerasModel(keras: KerasModelFile, file: string): Promise<LayersModel> {
  let model: LayersModel;
  try {
    // Every weight the config makes must fit in what the file stores: checked before tfjs allocates it.
    const stored = [...keras.weights.values()].flat().reduce((sum, weight) => sum + weight.data.length, 0);
    model = await withStoredElements(stored, file, () => tfl.models.modelFromJSON({ modelTopology: keras.modelTopology } as never));
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(`${file}: TensorFlow.js cannot build the model from its config (${(error as Error).message}).`);
  }
  try {
    const { assignments, problems } = matchWeights(model, keras);
    if (problems.length) {
      const shown = problems.slice(0, 6).join('; ');
      throw new ModelError(
        `${file}: the stored weights do not fit the model: ${shown}${problems.length > 6 ? `; and ${problems.length - 6} more` : ''}.`,
      );
    }
    for (const { layer, values } of assignments) {
      tf.tidy(() => layer.setWeights(values.map((v) => tf.tensor(v.data, v.shape, 'float32'))));
    }
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}
