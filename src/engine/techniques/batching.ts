/**
 * How many images a batch may hold. tfjs keeps every intermediate of a tf.tidy until the scope ends
 * and wasm's heap never shrinks, so a fixed batch of 16 MobileNet-sized images grew the process to
 * ~2.9 GB (bench: `node dist/bench.js host`). On cpu and wasm batching buys little time (a batched
 * forward pass costs 0.8–1.0× per image), so batches are sized by the model's activations instead.
 */
import type { LayerInfo } from '../types';

/** Activations one batch may hold (forward, plus their gradients when differentiating). */
export const ACTIVATION_BUDGET_BYTES = 160 * 2 ** 20;

export function activationBytesPerImage(layers: readonly LayerInfo[]): number {
  return 4 * layers.reduce((sum, layer) => sum + layer.outputShape.reduce<number>((a, d) => a * (d ?? 1), 1), 0);
}

/** At most `cap`, at least 1; a backward pass keeps a gradient beside each activation, so half as many. */
export function memoryBoundBatch(layers: readonly LayerInfo[], cap: number, backward: boolean): number {
  const perImage = activationBytesPerImage(layers) * (backward ? 2 : 1);
  return Math.max(1, Math.min(cap, Math.floor(ACTIVATION_BUDGET_BYTES / Math.max(perImage, 1))));
}
