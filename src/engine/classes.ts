/** Which class a request means: an index, a label (or one of its comma-separated names), or top-1. */
import { lookUpClass } from '../shared/classMatch';
import type { Prediction } from './types';

/** A class by index, by label (any of its comma-separated names), or top-1 when absent. */
export function resolveClass(target: number | string | undefined, labels: string[], predictions: Prediction[]): number {
  if (target === undefined || target === '') return predictions[0].index;
  const asNumber = typeof target === 'number' ? target : /^\d+$/.test(target.trim()) ? Number(target) : NaN;
  if (!Number.isNaN(asNumber)) {
    if (!Number.isInteger(asNumber) || asNumber < 0 || asNumber >= labels.length) {
      throw new Error(`Class ${target} is out of range: the model has classes 0 to ${labels.length - 1}.`);
    }
    return asNumber;
  }
  // The matching is shared with the panel's class search (src/shared/classMatch.ts).
  const found = lookUpClass(String(target), labels);
  if (found.ok) return found.index;
  throw new Error(found.error);
}
