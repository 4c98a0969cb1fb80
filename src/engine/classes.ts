/** Which class a request means: an index, a label (or one of its comma-separated names), or top-1. */
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
  const wanted = String(target).trim().toLowerCase();
  const exact = labels.findIndex((label) => label.toLowerCase() === wanted);
  if (exact >= 0) return exact;
  const synonym = labels.findIndex((label) =>
    label
      .toLowerCase()
      .split(',')
      .some((name) => name.trim() === wanted),
  );
  if (synonym >= 0) return synonym;
  const close = labels.filter((label) => label.toLowerCase().includes(wanted)).slice(0, 5);
  const hint = close.length ? ` Did you mean: ${close.map((l) => `"${l}"`).join(', ')}?` : '';
  throw new Error(`No class is labelled "${target}".${hint}`);
}
