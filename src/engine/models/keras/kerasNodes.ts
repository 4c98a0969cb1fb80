/**
 * A Keras layer's inbound nodes → the Keras 2 form tfjs-layers reads, `[[[layer, node, tensor, {}], …], …]`.
 * Keras 3 writes a node as `{args, kwargs}` whose tensors are `__keras_tensor__` objects with
 * `keras_history: [layer, node, tensor]` (functional.py serialize_node); Keras 2 writes the list form, where
 * arguments after the first travel in the first entry's kwargs as `[layer, node, tensor]` (tf.keras
 * Node.serialize). MultiHeadAttention is called as (query, value[, key]), positionally or by keyword in either
 * version: its tensors are gathered in that order; masks and flags that change the result are refused.
 */
import { isObject, type Problem } from './kerasJson';

export type TensorRef = [string, number, number];

/** Every tensor a Keras 3 node argument names, in order. */
function tensorsIn(value: unknown, found: TensorRef[]): TensorRef[] {
  if (Array.isArray(value)) value.forEach((item) => tensorsIn(item, found));
  else if (isObject(value)) {
    if (value.class_name === '__keras_tensor__') {
      const history = isObject(value.config) ? value.config.keras_history : null;
      if (Array.isArray(history) && typeof history[0] === 'string')
        found.push([history[0], Number(history[1] ?? 0), Number(history[2] ?? 0)]);
    } else Object.values(value).forEach((item) => tensorsIn(item, found));
  }
  return found;
}

/** A Keras 2 kwarg tensor: `[layer, node, tensor]`. */
function legacyRef(value: unknown): TensorRef | null {
  return Array.isArray(value) && value.length === 3 && typeof value[0] === 'string' ? [value[0], Number(value[1]), Number(value[2])] : null;
}

const ATTENTION_SLOTS = ['query', 'value', 'key'];
const ATTENTION_REFUSED: Record<string, string> = {
  attention_mask: 'an attention mask',
  query_mask: 'a query mask',
  value_mask: 'a value mask',
  key_mask: 'a key mask',
  return_attention_scores: 'return_attention_scores=True',
  use_causal_mask: 'a causal mask',
};

/** MultiHeadAttention's (query, value[, key]) from positional tensors and keyword arguments. */
function attentionInputs(
  name: string,
  positional: TensorRef[],
  keywords: Record<string, unknown>,
  refOf: (v: unknown) => TensorRef | null,
  problems: Problem[],
): TensorRef[] {
  const slots: (TensorRef | null)[] = [...positional];
  for (const [key, value] of Object.entries(keywords)) {
    const slot = ATTENTION_SLOTS.indexOf(key);
    if (slot >= 0) slots[slot] = refOf(value);
    else if (key in ATTENTION_REFUSED && value !== null && value !== false)
      problems.push({ layer: name, reason: `MultiHeadAttention called with ${ATTENTION_REFUSED[key]}` });
  }
  if (!slots[0] || !slots[1] || slots.length > 3 || slots.some((s) => !s)) {
    problems.push({ layer: name, reason: 'MultiHeadAttention not called as (query, value[, key]) with tensors' });
    return [];
  }
  return slots as TensorRef[];
}

function keras3Node(name: string, kerasClass: string, node: Record<string, unknown>, problems: Problem[]): TensorRef[] {
  const kwargs = isObject(node.kwargs) ? node.kwargs : {};
  if (kerasClass === 'MultiHeadAttention') {
    const positional = (Array.isArray(node.args) ? node.args : []).map((arg) => tensorsIn(arg, [])[0] ?? null);
    return attentionInputs(name, positional as TensorRef[], kwargs, (v) => tensorsIn(v, [])[0] ?? null, problems);
  }
  if (tensorsIn(kwargs, []).length) problems.push({ layer: name, reason: 'a call with tensor keyword arguments (e.g. a mask)' });
  return tensorsIn(node.args, []);
}

/** Keras 2 MultiHeadAttention: the query is the entry, the other tensors its kwargs. */
function legacyAttentionNode(name: string, node: unknown[], problems: Problem[]): unknown[] {
  const [first] = node as unknown[][];
  const query = Array.isArray(first) ? legacyRef(first.slice(0, 3)) : null;
  const kwargs = Array.isArray(first) && isObject(first[3]) ? first[3] : {};
  if (node.length !== 1 || !query) {
    problems.push({ layer: name, reason: 'MultiHeadAttention not called as (query, value[, key]) with tensors' });
    return [];
  }
  return attentionInputs(name, [query], kwargs, legacyRef, problems).map((ref) => [...ref, {}]);
}

export function inboundNodes(name: string, kerasClass: string, nodes: unknown, problems: Problem[]): unknown[] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    if (Array.isArray(node)) return kerasClass === 'MultiHeadAttention' ? legacyAttentionNode(name, node, problems) : node;
    if (!isObject(node)) return [];
    return keras3Node(name, kerasClass, node, problems).map((ref) => [...ref, {}]);
  });
}

/** `input_layers` / `output_layers`: one `[layer, node, tensor]` or a list (or dict) of them → a list. */
export function endpoints(value: unknown): unknown[] {
  if (Array.isArray(value) && typeof value[0] === 'string') return [value];
  if (Array.isArray(value)) return value;
  if (isObject(value)) return Object.values(value);
  return [];
}
