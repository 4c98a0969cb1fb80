/**
 * The ONNX ops today's architectures need (issue 21), one small graph each, run by the TF.js executor on the
 * cpu and wasm backends: the output against onnxruntime-node's, and the input gradient through tfjs's
 * autodiff — on wasm too, whose missing kernels break some stock gradients — against a central finite
 * difference taken with onnxruntime along a random direction. The graphs put an op after a Conv where
 * its NHWC-stored output matters (Softmax, Resize, PRelu, LRN, reductions).
 */
import { strict as assert } from 'node:assert';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { decodeOnnx } from '../../src/engine/models/onnx/onnxFile';
import { OnnxExecutor } from '../../src/engine/models/onnx/executor';
import { plain, plainValue } from '../../src/engine/models/onnx/ops/types';
import { tf } from '../../src/engine/tfjs/tf';
import { encodeModel, pseudoRandom, type Initializer, type NodeSpec } from './helpers/onnxBuilder';
import { onnxruntimeNode } from './helpers/onnxModels';

interface OpCase {
  name: string;
  /** Shape of the float input "x". */
  x: number[];
  nodes: NodeSpec[];
  initializers?: Initializer[];
  opset?: number;
  /** Keep x positive (Sqrt, Pow with a fractional exponent). */
  positive?: boolean;
}

const floats = (name: string, dims: number[], seed: number): Initializer => ({
  name,
  dims,
  data: pseudoRandom(
    dims.reduce((a, b) => a * b, 1),
    seed,
  ),
});
const ints = (name: string, data: number[], dims = [data.length]): Initializer => ({ name, dims, data, dataType: 7 });
const scalar = (name: string, value: number): Initializer => ({ name, dims: [], data: [value] });

