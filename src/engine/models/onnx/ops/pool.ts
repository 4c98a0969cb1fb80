/** MaxPool, AveragePool (2-D; pads, auto_pad, ceil_mode, count_include_pad), GlobalAveragePool, GlobalMaxPool. */
import { tf } from '../../../tfjs/tf';
import type { OnnxNode } from '../onnxFile';
import { onnxPads, pair, subsample, windowPadding } from './conv';
import { asNhwc, attr, nhwcValue, required, type OpFn, type Registry } from './types';

function pool(kind: 'max' | 'avg'): OpFn {
  return (inputs, node) => {
    if (node.outputs.length > 1 && node.outputs[1])
      throw new Error(`MaxPool node "${node.name}" asks for the argmax indices, which CNN Lens does not compute.`);
    let x = asNhwc(required(inputs, 0, node), node.opType);
    const dtype = x.dtype;
    if (dtype !== 'float32') x = x.toFloat(); // wasm pools float32 only
    const kernel = pair(node, 'kernel_shape', 1);
    if (!attr.ints(node, 'kernel_shape')) throw new Error(`${node.opType} node "${node.name}" has no kernel_shape.`);
    const strides = pair(node, 'strides', 1);
    const dilations = pair(node, 'dilations', 1);
    const ceil = attr.int(node, 'ceil_mode', 0) === 1;
    let padding = windowPadding(node, [x.shape[1], x.shape[2]], kernel, strides, dilations, ceil);
    if (kind === 'avg' && attr.int(node, 'count_include_pad', 0) === 1 && Array.isArray(padding)) {
      // Padding counts in the average: pad with zeros ourselves, then pool without padding. The pads are
      // the attribute's or auto_pad's, without ceil_mode's extra window (its cells beyond them do not count).
      const pads = onnxPads(windowPadding(node, [x.shape[1], x.shape[2]], kernel, strides, dilations));
      x = tf.pad(x, [
        [0, 0],
        [pads[0], pads[2]],
        [pads[1], pads[3]],
        [0, 0],
      ]);
      const extra: [number, number] = [padding[1][1] - pads[2], padding[2][1] - pads[3]];
      padding =
        extra[0] > 0 || extra[1] > 0
          ? [
              [0, 0],
              [0, Math.max(extra[0], 0)],
              [0, Math.max(extra[1], 0)],
              [0, 0],
            ]
          : 'valid';
    }
    const dilated = dilations[0] > 1 || dilations[1] > 1;
    if (dilated && kind === 'avg') throw new Error(`AveragePool node "${node.name}" is dilated, which CNN Lens does not support.`);
    // tfjs pools dilated windows only unpadded and unstrided: pad with −∞, pool densely, keep every stride-th.
    const y = dilated
      ? subsample(tf.pool(Array.isArray(padding) ? tf.pad(x, padding, -Infinity) : x, kernel, 'max', 'valid', dilations, 1), strides)
      : kind === 'max'
        ? tf.maxPool(x, kernel, strides, padding)
        : tf.avgPool(x, kernel, strides, padding);
    return [nhwcValue(dtype === 'float32' ? y : y.cast(dtype))];
  };
}

function globalPool(kind: 'max' | 'avg'): OpFn {
  return (inputs, node) => {
    const x = asNhwc(required(inputs, 0, node), node.opType);
    return [nhwcValue(kind === 'avg' ? tf.mean(x, [1, 2], true) : tf.max(x, [1, 2], true))];
  };
}

/** For the adapter: whether a node pools a 4-D value globally (GlobalAveragePool, or ReduceMean over H and W). */
export function isGlobalAverage(node: OnnxNode, axesInput: number[] | null): boolean {
  if (node.opType === 'GlobalAveragePool') return true;
  if (node.opType !== 'ReduceMean') return false;
  const axes = attr.ints(node, 'axes') ?? axesInput;
  return (
    !!axes &&
    axes.length === 2 &&
    axes
      .map((a) => (a < 0 ? a + 4 : a))
      .sort()
      .join() === '2,3'
  );
}

export const poolOps: Registry = {
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
};
