/**
 * Technique parameters in the panel, the pure part (no DOM, unit-tested in Node): values remembered per
 * technique, reading what the user typed, and describing specs and values. Ranges are not enforced
 * here: an out-of-range number goes to the engine, whose message names the parameter and its range.
 */
import type { ParameterSpec, TechniqueInfo, TechniqueParameters } from '../../src/shared/vocabulary';

/** The HTML `step` of a number control: whole steps for integers, hundredths otherwise. */
export function parameterStep(spec: ParameterSpec): string {
  return spec.integer ? '1' : '0.01';
}

/** The values to show for a technique: the remembered ones where they still fit the specs, else defaults. */
export function parameterValues(specs: readonly ParameterSpec[], remembered: TechniqueParameters = {}): TechniqueParameters {
  const values: TechniqueParameters = {};
  for (const spec of specs) {
    const kept = Object.prototype.hasOwnProperty.call(remembered, spec.name) ? remembered[spec.name] : undefined;
    const fits = spec.choices ? typeof kept === 'string' && spec.choices.includes(kept) : typeof kept === 'number' && Number.isFinite(kept);
    values[spec.name] = fits ? kept! : spec.default;
  }
  return values;
}

export type ReadResult = { ok: true; value: number | string } | { ok: false; error: string };

/**
 * What a control's text means. Numbers need only be numbers (the engine checks the range and says so);
 * an empty or unreadable field is the only error, so a half-typed value never starts a run.
 */
export function readParameter(spec: ParameterSpec, text: string): ReadResult {
  if (spec.choices) {
    return spec.choices.includes(text) ? { ok: true, value: text } : { ok: false, error: `Pick one of ${spec.choices.join(', ')}.` };
  }
  const trimmed = text.trim();
  const value = trimmed === '' ? NaN : Number(trimmed);
  if (!Number.isFinite(value))
    return { ok: false, error: `Enter ${spec.integer ? 'a whole number' : 'a number'}${rangeText(spec) ? ` (${rangeText(spec)})` : ''}.` };
  return { ok: true, value };
}

/** True when a number is outside the spec's range or not whole where it must be (the run will fail). */
export function outOfRange(spec: ParameterSpec, value: number | string): boolean {
  if (spec.choices || typeof value !== 'number') return false;
  return (
    (spec.min !== undefined && value < spec.min) ||
    (spec.max !== undefined && value > spec.max) ||
    (spec.integer === true && !Number.isInteger(value))
  );
}

function rangeText(spec: ParameterSpec): string {
  if (spec.min !== undefined && spec.max !== undefined) return `${spec.min}–${spec.max}`;
  if (spec.min !== undefined) return `≥ ${spec.min}`;
  if (spec.max !== undefined) return `≤ ${spec.max}`;
  return '';
}

/** The hint under a number control: its range and default. Pickers mark their default option instead. */
export function describeSpec(spec: ParameterSpec): string {
  if (spec.choices) return '';
  return [rangeText(spec), `default ${spec.default}`].filter(Boolean).join(' · ');
}

/**
 * How a choice reads in its picker: when every choice is a technique id (SmoothGrad's base), that
 * technique's title; otherwise the value itself. The default is marked, as in the layer picker.
 */
export function choiceText(spec: ParameterSpec, choice: string, techniques: readonly TechniqueInfo[]): string {
  const titles = spec.choices?.map((c) => techniques.find((t) => t.id === c)?.title);
  const text = titles && titles.every(Boolean) ? (titles[spec.choices!.indexOf(choice)] ?? choice) : choice;
  return choice === spec.default ? `${text} (default)` : text;
}

/** The parameters that differ from their defaults, e.g. "samples 5, noise 0.1", for the caption. */
export function describeChanged(specs: readonly ParameterSpec[], values: TechniqueParameters): string {
  return specs
    .filter((spec) => Object.prototype.hasOwnProperty.call(values, spec.name) && values[spec.name] !== spec.default)
    .map((spec) => `${spec.name} ${values[spec.name]}`)
    .join(', ');
}

/** True when every value equals its default. */
export function allDefaults(specs: readonly ParameterSpec[], values: TechniqueParameters): boolean {
  return specs.every((spec) => values[spec.name] === spec.default);
}
