/**
 * The gradients the input-space techniques share: of one class score, or of one unit (or filter) of a
 * layer, w.r.t. the input batch, optionally under a ReLU backward rule (guided backprop, deconvnet).
 */
import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '../models/adapter';
import type { ReluRule } from '../models/reluRules';
import { tf } from '../tfjs/tf';
import { TechniqueNotApplicableError } from './cam';

function checkRule(model: ModelAdapter, rule: ReluRule | null): void {
  if (rule && !model.supportsReluRules) {
    throw new TechniqueNotApplicableError(
      `This technique changes how ReLUs backpropagate, which CNN Lens supports for TF.js layers models only; use saliency or Grad-CAM here.`,
    );
  }
}

/** d score[classIndex] / d input, for every image of the batch at once (scores are independent per image). */
export function inputGradient(model: ModelAdapter, input: Tensor4D, classIndex: number, rule: ReluRule | null = null): Tensor4D {
  checkRule(model, rule);
  const fast = model.accelerated()?.inputGradient(input, classIndex, rule);
  if (fast) return fast;
  const score = (x: tf.Tensor) => tf.sum(model.scores(x as Tensor4D, rule).slice([0, classIndex], [-1, 1]));
  return tf.grad(score)(input) as Tensor4D;
}

/** d objective(activations of `layer`) / d input; the objective sums over the batch, whose images are independent. */
export function activationGradient(
  model: ModelAdapter,
  input: Tensor4D,
  layer: string,
  rule: ReluRule | null,
  objective: (activations: Tensor4D) => Scalar,
): Tensor4D {
  checkRule(model, rule);
  return tf.grad((x: tf.Tensor) => objective(model.layerOutput(x as Tensor4D, layer, rule)))(input) as Tensor4D;
}

/** A unit of a layer: filter (channel) and, for single activations, its cell. */
export interface Unit {
  filter: number;
  y: number;
  x: number;
}

/**
 * Fills in the parts of a unit left at −1 with the strongest choice on these activations (averaged over
 * the batch): the filter with the largest mean activation, or, for a single activation, the largest one
 * (within the given filter, when one is given). Checks given parts against the layer's shape.
 */
export function chooseUnit(activations: Tensor4D, layer: string, wanted: Unit, single: boolean): Unit {
  const [, h, w, c] = activations.shape;
  const check = (value: number, size: number, what: string) => {
    if (value >= size) throw new Error(`Layer "${layer}" has ${size} ${what}s (0 to ${size - 1}); got ${what} ${value}.`);
  };
  check(wanted.filter, c, 'filter');
  check(wanted.y, h, 'row');
  check(wanted.x, w, 'column');
  return tf.tidy(() => {
    const mean = tf.mean(activations, 0) as tf.Tensor3D;
    if (!single) {
      const filter = wanted.filter >= 0 ? wanted.filter : tf.argMax(tf.mean(mean, [0, 1])).dataSync()[0];
      return { filter, y: -1, x: -1 };
    }
    const candidates = wanted.filter >= 0 ? mean.slice([0, 0, wanted.filter], [h, w, 1]) : mean;
    const depth = candidates.shape[2];
    // Given coordinates are fixed by slicing them out; the strongest of what is left is taken.
    const y0 = Math.max(wanted.y, 0);
    const x0 = Math.max(wanted.x, 0);
    const rows = wanted.y >= 0 ? 1 : h;
    const columns = wanted.x >= 0 ? 1 : w;
    const region = candidates.slice([y0, x0, 0], [rows, columns, depth]);
    const flat = tf.argMax(region.reshape([-1])).dataSync()[0];
    const cell = Math.floor(flat / depth);
    return { filter: wanted.filter >= 0 ? wanted.filter : flat % depth, y: y0 + Math.floor(cell / columns), x: x0 + (cell % columns) };
  });
}
