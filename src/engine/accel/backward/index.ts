/**
 * The backward rules: ONNX op type → its input gradient, one file per op family as the importer has them
 * (models/onnx/ops/). An op without a rule makes the gradient graph fail, and the technique then runs on TF.js.
 */
import { activationRules } from './activation';
import { convRules } from './conv';
import { elementwiseRules } from './elementwise';
import { indexingRules } from './indexing';
import { linearRules } from './linear';
import { logicRules } from './logic';
import { normalizationRules } from './normalization';
import { poolRules } from './pool';
import { reduceRules } from './reduce';
import { resizeRules } from './resize';
import { shapeRules } from './shape';
import type { BackwardRule, BackwardRules } from './types';

const RULES: BackwardRules = {
  ...convRules,
  ...poolRules,
  ...activationRules,
  ...elementwiseRules,
  ...indexingRules,
  ...linearRules,
  ...logicRules,
  ...normalizationRules,
  ...reduceRules,
  ...resizeRules,
  ...shapeRules,
};

/** Ops whose rule reads the gradient of every output, not only the first. */
const MULTI_OUTPUT = new Set(['Split']);

export function backwardRuleFor(opType: string): BackwardRule | undefined {
  return Object.prototype.hasOwnProperty.call(RULES, opType) ? RULES[opType] : undefined;
}

export function readsEveryOutput(opType: string): boolean {
  return MULTI_OUTPUT.has(opType);
}
