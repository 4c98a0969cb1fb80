/** Axis ticks for the panel's small charts (pure, unit-tested). */

/** About `count` + 1 round ticks from `min` to `max` inclusive (steps of 1, 2 or 5 × 10^k). */
export function axisTicks(min: number, max: number, count: number): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw - 1e-12) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** A tick's text: "50%" for fractions shown as percentages, else a short number ("0.25", "1.2k", "-3"). */
export function formatTick(value: number, percent: boolean): string {
  if (percent) return `${Math.round(value * 100)}%`;
  const abs = Math.abs(value);
  if (abs >= 1000) return `${Number((value / 1000).toPrecision(3))}k`;
  if (abs === 0) return '0';
  return String(Number(value.toPrecision(3)));
}
