/**
 * LIME: Ribeiro et al., "Why Should I Trust You?", KDD 2016 (https://arxiv.org/abs/1602.04938), as Captum's
 * captum.attr.Lime runs it on images: coalitions of SLIC superpixels drawn with probability ½ each, every
 * copy weighted by exp(−d² / 2w²) with d the cosine distance between the image and the masked copy (in the
 * model's input space, Captum's get_exp_kernel_similarity_function), and a Lasso (α = 0.01, Captum's default
 * SkLearnLasso) fitted from coalitions to class scores. α = 0 fits weighted least squares instead.
 */
import type { Segmentation } from '../image/slic';
import { uniformStream } from '../random';
import type { TechniqueInput } from './base';
import { baselineParameter, SEED_PARAMETER } from './masking';
import { BATCH_PARAMETER } from './perturbation';
import { SurrogateTechnique, type CoalitionContext, type SurrogateDesign } from './linearSurrogate';
import { SEGMENT_PARAMETERS } from './superpixels';

/** `count` coalitions of `segments` segments, each kept with probability ½, the same for the same seed. */
export function limeCoalitions(count: number, segments: number, seed: number): Uint8Array[] {
  const random = uniformStream(seed);
  return Array.from({ length: count }, () => Uint8Array.from({ length: segments }, () => (random() < 0.5 ? 1 : 0)));
}

/** Captum's exponential kernel on the cosine distance between the image x and the copy x′ (kept segments from x, the rest from the baseline). */
export function cosineKernel(coalition: Uint8Array, { xx, xb, bb }: CoalitionContext, width: number): number {
  let dot = 0;
  let copyNorm = 0;
  let imageNorm = 0;
  coalition.forEach((kept, s) => {
    dot += kept ? xx[s] : xb[s];
    copyNorm += kept ? xx[s] : bb[s];
    imageNorm += xx[s];
  });
  const distance = 1 - dot / Math.max(Math.sqrt(imageNorm) * Math.sqrt(copyNorm), 1e-8);
  return Math.exp(-(distance * distance) / (2 * width * width));
}

export class Lime extends SurrogateTechnique {
  readonly info = {
    id: 'lime',
    title: 'LIME',
    summary: 'Random sets of superpixels hidden; a sparse linear model of the score gives each superpixel its weight. No gradients.',
    needsGradients: false,
    needsLayer: false,
    parameters: [
      { name: 'samples', summary: 'Masked copies to score', default: 300, min: 2, max: 100000, integer: true },
      ...SEGMENT_PARAMETERS,
      { name: 'kernel', summary: 'Width of the similarity kernel on cosine distance (Captum: 1)', default: 1, min: 0.001, max: 1000 },
      { name: 'alpha', summary: 'Lasso penalty of the linear model (Captum: 0.01; 0 = least squares)', default: 0.01, min: 0, max: 1000 },
      baselineParameter('zero'),
      SEED_PARAMETER,
      BATCH_PARAMETER,
    ],
  };

  protected design({ parameters }: TechniqueInput, segments: Segmentation): SurrogateDesign {
    const width = Number(parameters.kernel);
    return {
      coalitions: limeCoalitions(Number(parameters.samples), segments.count, Number(parameters.seed)),
      weight: (coalition, context) => cosineKernel(coalition, context, width),
      alpha: Number(parameters.alpha),
    };
  }
}
