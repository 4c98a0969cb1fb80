/** The op registry: ONNX op type (default domain) → implementation. */
import { activationOps } from './activation';
import { convOps } from './conv';
import { elementwiseOps } from './elementwise';
import { linearOps } from './linear';
import { poolOps } from './pool';
import { shapeOps } from './shape';
import type { Registry } from './types';

export const OPS: Registry = { ...convOps, ...poolOps, ...activationOps, ...elementwiseOps, ...linearOps, ...shapeOps };

export function isSupported(opType: string, domain: string): boolean {
  return (domain === '' || domain === 'ai.onnx') && Object.prototype.hasOwnProperty.call(OPS, opType);
}
