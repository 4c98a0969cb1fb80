/** Data movement: Identity, Dropout, Transpose, Flatten, Reshape, Squeeze, Unsqueeze, Pad, Concat; and ReduceMean. */
import { UnsupportedLayerError } from '../layoutWriter';
import { globalAverageGradient } from './pool';
import type { BackwardRule, BackwardRules } from './types';

const passThrough: BackwardRule = ({ x, dy, accumulate }) => accumulate(x, dy);

const reshapeBack: BackwardRule = ({ g, x, dy, shape, accumulate }) => accumulate(x, g.op('Reshape', [dy, g.op('Shape', [x])], {}, shape));

const transpose: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  const perm = node.attributes.perm as number[];
  const inverse = perm.map((_, i) => perm.indexOf(i));
  accumulate(x, g.op('Transpose', [dy], { perm: inverse }, shape));
};

const pad: BackwardRule = ({ g, node, x, dy, shape, accumulate }) => {
  const pads = g.intValues(node.inputs[1]);
  if (!pads) throw new UnsupportedLayerError('no gradient rule for a computed Pad');
  const [, h, w] = g.shapeOf(x);
  accumulate(x, g.op('Slice', [dy, g.ints([pads[2], pads[3]]), g.ints([pads[2] + h, pads[3] + w]), g.ints([2, 3])], {}, shape));
};

const concat: BackwardRule = ({ g, node, dy, accumulate }) => {
  const axis = node.attributes.axis as number;
  let start = 0;
  for (const input of node.inputs) {
    const size = g.shapeOf(input)[axis - 1];
    accumulate(input, g.op('Slice', [dy, g.ints([start]), g.ints([start + size]), g.ints([axis])], {}, g.shapes.get(input)));
    start += size;
  }
};

const reduceMean: BackwardRule = (step) => {
  const { g, node, dy } = step;
  const axes = (node.attributes.axes as number[] | undefined) ?? (node.inputs[1] ? g.intValues(node.inputs[1]) : undefined);
  const spatial = axes && axes.length === 2 && axes.every((a) => a === 2 || a === 3 || a === -1 || a === -2);
  if (!spatial) throw new UnsupportedLayerError('no gradient rule for a ReduceMean over other axes than height and width');
  // keepdims = 0 dropped the two axes: put them back before broadcasting.
  const kept = node.attributes.keepdims === 0 ? g.op('Reshape', [dy, g.ints([0, 0, 1, 1])]) : dy;
  step.accumulate(step.x, globalAverageGradient(step, kept));
};

export const shapeRules: BackwardRules = {
  Identity: passThrough,
  Dropout: passThrough,
  Transpose: transpose,
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Pad: pad,
  Concat: concat,
  ReduceMean: reduceMean,
};
