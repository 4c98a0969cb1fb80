/**
 * onnxruntime's gradient graph (accel/gradientGraph.ts) through every window geometry ONNX files use:
 * attribute defaults left out, auto_pad SAME_UPPER / SAME_LOWER / VALID (windows narrower than their stride
 * included), ceil_mode's extra window, strides that skip the last rows, counted padding, column-major argmax
 * indices. Each model is one window op on a 7×7 image, weighted per cell and pooled to one score per
 * channel; its scores and input gradient must equal the TF.js executor's (written independently, from the
 * ONNX semantics), and nothing may fall back.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { loadModel } from '../../src/engine/models/loadModel';
import { gaussianValues } from '../../src/engine/random';
import { tf } from '../../src/engine/tfjs/tf';
import { acceleration, onTfjs, relativeGap, runtimeLogPerTest } from './helpers/acceleration';
import { inGraphNoiseSums } from '../../src/engine/techniques/smoothGrad';
import { encodeModel, pseudoRandom, type Attr, type Initializer, type NodeSpec } from './helpers/onnxBuilder';
import { tempDir } from './helpers/tinyModels';

const SIZE = 7;
const CHANNELS = 2;

interface WindowCase {
  name: string;
  op: 'Conv' | 'MaxPool' | 'AveragePool';
  attrs: Record<string, Attr>;
  /** Conv's kernel [out, in, kh, kw]. */
  kernel?: number[];
  /** Output rows = columns, by the ONNX shape rules. */
  out: number;
}

const CASES: WindowCase[] = [
  {
    name: 'Conv without kernel_shape, strides or dilations, auto_pad SAME_UPPER',
    op: 'Conv',
    attrs: { auto_pad: 'SAME_UPPER' },
    kernel: [3, CHANNELS, 3, 3],
    out: 7,
  },
  {
    name: 'Conv 4×4, stride 2, auto_pad SAME_LOWER (odd padding before)',
    op: 'Conv',
    attrs: { auto_pad: 'SAME_LOWER', strides: [2, 2] },
    kernel: [3, CHANNELS, 4, 4],
    out: 4,
  },
  {
    name: 'Conv 3×3, stride 3, auto_pad VALID (the last row skipped)',
    op: 'Conv',
    attrs: { auto_pad: 'VALID', strides: [3, 3], kernel_shape: [3, 3] },
    kernel: [2, CHANNELS, 3, 3],
    out: 2,
  },
  {
    name: 'MaxPool 2×2, stride 2, ceil_mode, column-major indices',
    op: 'MaxPool',
    attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1, storage_order: 1 },
    out: 4,
  },
  {
    name: 'MaxPool 2×2, stride 2, auto_pad SAME_UPPER',
    op: 'MaxPool',
    attrs: { kernel_shape: [2, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' },
    out: 4,
  },
  {
    name: 'MaxPool 3×3, stride 2, auto_pad SAME_LOWER (overlapping windows)',
    op: 'MaxPool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_LOWER' },
    out: 4,
  },
  {
    name: 'AveragePool 3×3, stride 2, auto_pad SAME_UPPER',
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' },
    out: 4,
  },
  {
    name: 'AveragePool 2×2, stride 2, ceil_mode',
    op: 'AveragePool',
    attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 },
    out: 4,
  },
  {
    name: 'AveragePool 3×3, stride 2, pads [1, 0, 0, 1], count_include_pad',
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1], count_include_pad: 1 },
    out: 3,
  },
  {
    name: 'AveragePool 3×3, stride 2, auto_pad SAME_LOWER, count_include_pad',
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_LOWER', count_include_pad: 1 },
    out: 4,
  },
  {
    name: 'AveragePool 2×2, stride 2, auto_pad VALID, count_include_pad',
    op: 'AveragePool',
    attrs: { kernel_shape: [2, 2], strides: [2, 2], auto_pad: 'VALID', count_include_pad: 1 },
    out: 3,
  },
  // SAME's padding would be negative: onnxruntime would start the windows a cell late, TF.js (and CNN Lens) does not.
  {
    name: 'Conv 1×1, stride 4, auto_pad SAME_UPPER (a window narrower than its stride)',
    op: 'Conv',
    attrs: { auto_pad: 'SAME_UPPER', strides: [4, 4] },
    kernel: [3, CHANNELS, 1, 1],
    out: 2,
  },
  {
    name: 'MaxPool 1×1, stride 4, auto_pad SAME_LOWER (a window narrower than its stride)',
    op: 'MaxPool',
    attrs: { kernel_shape: [1, 1], strides: [4, 4], auto_pad: 'SAME_LOWER' },
    out: 2,
  },
];

