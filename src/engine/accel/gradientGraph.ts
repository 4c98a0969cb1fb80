/**
 * Reverse-mode differentiation of an exported graph, written into the graph itself, for the input (or a
 * layer's activations) only: no weight gradients, and the backward pass runs in onnxruntime with the
 * forward one. Each forward op's rule is the textbook one (a convolution's input gradient is the
 * transposed convolution with the same kernel); rectifiers follow the ReLU rule when one is asked for
 * (guided backprop, deconvnet: models/reluRules.ts). The rules are in backward/, a file per op family; an
 * op without one makes the gradient graph fail, and the technique then runs on TF.js.
 */
import type { ReluRule } from '../models/reluRules';
import { backwardRuleFor, readsEveryOutput } from './backward';
import type { GraphNode, OnnxGraph } from './onnxGraph';
import { UnsupportedLayerError } from './layoutWriter';

/** Ops whose outputs carry no gradient: sizes read off a tensor, not its values. */
const SIZE_READING = new Set(['Shape', 'Size']);

/**
 * Adds d(Σ seed · output)/d(x) for each x of `wrt` to the graph and returns their names. `seed` is a graph
 * input shaped like `output` (a one-hot row per image gives one class score's gradient per image).
 */
export function addGradients(graph: OnnxGraph, output: string, seed: string, wrt: string[], rule: ReluRule | null = null): string[] {
  const forward = [...graph.nodes];
  const { dependsOnWrt, leadsToOutput } = relevance(forward, output, wrt);
  const wants = (name: string) => dependsOnWrt.has(name) && leadsToOutput.has(name);
  const grads = new Map<string, string>([[output, seed]]);
  const accumulate = (name: string, gradient: string) => {
    if (!wants(name)) return;
    const existing = grads.get(name);
    grads.set(name, existing ? graph.op('Add', [existing, gradient], {}, graph.shapes.get(name)) : gradient);
  };
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    if (!node.inputs.some((name) => dependsOnWrt.has(name))) continue;
    const dys = outputGradients(graph, node, grads);
    if (!dys) continue;
    const backward = backwardRuleFor(node.op);
    if (!backward) throw new UnsupportedLayerError(`no gradient rule for ${node.op}`);
    const [x] = node.inputs;
    const y = node.outputs[0];
    backward({ g: graph, node, x, y, dy: dys[0], dys, shape: graph.shapes.get(x), reluRule: rule, accumulate, wants });
  }
  return wrt.map((name) => {
    const gradient = grads.get(name);
    if (!gradient) throw new UnsupportedLayerError(`${name} does not lead to ${output}`);
    return gradient;
  });
}

/** The tensors that depend on `wrt` (through values, not sizes), and those that lead to `output`. */
function relevance(forward: GraphNode[], output: string, wrt: string[]): { dependsOnWrt: Set<string>; leadsToOutput: Set<string> } {
  const dependsOnWrt = new Set(wrt);
  for (const node of forward)
    if (!SIZE_READING.has(node.op) && node.inputs.some((name) => dependsOnWrt.has(name)))
      node.outputs.forEach((name) => dependsOnWrt.add(name));
  const leadsToOutput = new Set([output]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    if (node.outputs.some((name) => leadsToOutput.has(name))) node.inputs.forEach((name) => leadsToOutput.add(name));
  }
  return { dependsOnWrt, leadsToOutput };
}

/**
 * The gradients reaching the node's outputs, or null where none does. A rule for one output would drop what
 * reaches the others (a LayerNormalization's Mean read downstream): only multi-output rules see them, with
 * zeros for outputs no gradient reaches.
 */
function outputGradients(graph: OnnxGraph, node: GraphNode, grads: Map<string, string>): string[] | null {
  const found = node.outputs.map((name) => grads.get(name));
  if (!found.some(Boolean)) return null;
  if (!readsEveryOutput(node.op)) {
    const other = found.findIndex((gradient, i) => i > 0 && gradient);
    if (other > 0 || !found[0]) throw new UnsupportedLayerError(`no gradient rule for ${node.op}'s output ${other}`);
    return [found[0]];
  }
  return found.map(
    (gradient, i) => gradient ?? graph.op('ConstantOfShape', [graph.op('Shape', [node.outputs[i]])], {}, graph.shapes.get(node.outputs[i])),
  );
}
