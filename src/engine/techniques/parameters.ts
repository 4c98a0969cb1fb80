/** Fills in and checks technique parameters against their specs, with messages naming the parameter. */
import type { ParameterSpec, TechniqueParameters } from '../types';

export function resolveParameters(techniqueId: string, specs: ParameterSpec[] = [], given: TechniqueParameters = {}): TechniqueParameters {
  const known = new Set(specs.map((s) => s.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) {
      const list = specs.length ? specs.map((s) => s.name).join(', ') : 'none';
      throw new Error(`Technique "${techniqueId}" has no parameter "${name}" (it takes: ${list}).`);
    }
  }
  const resolved: TechniqueParameters = {};
  for (const spec of specs) {
    const raw = given[spec.name] ?? spec.default;
    if (spec.choices) {
      if (!spec.choices.includes(String(raw)))
        throw new Error(`Parameter "${spec.name}" of ${techniqueId} must be one of ${spec.choices.join(', ')}; got "${raw}".`);
      resolved[spec.name] = String(raw);
      continue;
    }
    const value = typeof raw === 'string' && raw.trim() === '' ? NaN : Number(raw);
    const inRange =
      Number.isFinite(value) && (spec.min === undefined || value >= spec.min) && (spec.max === undefined || value <= spec.max);
    if (!inRange || (spec.integer && !Number.isInteger(value))) {
      throw new Error(
        `Parameter "${spec.name}" of ${techniqueId} must be ${spec.integer ? 'an integer' : 'a number'} from ${spec.min ?? '-∞'} to ${spec.max ?? '∞'}; got "${raw}".`,
      );
    }
    resolved[spec.name] = value;
  }
  return resolved;
}