/** window op → × a weight per output cell → GlobalAveragePool → Flatten: one score per output channel. */
async function writeWindowModel({ op, attrs, kernel, out }: WindowCase): Promise<{ file: string; classes: number }> {
  const channels = kernel ? kernel[0] : CHANNELS;
  const nodes: NodeSpec[] = [
    { op, inputs: kernel ? ['image', 'w'] : ['image'], outputs: ['window'], attrs },
    { op: 'Mul', inputs: ['window', 'cell_weights'], outputs: ['weighted'] },
    { op: 'GlobalAveragePool', inputs: ['weighted'], outputs: ['pooled'] },
    { op: 'Flatten', inputs: ['pooled'], outputs: ['scores'], attrs: { axis: 1 } },
  ];
  const initializers: Initializer[] = [
    { name: 'cell_weights', dims: [1, channels, out, out], data: pseudoRandom(channels * out * out, 3) },
  ];
  if (kernel)
    initializers.push({
      name: 'w',
      dims: kernel,
      data: pseudoRandom(
        kernel.reduce((a, b) => a * b, 1),
        4,
      ),
    });
  const spec = {
    nodes,
    initializers,
    inputs: [{ name: 'image', dims: ['N', CHANNELS, SIZE, SIZE] }],
    outputs: [{ name: 'scores', dims: ['N', channels] }],
    opset: 17,
  };
  const file = path.join(tempDir(), 'window.onnx');
  await fs.writeFile(file, encodeModel(spec));
  return { file, classes: channels };
}

describe('onnxruntime gradients through ONNX window geometries (auto_pad, ceil_mode, defaults)', function () {
  const lines = runtimeLogPerTest();

  for (const windowCase of CASES) {
    it(`${windowCase.name}: the TF.js executor's scores and input gradient, without falling back`, async () => {
      const { file, classes } = await writeWindowModel(windowCase);
      const { adapter } = await loadModel(file, {}, {}, acceleration);
      const before = tf.memory().numTensors;
      const gaps = tf.tidy(() => {
        const x = tf.randomUniform([2, SIZE, SIZE, CHANNELS], -1, 1, 'float32', 11) as Tensor4D;
        const scores = relativeGap(
          adapter.scores(x),
          onTfjs(() => adapter.scores(x)),
        );
        const origin = x.slice([0, 0, 0, 0], [1, -1, -1, -1]) as Tensor4D;
        const offsets = { data: gaussianValues(x.size, 0, 0.3, 12), dims: x.shape };
        return Array.from({ length: classes }, (_, classIndex) => {
          const fast = adapter.accelerated()!.inputGradient(x, classIndex, null);
          assert.ok(fast, 'onnxruntime differentiates it');
          const slow = onTfjs(() =>
            tf.grad((v: tf.Tensor) =>
              adapter
                .scores(v as Tensor4D)
                .slice([0, classIndex], [-1, 1])
                .sum(),
            )(x),
          );
          // SmoothGrad's sums: the same gradients at the origin plus each offset, summed inside the graph.
          const sums = inGraphNoiseSums(adapter, { origin, offsets }, classIndex, { rule: null, timesInput: false });
          assert.ok(sums, 'onnxruntime sums them');
          const noisy = onTfjs(() =>
            tf.grad((v: tf.Tensor) =>
              adapter
                .scores(v as Tensor4D)
                .slice([0, classIndex], [-1, 1])
                .sum(),
            )(origin.add(tf.tensor(offsets.data, offsets.dims))),
          );
          return { scores, gradient: relativeGap(fast, slow), sums: relativeGap(sums.sum, tf.sum(noisy, 0, true)) };
        });
      });
      assert.deepEqual(lines, [], 'nothing fell back to TF.js');
      for (const { scores, gradient, sums } of gaps) {
        assert.ok(scores < 1e-5, `scores: ${scores}`);
        assert.ok(gradient < 1e-5, `input gradient: ${gradient}`);
        assert.ok(sums < 1e-5, `summed gradients of noisy copies: ${sums}`);
      }
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      adapter.dispose();
    });
  }
});
