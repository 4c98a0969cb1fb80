/**
 * tfjs-layers builds a model's layers — allocating every weight, zero-filled — before it loads the weights
 * and finds that they do not match. A 1 KB model.json whose topology implies a 150528×3000 Dense kernel
 * would allocate 1.8 GB that way. While a model is built here, each weight a layer adds must be one the
 * weightsManifest declares (same shape, each declared weight used once), so such a topology is refused
 * before the allocation; the declared weights were checked against the budgets already (modelFiles.ts).
 */
import { tfl } from '../../tfjs/tf';
import { ModelError } from '../../../files/modelFiles';

type AddWeight = (this: { name: string }, name: string, shape: number[], ...rest: unknown[]) => unknown;

/** Runs `build` (a tfjs-layers load) with every weight it adds checked against `declared`. Loads run one at a time. */
export async function withDeclaredWeights<T>(
  declared: { name?: string; shape: number[] }[],
  file: string,
  build: () => Promise<T>,
): Promise<T> {
  const available = new Map<string, number>();
  for (const { shape } of declared) available.set(shape.join('×'), (available.get(shape.join('×')) ?? 0) + 1);
  return withAddWeightCheck((layer, name, shape) => {
    const key = shape.join('×');
    const left = available.get(key) ?? 0;
    if (left === 0) {
      throw new ModelError(
        `${file}: layer "${layer}" would create weight "${name}" ${JSON.stringify(shape)}, which the weightsManifest does not declare; ` +
          `the topology and the weights do not match (refused before allocating it).`,
      );
    }
    available.set(key, left - 1);
  }, build);
}

/** What a Keras config may create beyond what its file stores (16 MB of float32) before it is refused unbuilt. */
const UNSTORED_SLACK = 4 * 2 ** 20;

/**
 * Runs `build` (a Keras file's model) with the weights its layers add counted: one that takes the total well
 * past `stored`, the values the file stores, is refused before it is allocated (a model that loads takes each
 * stored value at most once, so a config asking for more cannot be one). Small excesses are left to the
 * weight matching, whose messages say which weight is missing.
 */
export async function withStoredElements<T>(stored: number, file: string, build: () => Promise<T>): Promise<T> {
  let created = 0;
  return withAddWeightCheck((layer, name, shape) => {
    created += shape.reduce((a, b) => a * b, 1);
    if (created > stored + UNSTORED_SLACK) {
      throw new ModelError(
        `${file}: layer "${layer}" would create weight "${name}" ${JSON.stringify(shape)}, past the ${stored} weight values the file stores; ` +
          `the config and the weights do not match (refused before allocating it).`,
      );
    }
  }, build);
}

async function withAddWeightCheck<T>(check: (layer: string, name: string, shape: number[]) => void, build: () => Promise<T>): Promise<T> {
  const prototype = tfl.layers.Layer.prototype as unknown as { addWeight: AddWeight };
  const original = prototype.addWeight;
  prototype.addWeight = function (this: { name: string }, name, shape, ...rest) {
    check(this.name, name, shape ?? []);
    return original.call(this, name, shape, ...rest);
  };
  try {
    return await build();
  } finally {
    prototype.addWeight = original;
  }
}
