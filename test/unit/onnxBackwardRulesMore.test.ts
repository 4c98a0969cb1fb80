/**
 * onnxruntime's gradients through Resize and Upsample, ConvTranspose, PRelu, LRN, Einsum and ScatterND
 * (accel/backward/resize.ts, conv.ts, activation.ts, normalization.ts, linear.ts, indexing.ts). Each tiny
 * graph ends in a linear head to three scores; its input gradient from onnxruntime, for every class, must
 * equal central differences of onnxruntime's own scores and the TF.js executor's gradient, with nothing
 * falling back to TF.js. Where onnxruntime runs every op of a graph in float64 (PRelu, Einsum, ScatterND) the
 * differences are taken on a float64 twin of it; Resize, ConvTranspose and LRN have float32 kernels only.
 * Forms without a rule stay on TF.js and say why.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { loadModel, type LoadedModel } from '../../src/engine/models/loadModel';
import { tf } from '../../src/engine/tfjs/tf';
import { acceleration, relativeGap, runtimeLogPerTest, tfjsGradient } from './helpers/acceleration';
import { encodeModel, pseudoRandom, type GraphSpec, type Initializer, type NodeSpec } from './helpers/onnxBuilder';
import { onnxruntimeNode } from './helpers/onnxModels';
import { tempDir } from './helpers/tinyModels';

const CLASSES = 3;

interface RuleCase {
  name: string;
  /** The image's [channels, height, width]. */
  image: [number, number, number];
  /** Nodes from "image" to "features". */
  nodes: NodeSpec[];
  initializers?: Initializer[];
  /** The shape of "features" without the batch. */
  features: number[];
  opset?: number;
  /** onnxruntime runs every op in float64: the differences are taken on the graph's float64 twin. */
  double?: boolean;
  /** Linear in the image: central differences are exact but for rounding, whatever the step. */
  linear?: boolean;
}

// Weights rounded to float32, so the float64 twin computes the same function.
const floats = (name: string, dims: number[], seed: number, scale = 1): Initializer => ({
  name,
  dims,
  data: pseudoRandom(
    dims.reduce((a, b) => a * b, 1),
    seed,
  ).map((v) => Math.fround(v * scale)),
});
const ints = (name: string, data: number[], dims = [data.length]): Initializer => ({ name, dims, data, dataType: 7 });
const node = (op: string, inputs: string[], output: string, attrs?: NodeSpec['attrs']): NodeSpec => ({
  op,
  inputs,
  outputs: [output],
  attrs,
});

/** A 3×3 same-padded convolution of the image to `channels` (its output is stored NHWC by the executor). */
const conv = (cIn: number, channels: number): { nodes: NodeSpec[]; initializers: Initializer[] } => ({
  nodes: [node('Conv', ['image', 'conv_w'], 'c', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })],
  initializers: [floats('conv_w', [channels, cIn, 3, 3], 31, 0.5)],
});

function resizeCase(
  name: string,
  attrs: NodeSpec['attrs'],
  inputs: string[],
  extra: Initializer[],
  features: number[],
  opset = 13,
): RuleCase {
  const { nodes, initializers } = conv(2, 3);
  return {
    name,
    image: [2, 5, 6],
    nodes: [...nodes, node(opset < 10 ? 'Upsample' : 'Resize', ['c', ...inputs], 'features', attrs)],
    initializers: [...initializers, ...extra],
    features,
    opset,
    linear: true,
  };
}
const scales = (values: number[]): Initializer => ({ name: 'scales', dims: [values.length], data: values });

