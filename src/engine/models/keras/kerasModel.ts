/**
 * Builds a tfjs-layers model from a Keras file: the translated topology is deserialised by tfjs (with
 * zero initialisers, so building costs no random numbers), then every layer's weights are matched to
 * the file's by layer name and position and checked for count and shape before any is assigned. The
 * result is a plain LayersModel, run by the LayersAdapter like a TF.js layers model.
 */
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { tf, tfl } from '../../tfjs/tf';
import { ModelError } from '../modelFiles';
import type { KerasModelFile } from './kerasFile';

function shortName(originalName: string): string {
  return originalName.slice(originalName.lastIndexOf('/') + 1);
}

export async function buildKerasModel(keras: KerasModelFile, file: string): Promise<LayersModel> {
  let model: LayersModel;
  try {
    model = await tfl.models.modelFromJSON({ modelTopology: keras.modelTopology } as never);
  } catch (error) {
    throw new ModelError(`${file}: TensorFlow.js cannot build the model from its config (${(error as Error).message}).`);
  }
  try {
    const assignments: { layer: LayersModel['layers'][number]; values: { shape: number[]; data: Float32Array }[] }[] = [];
    const problems: string[] = [];
    for (const layer of model.layers) {
      const expected = layer.weights;
      const stored = keras.weights.get(layer.name) ?? [];
      if (!expected.length && !stored.length) continue;
      const names = expected.map((w) => shortName(w.originalName));
      if (stored.length !== expected.length) {
        const missing = names.slice(stored.length);
        problems.push(
          stored.length < expected.length
            ? `layer "${layer.name}" (${layer.getClassName()}) needs ${expected.length} weights [${names.join(', ')}] but the file has ${stored.length}${missing.length ? `: ${missing.join(', ')} missing` : ''}`
            : `layer "${layer.name}" (${layer.getClassName()}) has ${expected.length} weights [${names.join(', ')}] but the file stores ${stored.length} for it (${stored.map((s) => s.path).join(', ')})`,
        );
        continue;
      }
      expected.forEach((weight, i) => {
        const want = weight.shape;
        const got = stored[i].shape;
        if (want.length !== got.length || want.some((d, j) => d !== got[j])) {
          problems.push(`layer "${layer.name}" weight "${names[i]}" should be ${JSON.stringify(want)} but the file has ${JSON.stringify(got)} at "${stored[i].path}"`);
        }
      });
      assignments.push({ layer, values: stored });
    }
    if (problems.length) {
      const shown = problems.slice(0, 6).join('; ');
      throw new ModelError(`${file}: the stored weights do not fit the model: ${shown}${problems.length > 6 ? `; and ${problems.length - 6} more` : ''}.`);
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
