/** What every backward rule sees, and what it is: one forward node's input gradients, written into the graph. */
import type { ReluRule } from '../../models/reluRules';
import type { GraphNode, OnnxGraph } from '../onnxGraph';

export interface BackwardStep {
  g: OnnxGraph;
  node: GraphNode;
  /** The node's first input and first output. */
  x: string;
  y: string;
  /** The gradient reaching y. */
  dy: string;
  /** The gradient reaching each output (zeros for those no gradient reaches); only multi-output rules read past the first. */
  dys: string[];
  /** x's shape, if known: the shape to give x's gradient. */
  shape: number[] | undefined;
  /** The rule rectifiers backpropagate by (guided backprop, deconvnet), or null for their own derivative. */
  reluRule: ReluRule | null;
  /** Adds a gradient for an input; ignored for inputs that do not depend on what is differentiated. */
  accumulate: (name: string, gradient: string) => void;
  /** Whether a gradient for this input is used (it depends on what is differentiated and leads to the output). */
  wants: (name: string) => boolean;
}

/** Writes the node's input gradients through `accumulate`; throws UnsupportedLayerError for a form it has no rule for. */
export type BackwardRule = (step: BackwardStep) => void;

/** ONNX op type → its backward rule. */
export type BackwardRules = Record<string, BackwardRule>;
