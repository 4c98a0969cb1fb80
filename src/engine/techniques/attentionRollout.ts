/**
 * Attention rollout: Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020
 * (https://arxiv.org/abs/2005.00928). Each block's attention, heads fused, is mixed half-and-half with the
 * identity for the residual connection and its rows renormalised: Â = norm(½A + ½I); the rollout is
 * Â_L ⋯ Â_1, how much each token at the output draws on each input token. Class-agnostic. As in
 * vit-explain, heads can be fused by their maximum or minimum instead of the mean, and the weakest
 * attention weights can be discarded (the class token's own weight is always kept).
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import type { AttentionEvidence } from '../models/adapter';
import { tf } from '../tfjs/tf';
import { AttentionTechnique, firstImage, rowNormalised } from './attention';
import type { TechniqueInput } from './base';

export class AttentionRollout extends AttentionTechnique {
  protected readonly usesGradients = false;
  readonly info = {
    id: 'attention-rollout',
    title: 'Attention rollout',
    summary: 'ViT-family models: the attention of every block multiplied through, residuals included; where the class token looks.',
    needsGradients: false,
    needsLayer: false,
    needsAttention: true,
    classAgnostic: true,
    parameters: [
      { name: 'headFusion', summary: 'How the heads of a block are combined.', default: 'mean', choices: ['mean', 'max', 'min'] },
      {
        name: 'discardRatio',
        summary: 'Fraction of each block’s weakest attention weights set to 0 before the rollout.',
        default: 0,
        min: 0,
        max: 0.99,
      },
    ],
  };

  protected relevance(evidence: AttentionEvidence, request: TechniqueInput): Tensor2D {
    const fusion = String(request.parameters.headFusion ?? 'mean');
    const discard = Number(request.parameters.discardRatio ?? 0);
    let rollout: Tensor2D | null = null;
    for (const heads of firstImage(evidence.probabilities)) {
      const fused = (fusion === 'max' ? heads.max(0) : fusion === 'min' ? heads.min(0) : heads.mean(0)) as Tensor2D;
      const kept = discard > 0 ? discardWeakest(fused, discard) : fused;
      const tokens = kept.shape[0];
      const mixed = rowNormalised(kept.mul(0.5).add(tf.eye(tokens).mul(0.5)) as Tensor2D);
      rollout = rollout ? (tf.matMul(mixed, rollout) as Tensor2D) : mixed;
    }
    return rollout!;
  }
}

/** The matrix with its `ratio` smallest entries set to 0, except [0, 0] (the class token attending to itself). */
function discardWeakest(matrix: Tensor2D, ratio: number): Tensor2D {
  const flat = matrix.reshape([-1]);
  const count = Math.floor(flat.size * ratio);
  if (count === 0) return matrix;
  const { indices } = tf.topk(flat.neg(), count);
  const drop = tf.scatterND(indices.reshape([-1, 1]), tf.ones([count]), [flat.size]);
  const keepFirst = tf.oneHot(tf.tensor1d([0], 'int32'), flat.size).reshape([-1]);
  const mask = tf.scalar(1).sub(drop.mul(tf.scalar(1).sub(keepFirst)));
  return flat.mul(mask).reshape(matrix.shape) as Tensor2D;
}
