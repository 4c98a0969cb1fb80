/**
 * Resize and Upsample, every mode and coordinate transformation the TF.js executor runs: each resized axis is
 * a linear map, its [out, in] interpolation matrix computed here from the static shapes exactly as the
 * executor computes it (models/onnx/ops/resizeTables.ts); the gradient is dy times each matrix transposed.
 */
import { UnsupportedLayerError } from '../layoutWriter';
import type { GraphNode, OnnxGraph } from '../onnxGraph';
import {
  onnxTable,
  planOf,
  settingsOf,
  tableMatrix,
  type Plan,
  type PlanArguments,
  type Settings,
} from '../../models/onnx/ops/resizeTables';
import { normaliseAxis, range } from './broadcast';
import type { BackwardRule, BackwardRules } from './types';

const refuse = (why: string) => new UnsupportedLayerError(`no gradient rule for a Resize ${why}`);

/** A float or integer constant's values, [] for an input left out, or null for a computed one. */
function valuesOf(g: OnnxGraph, name: string | undefined): number[] | null {
  if (!name) return [];
  const floats = g.constantValue(name);
  return floats ? Array.from(floats.data) : (g.intValues(name) ?? null);
}

/**
 * The node's scales, sizes and roi. Sizes computed in the graph (torch writes the batch size into them) are
 * read off the static output shape instead, which is what they were when the export was probed.
 */
function planArguments(g: OnnxGraph, node: GraphNode, outShape: number[], transform: string): PlanArguments {
  const rank = outShape.length;
  const attribute = (name: string) => node.attributes[name] as unknown;
  const policy = (attribute('keep_aspect_ratio_policy') as string | undefined) ?? 'stretch';
  const axes = g.opset >= 18 ? ((attribute('axes') as number[] | undefined)?.map((a) => normaliseAxis(a, rank)) ?? null) : null;
  const legacy = node.op === 'Upsample' || g.opset < 11;
  const scalesInput = legacy ? (node.op === 'Upsample' && g.opset < 9 ? null : node.inputs[1]) : node.inputs[2];
  const scales =
    scalesInput === null ? ((attribute('scales') as { floats: number[] } | undefined)?.floats ?? null) : valuesOf(g, scalesInput);
  if (scales === null) throw refuse('by computed scales');
  const roi = legacy ? [] : valuesOf(g, node.inputs[1]);
  if (roi === null && transform === 'tf_crop_and_resize') throw refuse('of a computed region');
  let sizes = legacy ? [] : valuesOf(g, node.inputs[3]);
  if (sizes === null) {
    if (policy !== 'stretch') throw refuse(`to computed sizes with keep_aspect_ratio_policy ${policy}`);
    sizes = (axes ?? range(0, rank)).map((a) => outShape[a]);
  }
  return { scales, sizes, roi: roi ?? [], axes, policy };
}

/** dy's axis `axis` (of `rank`) taken back through the [out, in] matrix: [.., out, ..] → [.., in, ..]. */
function alongAxis(g: OnnxGraph, dy: string, matrix: Float32Array, out: number, input: number, axis: number, rank: number): string {
  if (axis === rank - 1) return g.op('MatMul', [dy, g.floats(matrix, [out, input], 'resize_matrix')]);
  const transposed = new Float32Array(matrix.length);
  for (let i = 0; i < out; i++) for (let j = 0; j < input; j++) transposed[j * out + i] = matrix[i * input + j];
  if (axis === rank - 2) return g.op('MatMul', [g.floats(transposed, [input, out], 'resize_matrix'), dy]);
  // Other axes: swapped with the last, multiplied, swapped back.
  const perm = range(0, rank);
  [perm[axis], perm[rank - 1]] = [rank - 1, axis];
  const last = g.op('Transpose', [dy], { perm });
  return g.op('Transpose', [g.op('MatMul', [last, g.floats(matrix, [out, input], 'resize_matrix')])], { perm });
}

const isIdentity = (matrix: Float32Array, n: number) =>
  matrix.length === n * n && matrix.every((v, k) => v === (k % (n + 1) === 0 ? 1 : 0));

/** The node's settings and plan as the executor reads them (its errors, on forms it would not run, as refusals). */
function geometry(g: OnnxGraph, node: GraphNode, inShape: number[], outShape: number[]): { settings: Settings; plan: Plan } {
  const what = `${node.op} node`;
  const read = (name: string) => {
    const v = node.attributes[name];
    return typeof v === 'string' || typeof v === 'number' ? v : v && typeof v === 'object' && 'float' in v ? v.float : undefined;
  };
  try {
    const settings = settingsOf(node.op, g.opset, read, what);
    return { settings, plan: planOf(planArguments(g, node, outShape, settings.transform), inShape, what) };
  } catch (error) {
    if (error instanceof UnsupportedLayerError) throw error;
    throw refuse(`(${(error as Error).message})`);
  }
}

/**
 * ONNX's reference places align_corners', tf_crop_and_resize's and (for one output) pytorch_half_pixel's
 * samples by scale × input, as the executor does; onnxruntime by the output size. They differ where the two do:
 * the executor's tables are then not onnxruntime's forward pass.
 */
function placesAsOnnxruntime({ transform, mode }: Settings, width: number, out: number): void {
  const whole = Math.abs(width - out) <= 1e-6 * out;
  const differs =
    ((transform === 'align_corners' || transform === 'tf_crop_and_resize') && !whole) ||
    (transform === 'pytorch_half_pixel' && out === 1 && (!whole || mode === 'cubic'));
  if (differs)
    throw refuse(`in ${transform} mode to a size other than scale × input (onnxruntime and ONNX's reference sample it differently)`);
}

const resize: BackwardRule = ({ g, node, x, y, dy, shape, accumulate }) => {
  // The batch axis (of unknown size) counts as 1: its scale must be 1, checked below.
  const inShape = [1, ...g.shapeOf(x)];
  const outShape = [1, ...g.shapeOf(y)];
  const { settings, plan } = geometry(g, node, inShape, outShape);
  if (plan.scales[0] !== 1 || (settings.transform === 'tf_crop_and_resize' && plan.roi[0].join() !== '0,1'))
    throw refuse('across the batch axis');
  if (plan.outputShape.join() !== outShape.join())
    throw refuse(`to [${plan.outputShape.slice(1)}], not its output's [${outShape.slice(1)}]`);
  let gradient = dy;
  const rank = inShape.length;
  for (let axis = 1; axis < rank; axis++) {
    placesAsOnnxruntime(settings, plan.scales[axis] * inShape[axis], outShape[axis]);
    const table = onnxTable(inShape[axis], outShape[axis], plan.scales[axis], settings, plan.roi[axis]);
    const matrix = tableMatrix(table, inShape[axis]);
    if (isIdentity(matrix, inShape[axis])) continue;
    gradient = alongAxis(g, gradient, matrix, outShape[axis], inShape[axis], axis, rank);
  }
  if (gradient !== dy && shape) g.shapes.set(gradient, shape);
  accumulate(x, gradient);
};

export const resizeRules: BackwardRules = { Resize: resize, Upsample: resize };
