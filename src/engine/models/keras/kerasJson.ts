/** What the Keras config translation (kerasConfig.ts and its helpers) shares: JSON shapes and refusals. */

export type Json = Record<string, unknown>;

/** A layer CNN Lens will not build, and why; all of a file's are reported in one message. */
export interface Problem {
  layer: string;
  reason: string;
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a Keras 3 object is not Keras's own (a custom or third-party class); null when it is. */
export function customOrigin(entry: Json): string | null {
  const module = entry.module;
  const registered = entry.registered_name;
  if (typeof module === 'string' && module !== 'keras' && !module.startsWith('keras.')) return `module ${module}`;
  if (typeof registered === 'string' && registered !== entry.class_name && !registered.startsWith('keras')) {
    return `registered as ${registered}`;
  }
  return null;
}

/** Keras 3 writes arrays in configs as `{class_name: "__numpy__" | "__tensor__", config: {value, dtype}}`. */
export function unwrapArray(value: unknown): unknown {
  const wrapped = isObject(value) && (value.class_name === '__numpy__' || value.class_name === '__tensor__');
  if (wrapped && isObject(value.config)) return value.config.value;
  return value;
}