/** A 3×3 same-padded convolution from C_in to C_out channels: its output is stored NHWC. */
const conv = (input: string, output: string, cIn: number, cOut: number, seed: number): [NodeSpec, Initializer] => [
  { op: 'Conv', inputs: [input, `${output}_w`], outputs: [output], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
  floats(`${output}_w`, [cOut, cIn, 3, 3], seed),
];

function withConv(name: string, x: number[], cOut: number, nodes: NodeSpec[], initializers: Initializer[] = [], opset = 13): OpCase {
  const [node, weight] = conv('x', 'c', x[1], cOut, name.length);
  return { name, x, nodes: [node, ...nodes], initializers: [weight, ...initializers], opset };
}

const CASES: OpCase[] = [
  { name: 'Erf (exact GELU)', x: [2, 3, 4], nodes: [{ op: 'Erf', inputs: ['x'], outputs: ['y'] }] },
  {
    name: 'LayerNormalization over the last axis (opset 17)',
    x: [2, 5, 6],
    nodes: [{ op: 'LayerNormalization', inputs: ['x', 's', 'b'], outputs: ['y'], attrs: { axis: -1, epsilon: { float: 1e-5 } } }],
    initializers: [floats('s', [6], 1), floats('b', [6], 2)],
    opset: 17,
  },
  {
    name: 'LayerNormalization over the last two axes, no bias',
    x: [2, 5, 6],
    nodes: [{ op: 'LayerNormalization', inputs: ['x', 's'], outputs: ['y'], attrs: { axis: 1 } }],
    initializers: [floats('s', [5, 6], 3)],
    opset: 17,
  },
  {
    name: 'Pow by 2, by 3 and by 1.7, Sqrt, Neg',
    x: [2, 3, 4],
    positive: true,
    nodes: [
      { op: 'Pow', inputs: ['x', 'two'], outputs: ['p2'] },
      { op: 'Pow', inputs: ['x', 'three'], outputs: ['p3'] },
      { op: 'Pow', inputs: ['x', 'frac'], outputs: ['pf'] },
      { op: 'Sqrt', inputs: ['x'], outputs: ['sq'] },
      { op: 'Neg', inputs: ['sq'], outputs: ['ng'] },
      { op: 'Sum', inputs: ['p2', 'p3'], outputs: ['s1'] },
      { op: 'Sum', inputs: ['pf', 'ng'], outputs: ['s2'] },
      { op: 'Sub', inputs: ['s1', 's2'], outputs: ['y'] },
    ],
    initializers: [scalar('two', 2), scalar('three', 3), scalar('frac', 1.7)],
  },
  {
    name: 'Where on Less / Equal / Not, Expand',
    x: [2, 1, 4],
    nodes: [
      { op: 'Less', inputs: ['x', 'zero'], outputs: ['neg'] },
      { op: 'Equal', inputs: ['x', 'zero'], outputs: ['eq'] },
      { op: 'Not', inputs: ['eq'], outputs: ['ne'] },
      { op: 'And', inputs: ['neg', 'ne'], outputs: ['m'] },
      { op: 'Mul', inputs: ['x', 'half'], outputs: ['h'] },
      { op: 'Where', inputs: ['m', 'h', 'x'], outputs: ['w'] },
      { op: 'Expand', inputs: ['w', 'shape'], outputs: ['y'] },
    ],
    initializers: [scalar('zero', 0), scalar('half', 0.5), ints('shape', [2, 3, 4])],
  },
  withConv('Softmax over channels and over height of a Conv output', [1, 2, 5, 6], 3, [
    { op: 'Softmax', inputs: ['c'], outputs: ['s1'], attrs: { axis: 1 } },
    { op: 'Softmax', inputs: ['c'], outputs: ['s2'], attrs: { axis: 2 } },
    { op: 'LogSoftmax', inputs: ['c'], outputs: ['s3'], attrs: { axis: -1 } },
    { op: 'Sum', inputs: ['s1', 's2', 's3'], outputs: ['y'] },
  ]),
  {
    name: 'MatMul [b, heads, n, d] × [b, heads, d, n] and by a 2-D weight',
    x: [2, 3, 4, 5],
    nodes: [
      { op: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: [0, 1, 3, 2] } },
      { op: 'MatMul', inputs: ['x', 'xt'], outputs: ['a'] },
      { op: 'MatMul', inputs: ['a', 'w'], outputs: ['y'] },
    ],
    initializers: [floats('w', [4, 6], 4)],
  },
  {
    name: 'Gemm with transB (weight transposed at load)',
    x: [3, 5],
    nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { transB: 1, alpha: { float: 0.5 } } }],
    initializers: [floats('w', [4, 5], 5), floats('b', [4], 6)],
  },
  {
    name: 'Split by sizes (opset 13), Tile, Concat',
    x: [2, 5, 3],
    nodes: [
      { op: 'Split', inputs: ['x', 'sizes'], outputs: ['a', 'b'], attrs: { axis: 1 } },
      { op: 'Tile', inputs: ['a', 'reps'], outputs: ['at'] },
      { op: 'Concat', inputs: ['b', 'at'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    initializers: [ints('sizes', [2, 3]), ints('reps', [1, 2, 1])],
  },
  {
    name: 'Split into num_outputs uneven parts (opset 18)',
    x: [2, 7],
    nodes: [
      { op: 'Split', inputs: ['x'], outputs: ['a', 'b', 'c'], attrs: { axis: 1, num_outputs: 3 } },
      { op: 'Concat', inputs: ['c', 'a', 'b'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    opset: 18,
  },
  withConv(
    'Resize linear half_pixel by sizes (tfjs kernel) of a Conv output',
    [1, 2, 4, 5],
    3,
    [{ op: 'Resize', inputs: ['c', '', '', 'sizes'], outputs: ['y'], attrs: { mode: 'linear' } }],
    [ints('sizes', [1, 3, 8, 9])],
  ),
  withConv(
    'Resize linear by scale 0.6 (interpolation matrices)',
    [1, 2, 5, 6],
    2,
    [{ op: 'Resize', inputs: ['c', '', 'scales'], outputs: ['y'], attrs: { mode: 'linear' } }],
    [{ name: 'scales', dims: [4], data: [1, 1, 0.6, 0.6] }],
  ),
  withConv(
    'Resize nearest asymmetric floor ×2 (as PyTorch exports)',
    [1, 2, 3, 4],
    2,
    [
      {
        op: 'Resize',
        inputs: ['c', '', 'scales'],
        outputs: ['y'],
        attrs: { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
      },
    ],
    [{ name: 'scales', dims: [4], data: [1, 1, 2, 2] }],
  ),
  withConv(
    'Resize cubic align_corners, pytorch_half_pixel linear',
    [1, 1, 4, 5],
    2,
    [
      {
        op: 'Resize',
        inputs: ['c', '', '', 'sizes'],
        outputs: ['r1'],
        attrs: { mode: 'cubic', coordinate_transformation_mode: 'align_corners' },
      },
      {
        op: 'Resize',
        inputs: ['c', '', '', 'sizes'],
        outputs: ['r2'],
        attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' },
      },
      { op: 'Add', inputs: ['r1', 'r2'], outputs: ['y'] },
    ],
    [ints('sizes', [1, 2, 7, 3])],
  ),
  {
    name: 'ConvTranspose stride 2, pads, output_padding, bias',
    x: [1, 3, 4, 5],
    nodes: [
      {
        op: 'ConvTranspose',
        inputs: ['x', 'w', 'b'],
        outputs: ['y'],
        attrs: { strides: [2, 2], pads: [1, 0, 1, 1], output_padding: [1, 0], kernel_shape: [3, 3] },
      },
    ],
    initializers: [floats('w', [3, 4, 3, 3], 7), floats('b', [4], 8)],
  },
  {
    name: 'ConvTranspose depthwise (group = channels), dilation 2, and grouped',
    x: [1, 4, 4, 4],
    nodes: [
      { op: 'ConvTranspose', inputs: ['x', 'wd'], outputs: ['d'], attrs: { group: 4, dilations: [2, 2], strides: [1, 1] } },
      { op: 'ConvTranspose', inputs: ['x', 'wg'], outputs: ['g'], attrs: { group: 2, strides: [2, 1], auto_pad: 'SAME_UPPER' } },
      { op: 'ReduceMean', inputs: ['d'], outputs: ['dm'], attrs: { axes: [2, 3], keepdims: 0 } },
      { op: 'ReduceMean', inputs: ['g'], outputs: ['gm'], attrs: { axes: [2, 3], keepdims: 0 } },
      { op: 'Concat', inputs: ['dm', 'gm'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    initializers: [floats('wd', [4, 1, 3, 3], 9), floats('wg', [4, 3, 2, 2], 10)],
  },
  withConv(
    'PRelu per channel of a Conv output, and along another axis',
    [1, 2, 4, 5],
    3,
    [
      { op: 'PRelu', inputs: ['c', 'slope'], outputs: ['p1'] },
      { op: 'PRelu', inputs: ['c', 'rows'], outputs: ['p2'] },
      { op: 'Add', inputs: ['p1', 'p2'], outputs: ['y'] },
    ],
    [floats('slope', [3, 1, 1], 11), floats('rows', [4, 1], 12)],
  ),
  withConv('LRN (onnxruntime runs odd sizes only)', [1, 2, 3, 4], 5, [
    { op: 'LRN', inputs: ['c'], outputs: ['y'], attrs: { size: 3, alpha: { float: 0.01 }, beta: { float: 0.75 }, bias: { float: 1.5 } } },
  ]),
  withConv(
    'InstanceNormalization and reductions of a Conv output',
    [1, 2, 4, 5],
    3,
    [
      { op: 'InstanceNormalization', inputs: ['c', 'g', 'b'], outputs: ['n'] },
      { op: 'ReduceSum', inputs: ['n', 'axes'], outputs: ['s'], attrs: { keepdims: 0 } },
      { op: 'ReduceMax', inputs: ['c'], outputs: ['m'], attrs: { axes: [1], keepdims: 0 } },
      { op: 'ReduceL2', inputs: ['c'], outputs: ['l'], attrs: { axes: [1], keepdims: 0 } },
      { op: 'Add', inputs: ['m', 'l'], outputs: ['ml'] },
      { op: 'Flatten', inputs: ['ml'], outputs: ['f'], attrs: { axis: 1 } },
      { op: 'Concat', inputs: ['s', 'f'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    [floats('g', [3], 13), floats('b', [3], 14), ints('axes', [2, 3])],
  ),
  {
    name: "Einsum 'bhid,bhjd->bhij', 'bij,bkj->bik', 'bchw,kc->bkhw'",
    x: [2, 3, 4, 5],
    nodes: [
      { op: 'Einsum', inputs: ['x', 'x'], outputs: ['a'], attrs: { equation: 'bhid,bhjd->bhij' } },
      { op: 'Reshape', inputs: ['a', 'flat'], outputs: ['a3'] },
      { op: 'Einsum', inputs: ['a3', 'a3'], outputs: ['b'], attrs: { equation: 'bij,bkj->bik' } },
      { op: 'Einsum', inputs: ['x', 'k'], outputs: ['c'], attrs: { equation: 'bchw,kc->bkhw' } },
      { op: 'Flatten', inputs: ['b'], outputs: ['bf'], attrs: { axis: 1 } },
      { op: 'Flatten', inputs: ['c'], outputs: ['cf'], attrs: { axis: 1 } },
      { op: 'Concat', inputs: ['bf', 'cf'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    initializers: [ints('flat', [2, 12, 4]), floats('k', [2, 3], 15)],
    opset: 12,
  },
  {
    name: 'ScatterND of rows computed from the input',
    x: [4, 3],
    nodes: [
      { op: 'Slice', inputs: ['x', 'start', 'end'], outputs: ['rows'] },
      { op: 'Mul', inputs: ['rows', 'two'], outputs: ['updates'] },
      { op: 'ScatterND', inputs: ['x', 'indices', 'updates'], outputs: ['y'] },
    ],
    initializers: [ints('start', [0]), ints('end', [2]), scalar('two', 2), ints('indices', [3, 1], [2, 1])],
  },
  {
    name: 'Gather of one index (the class token), Slice with steps 2 and −2',
    x: [2, 7, 5],
    nodes: [
      { op: 'Gather', inputs: ['x', 'zero'], outputs: ['g'], attrs: { axis: 1 } },
      { op: 'Slice', inputs: ['x', 'starts', 'ends', 'axes', 'steps'], outputs: ['s'] },
      { op: 'Flatten', inputs: ['s'], outputs: ['sf'], attrs: { axis: 1 } },
      { op: 'Concat', inputs: ['g', 'sf'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    initializers: [ints('zero', [0], []), ints('starts', [1, -1]), ints('ends', [7, -10]), ints('axes', [1, 2]), ints('steps', [2, -2])],
  },
  {
    name: 'Transpose of rank 5 and 6 (as rank-4 moves)',
    x: [2, 3, 4, 5, 6],
    nodes: [
      { op: 'Transpose', inputs: ['x'], outputs: ['t5'], attrs: { perm: [2, 0, 3, 1, 4] } },
      { op: 'Reshape', inputs: ['x', 'six'], outputs: ['x6'] },
      { op: 'Transpose', inputs: ['x6'], outputs: ['t6'], attrs: { perm: [0, 1, 3, 2, 4, 5] } },
      { op: 'Transpose', inputs: ['t6'], outputs: ['t6b'], attrs: { perm: [5, 3, 1, 4, 0, 2] } },
      { op: 'Reshape', inputs: ['t5', 'flat'], outputs: ['a'] },
      { op: 'Reshape', inputs: ['t6b', 'flat'], outputs: ['b'] },
      { op: 'Concat', inputs: ['a', 'b'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    initializers: [ints('six', [2, 3, 2, 2, 5, 6]), ints('flat', [1, -1])],
  },
  {
    name: 'Mod with fmod 1 (C fmod)',
    x: [3, 4],
    nodes: [
      { op: 'Mul', inputs: ['x', 'scale'], outputs: ['xs'] },
      { op: 'Mod', inputs: ['xs', 'divisor'], outputs: ['y'], attrs: { fmod: 1 } },
    ],
    initializers: [scalar('scale', 3.7), scalar('divisor', 0.9)],
  },
];

/** onnxruntime-node's output for one float input. */
async function onnxruntime(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const ort = onnxruntimeNode();
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', x, dims) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** The case's graph with its output "y" flattened, so the declared output is [n] whatever the op's rank. */
function modelOf(c: OpCase): Uint8Array {
  const nodes = c.nodes.map((n) => ({
    ...n,
    outputs: n.outputs.map((o) => (o === 'y' ? 'y_' : o)),
    inputs: n.inputs.map((i) => (i === 'y' ? 'y_' : i)),
  }));
  return encodeModel({
    nodes: [...nodes, { op: 'Reshape', inputs: ['y_', 'flat_'], outputs: ['y'] }],
    initializers: [...(c.initializers ?? []), ints('flat_', [-1])],
    inputs: [{ name: 'x', dims: c.x }],
    outputs: [{ name: 'y', dims: ['n'] }],
    opset: c.opset ?? 13,
  });
}

describe('ONNX ops of modern architectures: values and input gradients on cpu and wasm', function () {
  this.timeout(120_000);

  after(async () => {
    await selectBackend({ choice: 'cpu', log: () => undefined });
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const bytes = modelOf(c);
      const size = c.x.reduce((a, b) => a * b, 1);
      const x = Float32Array.from(pseudoRandom(size, c.name.length), (v) => (c.positive ? 0.2 + Math.abs(v) : v));
      const direction = Float32Array.from(pseudoRandom(size, 99));
      const expected = await onnxruntime(bytes, x, c.x);
      const weights = Float32Array.from(pseudoRandom(expected.length, 7));
      // Central difference of Σ w·y along the direction, by onnxruntime.
      const eps = 1e-2;
      const along = async (t: number) => {
        const y = await onnxruntime(
          bytes,
          x.map((v, i) => v + t * direction[i]),
          c.x,
        );
        return y.reduce((s, v, i) => s + v * weights[i], 0);
      };
      const slope = ((await along(eps)) - (await along(-eps))) / (2 * eps);
      const range = Math.max(...expected) - Math.min(...expected) || 1;
      const model = decodeOnnx(bytes, c.name);
      for (const backend of ['cpu', 'wasm'] as const) {
        await selectBackend({ choice: backend, log: () => undefined });
        const before = tf.memory().numTensors;
        const executor = new OnnxExecutor(model, c.name);
        try {
          const input = tf.tensor(x, c.x);
          const w = tf.tensor1d(weights);
          const output = (v: tf.Tensor) => {
            const values = new Map([['x', plainValue(v)]]);
            executor.run(executor.plan(['y']), values);
            return plain(values.get('y')!);
          };
          const out = tf.tidy(() => output(input));
          const got = out.dataSync();
          out.dispose();
          let worst = 0;
          for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
          assert.equal(got.length, expected.length, `${backend}: output size`);
          assert.ok(worst <= 1e-4 * range + 1e-6, `${backend}: max |Δ| ${worst} vs onnxruntime (range ${range})`);
          const gradient = tf.tidy(() => tf.grad((v: tf.Tensor) => output(v).mul(w).sum())(input));
          const g = Array.from(gradient.dataSync());
          const directional = g.reduce((s, v, i) => s + v * direction[i], 0);
          const scale = Math.max(Math.abs(slope), g.reduce((s, v) => s + Math.abs(v), 0) / g.length, 1e-3);
          assert.ok(Math.abs(directional - slope) <= 2e-2 * scale, `${backend}: ∇·v ${directional} vs finite difference ${slope}`);
          tf.dispose([input, w, gradient]);
        } finally {
          executor.dispose();
        }
        assert.equal(tf.memory().numTensors, before, `${backend}: no tensor left behind`);
      }
    });
  }

  it('LRN with an even size (which onnxruntime refuses) against the ONNX formula in plain JS', async () => {
    const [n, c, h, w] = [1, 5, 2, 3];
    const size = 4;
    const [alpha, beta, bias] = [0.02, 0.75, 1];
    const x = pseudoRandom(n * c * h * w, 5);
    const bytes = encodeModel({
      nodes: [{ op: 'LRN', inputs: ['x'], outputs: ['y'], attrs: { size, alpha: { float: alpha } } }],
      inputs: [{ name: 'x', dims: [n, c, h, w] }],
      outputs: [{ name: 'y', dims: [n, c, h, w] }],
    });
    const at = (k: number, i: number) => x[k * h * w + i];
    const expected = x.map((v, index) => {
      const k = Math.floor(index / (h * w));
      const i = index % (h * w);
      let sum = 0;
      for (let j = Math.max(0, k - Math.floor((size - 1) / 2)); j <= Math.min(c - 1, k + Math.ceil((size - 1) / 2)); j++)
        sum += at(j, i) ** 2;
      return v / (bias + (alpha / size) * sum) ** beta;
    });
    for (const backend of ['cpu', 'wasm'] as const) {
      await selectBackend({ choice: backend, log: () => undefined });
      const executor = new OnnxExecutor(decodeOnnx(bytes, 'lrn'), 'lrn');
      try {
        const input = tf.tensor(x, [n, c, h, w]);
        const [y] = executor.runPlain({ x: input }, ['y']);
        const got = y.dataSync();
        tf.dispose([input, y]);
        expected.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-5, `${backend}: ${got[i]} vs ${e}`));
      } finally {
        executor.dispose();
      }
    }
  });
});