const RESIZE: RuleCase[] = [
  resizeCase(
    'Resize nearest asymmetric floor ×2 (torch’s Upsample)',
    { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
    ['', 'scales'],
    [scales([1, 1, 2, 2])],
    [3, 10, 12],
  ),
  resizeCase(
    'Resize nearest half_pixel round_prefer_ceil, downsampling ×0.5',
    { mode: 'nearest', nearest_mode: 'round_prefer_ceil' },
    ['', 'scales'],
    [scales([1, 1, 0.5, 0.5])],
    [3, 2, 3],
  ),
  {
    ...resizeCase(
      'Resize linear half_pixel to sizes computed from the batch (torch’s interpolate(size=…)), upsampling 5×6 → 8×9',
      { mode: 'linear' },
      ['', '', 'sizes'],
      [ints('zero', [0]), ints('two', [2]), ints('spatial', [8, 9])],
      [3, 8, 9],
    ),
    nodes: [
      ...conv(2, 3).nodes,
      node('Shape', ['c'], 'c_shape'),
      node('Slice', ['c_shape', 'zero', 'two'], 'batch_channels'),
      node('Concat', ['batch_channels', 'spatial'], 'sizes', { axis: 0 }),
      node('Resize', ['c', '', '', 'sizes'], 'features', { mode: 'linear' }),
    ],
  },
  resizeCase(
    'Resize linear align_corners, downsampling 5×6 → 3×3 (scales 0.6, 0.5)',
    { mode: 'linear', coordinate_transformation_mode: 'align_corners' },
    ['', 'scales'],
    [scales([1, 1, 0.6, 0.5])],
    [3, 3, 3],
  ),
  resizeCase('Resize linear half_pixel, downsampling ×0.6', { mode: 'linear' }, ['', 'scales'], [scales([1, 1, 0.6, 0.6])], [3, 3, 3]),
  resizeCase(
    'Resize linear antialiased, downsampling ×0.5 (opset 18)',
    { mode: 'linear', antialias: 1 },
    ['', 'scales'],
    [scales([1, 1, 0.5, 0.5])],
    [3, 2, 3],
    18,
  ),
  resizeCase(
    'Resize cubic (a = −0.5) excluding outside cells, upsampling ×1.6',
    { mode: 'cubic', cubic_coeff_a: { float: -0.5 }, exclude_outside: 1 },
    ['', 'scales'],
    [scales([1, 1, 1.6, 1.6])],
    [3, 8, 9],
  ),
  resizeCase(
    'Resize linear pytorch_half_pixel to 1 × 4 (sizes on axes [2, 3], opset 18)',
    { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel', axes: [2, 3] },
    ['', '', 'sizes'],
    [ints('sizes', [1, 4])],
    [3, 1, 4],
    18,
  ),
  resizeCase(
    'Resize cubic half_pixel: the channels ×2, the rows ×1.5',
    { mode: 'cubic' },
    ['', 'scales'],
    [scales([1, 2, 1.5, 1])],
    [6, 7, 6],
  ),
  resizeCase(
    'Resize linear asymmetric, upsampling ×1.5',
    { mode: 'linear', coordinate_transformation_mode: 'asymmetric' },
    ['', 'scales'],
    [scales([1, 1, 1.5, 1.5])],
    [3, 7, 9],
  ),
  resizeCase(
    'Resize linear tf_crop_and_resize of a region reaching past the image (extrapolated cells)',
    { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: { float: 0.5 } },
    ['roi', 'scales'],
    [{ name: 'roi', dims: [8], data: [0, 0, -0.1, 0.2, 1, 1, 0.9, 1.1] }, scales([1, 1, 2, 1.5])],
    [3, 10, 9],
  ),
  resizeCase(
    'Resize before opset 11: nearest ×2 by its second input (opset 10)',
    { mode: 'nearest' },
    ['scales'],
    [scales([1, 1, 2, 2])],
    [3, 10, 12],
    10,
  ),
  resizeCase('Upsample bilinear ×2 (opset 9)', { mode: 'linear' }, ['scales'], [scales([1, 1, 2, 2])], [3, 10, 12], 9),
];

function transposedCase(
  name: string,
  attrs: NodeSpec['attrs'],
  weights: number[],
  features: number[],
  image: [number, number, number],
): RuleCase {
  return {
    name,
    image,
    nodes: [node('ConvTranspose', ['image', 'w', 'b'], 'features', attrs)],
    initializers: [floats('w', weights, 7), floats('b', [weights[1] * ((attrs?.group as number | undefined) ?? 1)], 8)],
    features,
    linear: true,
  };
}

const CONV_TRANSPOSE: RuleCase[] = [
  transposedCase(
    'ConvTranspose 3×3, stride 2, pads [1, 0, 1, 1], output_padding [1, 0]',
    { strides: [2, 2], pads: [1, 0, 1, 1], output_padding: [1, 0], kernel_shape: [3, 3] },
    [3, 4, 3, 3],
    [4, 8, 10],
    [3, 4, 5],
  ),
  transposedCase(
    'ConvTranspose 2×2, stride 2, no pads, output_padding 1 (past the pads)',
    { strides: [2, 2], output_padding: [1, 1] },
    [3, 2, 2, 2],
    [2, 9, 11],
    [3, 4, 5],
  ),
  transposedCase(
    'ConvTranspose in 2 groups, strides [2, 1], dilations 2',
    { group: 2, strides: [2, 1], dilations: [2, 2] },
    [4, 3, 2, 2],
    [6, 9, 6],
    [4, 4, 4],
  ),
  transposedCase(
    'ConvTranspose depthwise (group = channels), 3×3, pads 1',
    { group: 4, pads: [1, 1, 1, 1] },
    [4, 1, 3, 3],
    [4, 4, 4],
    [4, 4, 4],
  ),
  transposedCase(
    'ConvTranspose 3×3, stride 2, auto_pad SAME_UPPER (the odd pad after)',
    { strides: [2, 2], auto_pad: 'SAME_UPPER', kernel_shape: [3, 3] },
    [3, 2, 3, 3],
    [2, 8, 10],
    [3, 4, 5],
  ),
  transposedCase(
    'ConvTranspose 4×4, stride 3, auto_pad SAME_LOWER (the odd pad before)',
    { strides: [3, 3], auto_pad: 'SAME_LOWER' },
    [3, 2, 4, 4],
    [2, 12, 15],
    [3, 4, 5],
  ),
  transposedCase(
    'ConvTranspose 3×3, stride 2, output_shape 8 × 9',
    { strides: [2, 2], output_shape: [8, 9] },
    [3, 2, 3, 3],
    [2, 8, 9],
    [3, 4, 5],
  ),
];

/** PRelu of the image (onnxruntime's Conv has no float64 kernel), then Tanh. */
const preluCase = (name: string, slope: Initializer): RuleCase => ({
  name,
  image: [3, 4, 5],
  nodes: [node('PRelu', ['image', 'slope'], 'p'), node('Tanh', ['p'], 'features')],
  initializers: [slope],
  features: [3, 4, 5],
  // onnxruntime's float64 PRelu is opset 16's.
  opset: 16,
  double: true,
});

const PRELU: RuleCase[] = [
  preluCase('PRelu by one slope', { name: 'slope', dims: [1], data: [0.25] }),
  preluCase('PRelu per channel ([3, 1, 1])', floats('slope', [3, 1, 1], 11)),
  preluCase('PRelu along the width ([5])', floats('slope', [5], 12)),
  preluCase('PRelu per cell ([3, 4, 5])', floats('slope', [3, 4, 5], 13)),
];

const lrnCase = (name: string, size: number, alpha: number, beta: number, bias: number): RuleCase => ({
  name,
  image: [6, 3, 5],
  nodes: [node('LRN', ['image'], 'features', { size, alpha: { float: alpha }, beta: { float: beta }, bias: { float: bias } })],
  features: [6, 3, 5],
});

const LRN: RuleCase[] = [
  lrnCase('LRN size 3 (α 0.9, β 0.75, bias 1)', 3, 0.9, 0.75, 1),
  lrnCase('LRN size 5 (α 2, β 0.5, bias 1.5)', 5, 2, 0.5, 1.5),
  lrnCase('LRN size 1 (α 0.5, β 1, bias 0.5)', 1, 0.5, 1, 0.5),
];

const einsumCase = (name: string, nodes: NodeSpec[], features: number[], initializers: Initializer[] = [], opset = 13): RuleCase => ({
  name,
  image: [2, 4, 4],
  nodes: [node('Tanh', ['image'], 't'), ...nodes],
  initializers,
  features,
  opset,
  double: true,
});

const EINSUM: RuleCase[] = [
  einsumCase(
    "Einsum 'bhqk,bhkd->bhqd' of two computed tensors (attention’s A·v)",
    [node('Einsum', ['image', 't'], 'features', { equation: 'bhqk,bhkd->bhqd' })],
    [2, 4, 4],
  ),
  einsumCase(
    "Einsum 'bij,bjk->bik' and 'bij,bkj->bik' (of one tensor with itself), opset 12",
    [
      node('Reshape', ['image', 'rows'], 'a'),
      node('Reshape', ['t', 'columns'], 'b'),
      node('Einsum', ['a', 'b'], 'ab', { equation: 'bij,bjk->bik' }),
      node('Einsum', ['a', 'a'], 'aa', { equation: 'bij,bkj->bik' }),
      node('Add', ['ab', 'aa'], 'features'),
    ],
    [8, 8],
    [ints('rows', [0, 8, 4]), ints('columns', [0, 4, 8])],
    12,
  ),
  einsumCase(
    "Einsum 'nchw,kc->nkhw' by a constant",
    [node('Einsum', ['t', 'k'], 'features', { equation: 'nchw,kc->nkhw' })],
    [3, 4, 4],
    [floats('k', [3, 2], 21)],
  ),
  einsumCase(
    "Einsum 'nchw,c->nh' (w summed by the image alone), 'nchw->nwhc', and the implicit output of 'achw,kc' (ahkw)",
    [
      node('Einsum', ['t', 'v'], 'rows', { equation: 'nchw,c->nh' }),
      node('Einsum', ['image'], 'moved', { equation: 'nchw->nwhc' }),
      node('Einsum', ['t', 'k'], 'implicit', { equation: 'achw,kc' }),
      node('Flatten', ['rows'], 'rows_flat', { axis: 1 }),
      node('Flatten', ['moved'], 'moved_flat', { axis: 1 }),
      node('Flatten', ['implicit'], 'implicit_flat', { axis: 1 }),
      node('Concat', ['rows_flat', 'moved_flat', 'implicit_flat'], 'features', { axis: 1 }),
    ],
    [4 + 32 + 48],
    [floats('v', [2], 22), floats('k', [3, 2], 23)],
  ),
];

/** The image as [channels, rows, batch, columns], so that ScatterND's index tuples start past the batch. */
const BATCH_THIRD: NodeSpec[] = [node('Transpose', ['image'], 'd', { perm: [1, 2, 0, 3] })];
const BATCH_FIRST = (from: string): NodeSpec => node('Transpose', [from], 'features', { perm: [2, 0, 1, 3] });
/** Tanh of each channel's first row: three updates [batch, columns] for tuples of 2. */
const FIRST_ROWS: NodeSpec[] = [
  node('Slice', ['d', 'zero', 'one', 'one'], 'first_row'),
  node('Reshape', ['first_row', 'to_rows'], 'rows'),
  node('Tanh', ['rows'], 'updates'),
];
const FIRST_ROWS_CONSTANTS = [ints('zero', [0]), ints('one', [1]), ints('to_rows', [3, -1, 4])];

const SCATTER: RuleCase[] = [
  {
    name: 'ScatterND of whole channels (tuples of 1) replaced by Tanh of others',
    image: [3, 4, 4],
    nodes: [
      ...BATCH_THIRD,
      node('Gather', ['d', 'first_two'], 'picked', { axis: 0 }),
      node('Tanh', ['picked'], 'updates'),
      node('ScatterND', ['d', 'indices', 'updates'], 's'),
      BATCH_FIRST('s'),
    ],
    initializers: [ints('first_two', [0, 1]), ints('indices', [2, 0], [2, 1])],
    features: [3, 4, 4],
    double: true,
  },
  {
    name: 'ScatterND of rows (tuples of 2, one counted from the end) replaced by Tanh of each channel’s first',
    image: [3, 4, 4],
    nodes: [...BATCH_THIRD, ...FIRST_ROWS, node('ScatterND', ['d', 'indices', 'updates'], 's'), BATCH_FIRST('s')],
    initializers: [...FIRST_ROWS_CONSTANTS, ints('indices', [0, -1, 1, 2, 2, 3], [3, 2])],
    features: [3, 4, 4],
    double: true,
  },
  {
    name: 'ScatterND adding rows (tuples of 2, one place twice) of Tanh of the image (opset 16)',
    image: [3, 4, 4],
    nodes: [
      ...BATCH_THIRD,
      ...FIRST_ROWS,
      { op: 'ScatterND', inputs: ['d', 'indices', 'updates'], outputs: ['s'], attrs: { reduction: 'add' } },
      BATCH_FIRST('s'),
    ],
    initializers: [...FIRST_ROWS_CONSTANTS, ints('indices', [0, 1, 2, 3, 0, 1], [3, 2])],
    features: [3, 4, 4],
    opset: 16,
    double: true,
  },
];

/** The case's graph: its nodes, then "features" flattened and multiplied by a [cells, 3] matrix to the scores. */
function specOf(c: RuleCase, double = false): GraphSpec {
  const cells = c.features.reduce((a, b) => a * b, 1);
  return {
    nodes: [...c.nodes, node('Flatten', ['features'], 'flat', { axis: 1 }), node('MatMul', ['flat', 'head'], 'scores')],
    initializers: [...(c.initializers ?? []), floats('head', [cells, CLASSES], 41)],
    inputs: [{ name: 'image', dims: ['N', ...c.image] }],
    outputs: [{ name: 'scores', dims: ['N', CLASSES] }],
    opset: c.opset ?? 13,
    double,
  };
}

async function load(spec: GraphSpec): Promise<LoadedModel> {
  const file = path.join(tempDir(), 'model.onnx');
  await fs.writeFile(file, encodeModel(spec));
  return loadModel(file, {}, {}, acceleration);
}

/**
 * d score[k] / d image[cell] for one NCHW image, by central differences of onnxruntime's scores: every
 * nudged copy of the image in one batch, in float32 or float64.
 */
async function differences(bytes: Uint8Array, image: Float64Array, dims: number[], eps: number, double: boolean): Promise<number[][]> {
  const ort = onnxruntimeNode();
  const cells = image.length;
  const batch = double ? new Float64Array(2 * cells * cells) : new Float32Array(2 * cells * cells);
  for (let i = 0; i < cells; i++)
    for (const [copy, sign] of [
      [2 * i, 1],
      [2 * i + 1, -1],
    ]) {
      batch.set(image, copy * cells);
      batch[copy * cells + i] = image[i] + sign * eps;
    }
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ image: new ort.Tensor(double ? 'float64' : 'float32', batch, [2 * cells, ...dims]) });
    const scores = out.scores.data as Float32Array | Float64Array;
    return Array.from({ length: CLASSES }, (_, k) =>
      Array.from({ length: cells }, (_, i) => (scores[2 * i * CLASSES + k] - scores[(2 * i + 1) * CLASSES + k]) / (2 * eps)),
    );
  } finally {
    await session.release();
  }
}

