/**
 * Reverse-mode differentiation of an exported graph, written into the graph itself, for the input (or a
 * layer's activations) only: no weight gradients, and the backward pass runs in onnxruntime with the
 * forward one. Each forward op's rule is the textbook one (a convolution's input gradient is the
 * transposed convolution with the same kernel); rectifiers follow the ReLU rule when one is asked for
 * (guided backprop, deconvnet: models/reluRules.ts). The rules are in backward/, a file per op family; an
 * op without one makes the gradient graph fail, and the technique then runs on TF.js.
 */
import type { ReluRule } from '../models/reluRules';
import { backwardRuleFor } from './backward';
import type { OnnxGraph } from './onnxGraph';
import { UnsupportedLayerError } from './layoutWriter';

/**
 * Adds d(Σ seed · output)/d(x) for each x of `wrt` to the graph and returns their names. `seed` is a graph
 * input shaped like `output` (a one-hot row per image gives one class score's gradient per image).
 */
export function addGradients(graph: OnnxGraph, output: string, seed: string, wrt: string[], rule: ReluRule | null = null): string[] {
  const forward = [...graph.nodes];
  const dependsOnWrt = new Set(wrt);
  for (const node of forward)
    if (node.inputs.some((name) => dependsOnWrt.has(name))) node.outputs.forEach((name) => dependsOnWrt.add(name));
  const leadsToOutput = new Set([output]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    if (node.outputs.some((name) => leadsToOutput.has(name))) node.inputs.forEach((name) => leadsToOutput.add(name));
  }
  const grads = new Map<string, string>([[output, seed]]);
  const accumulate = (name: string, gradient: string) => {
    if (!dependsOnWrt.has(name) || !leadsToOutput.has(name)) return;
    const existing = grads.get(name);
    grads.set(name, existing ? graph.op('Add', [existing, gradient], {}, graph.shapes.get(name)) : gradient);
  };
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    const dy = grads.get(node.outputs[0]);
    if (!dy || !node.inputs.some((name) => dependsOnWrt.has(name))) continue;
    const backward = backwardRuleFor(node.op);
    if (!backward) throw new UnsupportedLayerError(`no gradient rule for ${node.op}`);
    const [x] = node.inputs;
    backward({ g: graph, node, x, y: node.outputs[0], dy, shape: graph.shapes.get(x), reluRule: rule, accumulate });
  }
  return wrt.map((name) => {
    const gradient = grads.get(name);
    if (!gradient) throw new UnsupportedLayerError(`${name} does not lead to ${output}`);
    return gradient;
  });
}
