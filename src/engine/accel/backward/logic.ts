/** Where: the gradient goes to the branch each element was taken from (the condition is not differentiated). */
import { dimsOf, unbroadcast } from './broadcast';
import type { BackwardRules } from './types';

export const logicRules: BackwardRules = {
  Where: ({ g, node, y, dy, wants, accumulate }) => {
    const [condition, a, b] = node.inputs;
    const zero = g.scalar(0);
    const shape = g.shapes.get(y);
    if (wants(a)) accumulate(a, unbroadcast(g, g.op('Where', [condition, dy, zero], {}, shape), a, dimsOf(g, y)));
    if (wants(b)) accumulate(b, unbroadcast(g, g.op('Where', [condition, zero, dy], {}, shape), b, dimsOf(g, y)));
  },
};
