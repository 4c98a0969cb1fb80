/**
 * Gradient-weighted attention relevance: Chefer, Gur & Wolf, "Generic Attention-model Explainability for
 * Interpreting Bi-Modal and Encoder-Decoder Transformers", ICCV 2021 (https://arxiv.org/abs/2103.15679),
 * its rule for self-attention encoders. Starting from R = I, each block in forward order adds its
 * class-specific attention Ā = mean over heads of (∇A ⊙ A)⁺ (∇A: the class score's gradient w.r.t. the
 * attention probabilities) propagated through what came before: R ← R + Ā·R.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import type { AttentionEvidence } from '../models/adapter';
import { tf } from '../tfjs/tf';
import { AttentionTechnique, firstImage } from './attention';

export class AttentionGradient extends AttentionTechnique {
  protected readonly usesGradients = true;
  readonly info = {
    id: 'attention-gradient',
    title: 'Attention × gradient (Chefer 2021)',
    summary: 'ViT-family models: each block’s attention weighted by the class score’s gradient, accumulated over the blocks.',
    needsGradients: true,
    needsLayer: false,
    needsAttention: true,
  };

  protected relevance(evidence: AttentionEvidence): Tensor2D {
    const attention = firstImage(evidence.probabilities);
    const gradients = firstImage(evidence.gradients!);
    const tokens = attention[0].shape[1];
    let relevance = tf.eye(tokens) as Tensor2D;
    attention.forEach((heads, i) => {
      const weighted = tf.relu(heads.mul(gradients[i])).mean(0) as Tensor2D;
      relevance = relevance.add(tf.matMul(weighted, relevance)) as Tensor2D;
    });
    return relevance;
  }
}
