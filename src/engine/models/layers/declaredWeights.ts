/**
 * tfjs-layers builds a model's layers — allocating every weight, zero-filled — before it loads the weights
 * and finds that they do not match. A 1 KB model.json whose topology implies a 150528×3000 Dense kernel
 * would allocate 1.8 GB that way. While a model is built here, each weight a layer adds must be one the
 * weightsManifest declares (same shape, each declared weight used once), so such a topology is refused
 * before the allocation; the declared weights were checked against the budgets already (modelFiles.ts).
 */
import { tfl } from '../../tfjs/tf';
import { ModelError } from '../modelFiles';

type AddWeight = (this: { name: string }, name: string, shape: number[], ...rest: unknown[]) => unknown;

/** Runs `build` (a tfjs-layers load) with every weight it adds checked against `declared`. Loads run one at a time. */
export async function withDeclaredWeights<T>(declared: { name?: string; shape: number[] }[], file: string, build: () => Promise<T>): Promise<T> {
  const available = new Map<string, number>();
  for (const { shape } of declared) available.set(shape.join('×'), (available.get(shape.join('×')) ?? 0) + 1);
  const prototype = tfl.layers.Layer.prototype as unknown as { addWeight: AddWeight };
  const original = prototype.addWeight;
  prototype.addWeight = function (this: { name: string }, name, shape, ...rest) {
    const key = (shape ?? []).join('×');
    const left = available.get(key) ?? 0;
    if (left === 0) {
      throw new ModelError(
        `${file}: layer "${this.name}" would create weight "${name}" ${JSON.stringify(shape)}, which the weightsManifest does not declare; ` +
          `the topology and the weights do not match (refused before allocating it).`,
      );
    }
    available.set(key, left - 1);
    return original.call(this, name, shape, ...rest);
  };
  try {
    return await build();
  } finally {
    prototype.addWeight = original;
  }
}
