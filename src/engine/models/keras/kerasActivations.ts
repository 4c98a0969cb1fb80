/**
 * A Keras `activation` setting → the tfjs activation that computes the same function, or a refusal.
 * Keras writes a built-in activation as its name ("gelu"); Keras 3 writes one it cannot name that way as a
 * function object `{module: "keras.activations", class_name: "function", config: "gelu", registered_name:
 * "gelu"}` (serialization_lib.serialize_with_public_fn). GELU: Keras's `activations.gelu` defaults to the
 * exact form x·Φ(x) (tfjs "gelu", with erf), its `approximate=True` is the tanh form (tfjs "gelu_new").
 */
import { customOrigin, isObject, type Json } from './kerasJson';

/** Keras activation names → tfjs's, where they differ; null: tfjs has no equivalent. */
const RENAMED: Record<string, string | null> = {
  silu: 'swish',
  swish: 'swish',
  log_softmax: 'log_softmax',
  // Keras 3's hard_sigmoid is relu6(x + 3) / 6; tfjs's (and Keras 2's) is clip(0.2x + 0.5): not the same function.
  hard_sigmoid: null,
  hard_silu: null,
  hard_swish: null,
  exponential: null,
  leaky_relu: null,
  relu6: 'relu6',
};
const TFJS_ACTIVATIONS = new Set([
  'relu',
  'relu6',
  'linear',
  'sigmoid',
  'tanh',
  'softmax',
  'softplus',
  'softsign',
  'elu',
  'selu',
  'swish',
  'mish',
  'gelu',
  'gelu_new',
  'log_softmax',
]);

/** The activation's Keras name and, for GELU, whether it is the tanh approximation; null for a custom one. */
function kerasActivation(value: unknown): { name: string; approximate: boolean } | null {
  if (typeof value === 'string') return { name: value, approximate: false };
  if (!isObject(value) || typeof value.class_name !== 'string') return null;
  if (value.class_name === 'function') {
    // Keras's own functions carry their name as registered_name, which customOrigin would read as a registration.
    const module = value.module;
    const fromKeras = module === undefined || module === 'keras' || (typeof module === 'string' && module.startsWith('keras.'));
    return fromKeras && typeof value.config === 'string' ? { name: value.config, approximate: false } : null;
  }
  if (customOrigin(value as Json)) return null;
  return { name: value.class_name.toLowerCase(), approximate: isObject(value.config) && value.config.approximate === true };
}

/** The tfjs activation for a Keras one, or why there is none. */
export function tfjsActivation(value: unknown): { name: string } | { problem: string } {
  const activation = kerasActivation(value);
  if (!activation) return { problem: 'a custom activation' };
  const { name, approximate } = activation;
  if (name === 'gelu') return { name: approximate ? 'gelu_new' : 'gelu' };
  const mapped = name in RENAMED ? RENAMED[name] : name;
  if (mapped === null || !TFJS_ACTIVATIONS.has(mapped)) return { problem: `activation "${name}", which TensorFlow.js does not have` };
  return { name: mapped };
}
