/**
 * KernelSHAP: Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017
 * (https://arxiv.org/abs/1705.07874), as captum.attr.KernelShap runs it over SLIC superpixels: the whole and
 * the empty coalition first (weighted 10⁶, which pins the fit to score(image) and score(baseline)), then
 * coalitions whose size k is drawn with probability ∝ (M − 1) / (k (M − k)) and whose members are drawn
 * uniformly — sampling by the Shapley kernel, so each weighs 1 — and weighted least squares. The coefficients
 * estimate the segments' Shapley values (exactly, for a model linear in the segments).
 */
import type { Segmentation } from '../image/slic';
import { uniformStream } from '../random';
import type { TechniqueInput } from './base';
import { baselineParameter, SEED_PARAMETER } from './masking';
import { BATCH_PARAMETER } from './perturbation';
import { SurrogateTechnique, type SurrogateDesign } from './linearSurrogate';
import { SEGMENT_PARAMETERS } from './superpixels';

/** Captum's weight of the whole and the empty coalition. */
const PINNED = 1e6;

/** `count` coalitions of `segments` segments (the whole, the empty, then by the Shapley kernel), the same for the same seed. */
export function kernelShapCoalitions(count: number, segments: number, seed: number): Uint8Array[] {
  const random = uniformStream(seed);
  const sizes = Array.from({ length: Math.max(segments - 1, 0) }, (_, i) => (segments - 1) / ((i + 1) * (segments - 1 - i)));
  const total = sizes.reduce((a, b) => a + b, 0);
  const drawSize = () => {
    let u = random() * total;
    for (let k = 0; k < sizes.length; k++) if ((u -= sizes[k]) < 0) return k + 1;
    return sizes.length;
  };
  const coalitions = [new Uint8Array(segments).fill(1), new Uint8Array(segments)];
  while (coalitions.length < count && sizes.length) {
    // k members by a partial Fisher–Yates shuffle.
    const order = Array.from({ length: segments }, (_, i) => i);
    const coalition = new Uint8Array(segments);
    const k = drawSize();
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(random() * (segments - i));
      [order[i], order[j]] = [order[j], order[i]];
      coalition[order[i]] = 1;
    }
    coalitions.push(coalition);
  }
  return coalitions.slice(0, count);
}

export class KernelShap extends SurrogateTechnique {
  readonly info = {
    id: 'kernel-shap',
    title: 'KernelSHAP',
    summary: 'Superpixels hidden in Shapley-weighted random sets; a linear fit estimates each one’s Shapley value. No gradients.',
    needsGradients: false,
    needsLayer: false,
    parameters: [
      {
        name: 'samples',
        summary: 'Masked copies to score (the whole and the empty image included)',
        default: 300,
        min: 2,
        max: 100000,
        integer: true,
      },
      ...SEGMENT_PARAMETERS,
      baselineParameter('zero'),
      SEED_PARAMETER,
      BATCH_PARAMETER,
    ],
  };

  protected design({ parameters }: TechniqueInput, segments: Segmentation): SurrogateDesign {
    const coalitions = kernelShapCoalitions(Number(parameters.samples), segments.count, Number(parameters.seed));
    const pinned = (coalition: Uint8Array) => {
      const kept = coalition.reduce((a, b) => a + b, 0);
      return kept === 0 || kept === coalition.length;
    };
    return { coalitions, weight: (coalition) => (pinned(coalition) ? PINNED : 1), alpha: 0 };
  }
}
