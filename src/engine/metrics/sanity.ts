/**
 * Model-randomisation sanity check: Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018
 * (https://arxiv.org/abs/1810.03292). The weights of the model's weighted layers are replaced by random
 * ones cumulatively from the output down, and the map recomputed at each step; Spearman's rank
 * correlation with the original map says how much it changed. A map that barely changes while the model
 * is destroyed is not explaining the model.
 */
import { spearman } from './rankCorrelation';

export interface SanityStep {
  /** The layer whose weights were randomised at this step (all layers above it are random too). */
  layer: string;
  correlation: number;
}

export interface SanityResult {
  steps: SanityStep[];
  /** Set when the map stays similar (|ρ| ≥ 0.5) with the top half of the weighted layers randomised. */
  warning: string | null;
}

export const INSENSITIVE_CORRELATION = 0.5;

export async function cascadingRandomisation(
  layers: string[],
  original: Float32Array,
  mapWith: (randomised: string[]) => Promise<Float32Array>,
  checkCancelled: () => void,
): Promise<SanityResult> {
  const steps: SanityStep[] = [];
  for (let i = 0; i < layers.length; i++) {
    checkCancelled();
    steps.push({ layer: layers[i], correlation: spearman(original, await mapWith(layers.slice(0, i + 1))) });
  }
  const halfway = steps[Math.max(0, Math.ceil(steps.length / 2) - 1)];
  const warning =
    halfway && Math.abs(halfway.correlation) >= INSENSITIVE_CORRELATION
      ? `The map hardly changes when the model's weights are randomised (ρ = ${halfway.correlation.toFixed(2)} with the layers from the output down to "${halfway.layer}" random): it shows the image more than the model.`
      : null;
  return { steps, warning };
}