/**
 * Steps and tolerances (a fraction of the class's largest |∂score/∂cell|). float64 differences (step 1e-6:
 * Einsum's products are quadratic, for which central differences are exact, and no PRelu input lies within
 * 1e-6 of its kink) carry ~1e-10 of error: the gap is onnxruntime's float32 backward pass, measured ≤ 2e-7.
 * float32 differences of graphs linear in the image (step 0.5) are exact but for the scores' rounding (~6e-8 ×
 * the terms summed ÷ the step), measured ≤ 3e-6. LRN's (step 1e-2) add ~step² of truncation: measured ≤ 1e-4.
 */
function stepOf(c: RuleCase): { eps: number; tolerance: number } {
  if (c.double) return { eps: 1e-6, tolerance: 2e-6 };
  return c.linear ? { eps: 0.5, tolerance: 2e-5 } : { eps: 1e-2, tolerance: 1e-3 };
}

describe('onnxruntime gradients through Resize, ConvTranspose, PRelu, LRN, Einsum and ScatterND', function () {
  const lines = runtimeLogPerTest();

  for (const c of [...RESIZE, ...CONV_TRANSPOSE, ...PRELU, ...LRN, ...EINSUM, ...SCATTER]) {
    it(`${c.name}: central differences on onnxruntime${c.double ? ' (float64)' : ''} and the TF.js executor's gradient`, async () => {
      const spec = specOf(c);
      const model = await load(spec);
      const before = tf.memory().numTensors;
      const [channels, h, w] = c.image;
      const x = tf.randomUniform([2, h, w, channels], -1.5, 1.5, 'float32', 5) as Tensor4D;
      // The first image, NCHW, for the differences.
      const nhwc = tf.tidy(() => x.slice([0, 0, 0, 0], [1, -1, -1, -1]).dataSync() as Float32Array);
      const nchw = new Float64Array(nhwc.length);
      nhwc.forEach((v, i) => (nchw[(i % channels) * h * w + Math.floor(i / channels)] = v));
      const { eps, tolerance } = stepOf(c);
      const numeric = await differences(encodeModel(specOf(c, c.double)), nchw, c.image, eps, c.double ?? false);
      for (let k = 0; k < CLASSES; k++) {
        const { gap, first } = tf.tidy(() => {
          const fast = model.adapter.accelerated()!.inputGradient(x, k, null);
          assert.ok(fast, `onnxruntime computes the gradient (${lines.join(' ')})`);
          return {
            gap: relativeGap(fast, tfjsGradient(model, x, k)),
            first: fast.slice([0, 0, 0, 0], [1, -1, -1, -1]).dataSync() as Float32Array,
          };
        });
        assert.ok(gap < 1e-5, `class ${k} against TF.js: ${gap}`);
        const scale = Math.max(...numeric[k].map(Math.abs));
        assert.ok(scale > 0, `class ${k} depends on the image`);
        first.forEach((v, i) => {
          const expected = numeric[k][(i % channels) * h * w + Math.floor(i / channels)];
          assert.ok(Math.abs(v - expected) <= tolerance * scale, `class ${k}, cell ${i}: ${v} vs ${expected} (scale ${scale})`);
        });
      }
      x.dispose();
      assert.deepEqual(lines, [], 'nothing fell back to TF.js');
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      model.adapter.dispose();
    });
  }

  const REFUSED: { name: string; c: RuleCase; reason: string }[] = [
    {
      name: 'a Resize align_corners to fewer columns than scale × input (3 for 3.6)',
      c: resizeCase(
        '',
        { mode: 'linear', coordinate_transformation_mode: 'align_corners' },
        ['', 'scales'],
        [scales([1, 1, 0.6, 0.6])],
        [3, 3, 3],
      ),
      reason:
        "no gradient rule for a Resize in align_corners mode to a size other than scale × input (onnxruntime and ONNX's reference sample it differently)",
    },
    {
      name: 'an Einsum taking a diagonal',
      c: einsumCase('', [node('Einsum', ['t'], 'features', { equation: 'nchh->nch' })], [2, 4]),
      reason: 'no gradient rule for the Einsum "nchh->nch" (a letter repeated within an operand)',
    },
    {
      name: 'a ScatterND multiplying',
      c: { ...SCATTER[2], nodes: SCATTER[2].nodes.map((n) => (n.op === 'ScatterND' ? { ...n, attrs: { reduction: 'mul' } } : n)) },
      reason: 'no gradient rule for a ScatterND with reduction mul',
    },
    {
      name: 'a ScatterND writing one place twice',
      c: { ...SCATTER[1], initializers: [...FIRST_ROWS_CONSTANTS, ints('indices', [0, 3, 1, 2, 0, -1], [3, 2])] },
      reason: 'no gradient rule for a ScatterND writing one place twice',
    },
  ];
  for (const { name, c, reason } of REFUSED) {
    it(`${name} stays on TF.js and says why`, async () => {
      const model = await load(specOf(c));
      const x = tf.zeros([1, c.image[1], c.image[2], c.image[0]]) as Tensor4D;
      assert.equal(model.adapter.accelerated()!.inputGradient(x, 0, null), null);
      assert.deepEqual(lines, [`onnxruntime: TF.js computes the gradient for this model (${reason}).`]);
      x.dispose();
      model.adapter.dispose();
    });
  }
});
