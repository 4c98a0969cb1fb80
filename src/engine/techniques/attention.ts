/**
 * The shared base of the attention techniques for ViT-family models: the blocks' attention probabilities
 * (and the class score's gradients w.r.t. them) combined into one token-to-token relevance matrix R, of
 * which the class token's row over the patch tokens, laid on the patch grid, is the map.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { AttentionEvidence, AttentionLayout } from '../models/adapter';
import { tf } from '../tfjs/tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { TechniqueNotApplicableError } from './cam';

export abstract class AttentionTechnique extends Technique {
  protected abstract readonly usesGradients: boolean;

  /** R [tokens, tokens] for image 0 of the batch. */
  protected abstract relevance(evidence: AttentionEvidence, request: TechniqueInput): Tensor2D;

  run(request: TechniqueInput): TechniqueOutput {
    const layout = request.model.attentionLayout?.() ?? null;
    if (!layout || !request.model.readAttention) {
      throw new TechniqueNotApplicableError(
        `${this.info.title} needs a ViT-family model (global self-attention over patch tokens, as ViT and DeiT have); this model has none that CNN Lens recognises. Swin's windowed attention does not qualify: use Grad-CAM on its stages.`,
      );
    }
    const evidence = request.model.readAttention(request.input, this.usesGradients ? request.classIndex : null);
    request.checkCancelled();
    const relevance = this.relevance(evidence, request);
    return { map: classTokenRow(relevance, layout), layer: '', notes: notesFor(layout) };
  }
}

/**
 * The class token's row over the patch tokens, on the patch grid. A model without a class token pools all
 * its tokens (timm's global_pool='avg'): then every token's row counts alike, so the rows are averaged.
 */
function classTokenRow(relevance: Tensor2D, { special, grid }: AttentionLayout): Tensor2D {
  const rows = special === 0 ? relevance.mean(0, true) : relevance.slice([0, 0], [1, -1]);
  return rows.slice([0, special], [1, grid[0] * grid[1]]).reshape(grid) as Tensor2D;
}

function notesFor({ blocks, heads, special, grid }: AttentionLayout): string[] {
  const patches = `${grid[0]}×${grid[1]} patches`;
  if (!special)
    return [`${blocks} attention blocks × ${heads} heads, no class token: the map is the mean of every token's row over the ${patches}.`];
  const dropped = ` (${special} special token${special > 1 ? 's' : ''} left out)`;
  return [`${blocks} attention blocks × ${heads} heads; the map is the class token's row over the ${patches}${dropped}.`];
}

/** Image 0's [heads, T, T] of each block. */
export function firstImage(blocks: Tensor4D[]): tf.Tensor3D[] {
  return blocks.map((block) => block.slice([0, 0, 0, 0], [1, -1, -1, -1]).squeeze([0]) as tf.Tensor3D);
}

/** Each row divided by its sum (rows that sum to 0 stay 0). */
export function rowNormalised(matrix: Tensor2D): Tensor2D {
  const sums = matrix.sum(1, true);
  return tf.divNoNan(matrix, sums) as Tensor2D;
}
