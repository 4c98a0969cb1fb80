/** Pure formatting and parsing for the panel (no DOM), so it can be unit-tested in Node. */
import type { LayerInfo, Prediction, Timings } from '../../src/shared/vocabulary';
import { formatShape } from '../../src/shared/display';

export { formatShape };

export function formatLayer(layer: LayerInfo): string {
  const layout = layer.layout ? ` (${layer.layout})` : '';
  return `${layer.name} — ${layer.kind} — ${formatShape(layer.outputShape)}${layout}`;
}

/** CAM-capable layers first (each group keeps the model's order). */
export function groupLayers(layers: readonly LayerInfo[]): { cam: LayerInfo[]; other: LayerInfo[] } {
  return { cam: layers.filter((l) => l.camCapable), other: layers.filter((l) => !l.camCapable) };
}

/** True when every score looks like a probability (then scores are shown as percentages). */
export function scoresAreProbabilities(predictions: readonly Prediction[]): boolean {
  return predictions.every((p) => Number.isFinite(p.score) && p.score >= 0 && p.score <= 1);
}

export function formatScore(score: number, asPercent: boolean): string {
  if (!Number.isFinite(score)) return String(score);
  if (!asPercent) return score.toFixed(2);
  const percent = score * 100;
  if (percent >= 99.95) return '100%';
  if (percent === 0) return '0%';
  if (percent < 0.05) return '<0.1%';
  return `${percent.toFixed(1)}%`;
}

/** Bar fill in 0..1 for each score: the score itself for probabilities, else relative to the range shown. */
export function scoreFractions(scores: readonly number[], asPercent: boolean): number[] {
  if (asPercent) return scores.map((s) => Math.min(1, Math.max(0, s)));
  const finite = scores.filter(Number.isFinite);
  const max = Math.max(...finite, 0);
  const min = Math.min(...finite, 0);
  const span = max - min || 1;
  return scores.map((s) => (Number.isFinite(s) ? (s - min) / span : 0));
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(value >= 10 ? 0 : 1)} ms`;
}

/** "decode 80 ms · forward 12 ms · Grad-CAM 34 ms · total 51 ms" (decode only when the image was not already open) */
export function formatTimings(timings: Timings, techniqueTitle: string): string {
  const parts = [`forward ${ms(timings.forwardMs)}`, `${techniqueTitle} ${ms(timings.techniqueMs)}`];
  if (timings.decodeMs >= 1) parts.unshift(`decode ${ms(timings.decodeMs)}`);
  if (Number.isFinite(timings.totalMs)) parts.push(`total ${ms(timings.totalMs)}`);
  return parts.join(' · ');
}
