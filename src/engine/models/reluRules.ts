/**
 * Backward rules for rectifiers, used by guided backpropagation and deconvnet. The forward pass is the
 * layer's own; only the gradient changes (tf.customGrad), so tfjs internals stay untouched.
 *  - guided (Springenberg et al. 2015): pass a gradient only where it is positive AND the forward input
 *    was in the unit's active range (x > 0; for ReLU6 also x < 6; for LeakyReLU the slope α applies on
 *    the negative side, as its own derivative, and only positive gradients pass);
 *  - deconvnet (Zeiler & Fergus 2014): pass positive gradients regardless of the forward input.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';

export type ReluRule = 'guided' | 'deconvnet';

/** 'relu', 'relu6' or 'leakyrelu:<alpha>'; null when the activation is not a rectifier. */
export type RectifierKind = string;

export function rectifierKindOf(activationName: string, alpha?: number): RectifierKind | null {
  const name = activationName.toLowerCase();
  if (name === 'relu' || name === 'relu6') return name;
  if (name === 'leakyrelu') return `leakyrelu:${alpha ?? 0.3}`;
  return null;
}

/** The slope of the rectifier at x (the stock derivative). */
function slope(kind: RectifierKind, x: Tensor): Tensor {
  if (kind === 'relu') return tf.step(x, 0);
  // Step, not comparisons and logical ops: those kernels are slow on wasm.
  if (kind === 'relu6') return tf.step(x).mul(tf.step(tf.sub(6, x)));
  return tf.step(x, Number(kind.split(':')[1]));
}

/** Applies `forward` to x with the rule's backward pass. */
export function withReluRule(x: Tensor, kind: RectifierKind, rule: ReluRule, forward: (x: Tensor) => Tensor): Tensor {
  const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [Tensor, tf.GradSaveFunc];
    save([input]);
    return {
      value: forward(input),
      gradFunc: (dy: Tensor, [saved]: Tensor[]) => (rule === 'deconvnet' ? tf.relu(dy) : tf.relu(dy).mul(slope(kind, saved))),
    };
  });
  return op(x);
}
