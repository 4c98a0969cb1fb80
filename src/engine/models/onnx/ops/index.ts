/** The op registry: ONNX op type (default domain) → implementation. */
import { activationOps } from './activation';
import { convOps } from './conv';
import { elementwiseOps } from './elementwise';
import { indexingOps } from './indexing';
import { linearOps } from './linear';
import { logicOps } from './logic';
import { normalizationOps } from './normalization';
import { poolOps } from './pool';
import { reduceOps } from './reduce';
import { resizeOps } from './resize';
import { shapeOps } from './shape';
import type { Registry } from './types';

export const OPS: Registry = {
  ...convOps,
  ...poolOps,
  ...activationOps,
  ...elementwiseOps,
  ...logicOps,
  ...normalizationOps,
  ...linearOps,
  ...shapeOps,
  ...indexingOps,
  ...reduceOps,
  ...resizeOps,
};

export function isSupported(opType: string, domain: string): boolean {
  return (domain === '' || domain === 'ai.onnx') && Object.prototype.hasOwnProperty.call(OPS, opType);
}
