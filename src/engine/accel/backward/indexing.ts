/** ScatterND (reduction none or add). */
import { UnsupportedLayerError } from '../layoutWriter';
import type { OnnxGraph } from '../onnxGraph';
import { dimsOf } from './broadcast';
import type { BackwardRule, BackwardRules } from './types';

/** Whether two of the constant index tuples name one place (negative indices counted from the end); refuses what it cannot tell. */
function repeats(g: OnnxGraph, data: string, indices: string): boolean {
  const values = g.intValues(indices);
  const depth = g.constantDims(indices)?.at(-1);
  if (!values || depth === undefined) throw new UnsupportedLayerError('no gradient rule for a ScatterND of computed indices');
  const sizes = dimsOf(g, data);
  const places = new Set<string>();
  for (let t = 0; t < values.length / depth; t++) {
    const tuple = values.slice(t * depth, (t + 1) * depth).map((v, axis) => (v < 0 ? v + (sizes[axis] ?? NaN) : v));
    // The first axis's size is not known here (it holds the batch, or the batch folded in).
    if (tuple.some(Number.isNaN))
      throw new UnsupportedLayerError('no gradient rule for a ScatterND counting from the end of the first axis');
    places.add(tuple.join());
  }
  return places.size !== values.length / depth;
}

/**
 * data's gradient is dy where no update overwrote it (dy with zeros scattered in) or, under 'add', dy itself;
 * the updates' is dy gathered at their indices. Under 'none' a place written twice keeps one of its updates
 * (which, ONNX leaves open): the updates' gradient needs constant indices that repeat no place.
 */
const scatterND: BackwardRule = ({ g, node, y, dy, wants, accumulate }) => {
  const [data, indices, updates] = node.inputs;
  const reduction = (node.attributes.reduction as string | undefined) ?? 'none';
  if (reduction !== 'none' && reduction !== 'add')
    throw new UnsupportedLayerError(`no gradient rule for a ScatterND with reduction ${reduction}`);
  if (wants(updates) && reduction === 'none' && repeats(g, data, indices))
    throw new UnsupportedLayerError('no gradient rule for a ScatterND writing one place twice');
  const shape = g.shapes.get(y);
  if (wants(data)) {
    const zeros = g.op('ConstantOfShape', [g.op('Shape', [updates])]);
    accumulate(data, reduction === 'add' ? dy : g.op('ScatterND', [dy, indices, zeros], {}, shape));
  }
  if (wants(updates)) accumulate(updates, g.op('GatherND', [dy, indices], {}, g.shapes.get(updates)));
};

export const indexingRules: BackwardRules = { ScatterND: scatterND };
