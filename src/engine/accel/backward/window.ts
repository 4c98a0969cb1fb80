/** The geometry conv.ts and pool.ts share: a 2-D window op as it ran, and the transposed convolution undoing it. */
import { UnsupportedLayerError } from '../layoutWriter';
import type { GraphNode, OnnxGraph } from '../onnxGraph';

/**
 * A 2-D window op's geometry as it ran: attribute defaults filled in, auto_pad resolved, and the padding
 * after the input read off the shapes (so ceil_mode's extra window counts, and rows a stride skipped at the
 * end show as a negative `after`).
 */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Padding before the input: [top, left]. */
  before: number[];
  /** How far the last window reaches past the input: [bottom, right], negative where it stops short. */
  after: number[];
}

export function windowOf(g: OnnxGraph, node: GraphNode): Window {
  const { attributes } = node;
  const kernel =
    (attributes.kernel_shape as number[] | undefined) ?? (node.op === 'Conv' ? g.constantValue(node.inputs[1])?.dims.slice(2) : undefined);
  if (!kernel || kernel.length !== 2) throw new UnsupportedLayerError(`no gradient rule for a ${node.op} that is not 2-D`);
  const strides = (attributes.strides as number[] | undefined) ?? [1, 1];
  const dilations = (attributes.dilations as number[] | undefined) ?? [1, 1];
  const [, inH, inW] = g.shapeOf(node.inputs[0]);
  const [, outH, outW] = g.shapeOf(node.outputs[0]);
  const size = [inH, inW];
  const out = [outH, outW];
  const span = (i: number) => (kernel[i] - 1) * dilations[i] + 1;
  const autoPad = (attributes.auto_pad as string | undefined) ?? 'NOTSET';
  let before: number[];
  if (autoPad === 'NOTSET') before = ((attributes.pads as number[] | undefined) ?? [0, 0, 0, 0]).slice(0, 2);
  else if (autoPad === 'VALID') before = [0, 0];
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    // The odd padded row goes after the input (UPPER) or before it (LOWER).
    before = [0, 1].map((i) => {
      const total = (out[i] - 1) * strides[i] + span(i) - size[i];
      // onnxruntime pads a window narrower than its stride negatively; not followed here.
      if (total < 0) throw new UnsupportedLayerError(`no gradient rule for auto_pad ${autoPad} on a window narrower than its stride`);
      return autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
    });
  } else throw new UnsupportedLayerError(`no gradient rule for auto_pad ${autoPad}`);
  const after = [0, 1].map((i) => (out[i] - 1) * strides[i] + span(i) - before[i] - size[i]);
  return { kernel, strides, dilations, before, after };
}

/** ONNX pads for the window: before, then after where it reaches past the input. */
export function padsOfWindow({ before, after }: Window): number[] {
  return [...before, ...after.map((a) => Math.max(a, 0))];
}

/** The transposed convolution of `dy` that undoes the window's geometry (back to the input's shape). */
export function transposedConvolution(g: OnnxGraph, node: GraphNode, dy: string, weights: string, window: Window, group: number): string {
  const { kernel, strides, dilations, after } = window;
  // Rows (columns) the forward stride skipped at the end come back as output padding.
  const outputPadding = after.map((a) => Math.max(-a, 0));
  const attributes = { kernel_shape: kernel, strides, dilations, pads: padsOfWindow(window), group, output_padding: outputPadding };
  return g.op('ConvTranspose', [dy, weights], attributes, g.shapeOf(node.inputs[0]));
}
