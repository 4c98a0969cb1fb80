/**
 * keras.ops calls in a Keras 3 functional graph (`inputs + x`, `keras.ops.gelu(x)`) are saved as operations,
 * not layers: `{module: "keras.src.ops.numpy", class_name: "Add", config: {name}, …}` with their arguments in
 * the node (keras/src/models/functional.py serialize_node; ops/operation.py records every constructor
 * argument, defaults included). Keras's ConvNeXt adds its residuals this way. The operations a residual
 * network or a transformer uses, and that a tfjs layer computes exactly, become that layer: Add, Subtract and
 * Multiply of two tensors, and Gelu (`approximate` as recorded; keras.ops.gelu's default is the tanh form).
 * Any other operation, or one with a constant operand (which lives only in the node), is refused by name.
 */
import { isObject, type Json, type Problem } from './kerasJson';

const MERGES: Record<string, string> = { Add: 'Add', Subtract: 'Subtract', Multiply: 'Multiply' };

const isTensor = (value: unknown) => isObject(value) && value.class_name === '__keras_tensor__';

/** True when every call passes exactly `count` tensors as its positional arguments and nothing else. */
function tensorsOnly(nodes: unknown, count: number): boolean {
  if (!Array.isArray(nodes) || !nodes.length) return false;
  return nodes.every((node) => {
    if (!isObject(node) || !Array.isArray(node.args)) return false;
    const kwargs = isObject(node.kwargs) ? Object.keys(node.kwargs) : [];
    return node.args.length === count && node.args.every(isTensor) && kwargs.length === 0;
  });
}

/** The tfjs layer for one keras.ops operation entry, or null (with the refusal recorded). */
export function translateOperation(entry: Json, name: string, problems: Problem[]): { className: string; config: Json } | null {
  const kind = String(entry.class_name);
  const config = isObject(entry.config) ? entry.config : {};
  const base = { name, trainable: false, dtype: 'float32' };
  if (kind in MERGES && tensorsOnly(entry.inbound_nodes, 2)) return { className: MERGES[kind], config: base };
  if (kind === 'Gelu' && tensorsOnly(entry.inbound_nodes, 1)) {
    return { className: 'Activation', config: { ...base, activation: config.approximate === false ? 'gelu' : 'gelu_new' } };
  }
  const operands = kind in MERGES || kind === 'Gelu' ? ' with a constant or keyword operand' : '';
  problems.push({ layer: name, reason: `the keras.ops operation ${kind}${operands}, which CNN Lens does not translate into a layer` });
  return null;
}
