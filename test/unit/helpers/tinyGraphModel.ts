/**
 * A tiny TF.js graph model written by hand (no converter in the tests): input [-1, 8, 8, 3] →
 * Conv2D 3×3 → BiasAdd → Relu → [StridedSlice to channels 0..1] → Mean over H, W → MatMul → logits [2].
 * The StridedSlice is there because tfjs has no gradient for it, as in real converted graphs.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

type Attrs = Record<string, unknown>;
interface Weight {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  values: number[];
}

// The JSON form of TensorFlow's GraphDef protobuf, as tfjs-converter's operation_mapper reads it:
// int64s are strings, strings are base64 bytes.
const FLOAT = { type: 'DT_FLOAT' };
const INT32 = { type: 'DT_INT32' };
const ints = (values: number[]) => ({ list: { i: values.map(String) } });
const bytes = (text: string) => ({ s: Buffer.from(text).toString('base64') });
const dims = (shape: number[]) => ({ dim: shape.map((size) => ({ size: String(size) })) });

const node = (name: string, op: string, input: string[], attr: Attrs = {}) => ({ name, op, input, attr: { T: FLOAT, ...attr } });
const placeholder = (shape: number[]) => ({
  name: 'input',
  op: 'Placeholder',
  attr: { dtype: FLOAT, shape: { shape: dims([-1, ...shape]) } },
});

/**
 * Writes model.json (the weights as Const nodes, whose values the manifest gives by name), one weights
 * shard and a cnnlens.json (zero-one, these labels) into `dir`; returns the model.json path.
 */
async function writeGraphModel(dir: string, weights: Weight[], nodes: object[], labels: string[]): Promise<string> {
  const consts = weights.map((w) => ({
    name: w.name,
    op: 'Const',
    attr: {
      dtype: w.dtype === 'int32' ? INT32 : FLOAT,
      value: { tensor: { dtype: w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: dims(w.shape) } },
    },
  }));
  await fs.mkdir(dir, { recursive: true });
  const shard = 'group1-shard1of1.bin';
  const data = weights.map((w) => Buffer.from((w.dtype === 'int32' ? Int32Array.from(w.values) : Float32Array.from(w.values)).buffer));
  await fs.writeFile(path.join(dir, shard), Buffer.concat(data));
  const [first, ...rest] = nodes;
  const json = {
    format: 'graph-model',
    generatedBy: 'test/unit/helpers/tinyGraphModel.ts',
    modelTopology: { node: [first, ...consts, ...rest], library: {}, versions: {} },
    weightsManifest: [{ paths: [shard], weights: weights.map(({ name, dtype, shape }) => ({ name, dtype, shape })) }],
  };
  const modelJson = path.join(dir, 'model.json');
  await fs.writeFile(modelJson, JSON.stringify(json));
  await fs.writeFile(path.join(dir, 'cnnlens.json'), JSON.stringify({ preprocess: 'zero-one', labels }));
  return modelJson;
}

/** Deterministic, sign-mixed values: failures must reproduce and channels must differ. */
const wave = (n: number, phase: number, scale = 0.5) => Array.from({ length: n }, (_, i) => scale * Math.sin(1.7 * i + phase));

/**
 * Writes model.json, one weights shard and a cnnlens.json (zero-one, labels left/right) into `dir`;
 * returns the model.json path. Nodes: input, [soft], conv/Conv2D, conv/BiasAdd, conv/Relu, [slice], pool, logits.
 */
export async function writeTinyGraphModel(
  dir: string,
  options: { withStridedSlice?: boolean; softplusInput?: boolean } = {},
): Promise<string> {
  const withSlice = options.withStridedSlice ?? true;
  // A Softplus on the image: exported to ONNX, but without a gradient rule there (the input's gradient stays on TF.js).
  const convInput = options.softplusInput ? 'soft' : 'input';
  const channels = withSlice ? 2 : 4;
  const weights: Weight[] = [
    { name: 'conv/kernel', dtype: 'float32', shape: [3, 3, 3, 4], values: wave(108, 0.3) },
    { name: 'conv/bias', dtype: 'float32', shape: [4], values: [0.05, -0.05, 0.1, 0] },
    { name: 'pool/axes', dtype: 'int32', shape: [2], values: [1, 2] },
    { name: 'dense/kernel', dtype: 'float32', shape: [channels, 2], values: wave(channels * 2, 1.1, 1) },
  ];
  if (withSlice) {
    weights.push(
      { name: 'slice/begin', dtype: 'int32', shape: [4], values: [0, 0, 0, 0] },
      { name: 'slice/end', dtype: 'int32', shape: [4], values: [0, 0, 0, 2] },
      { name: 'slice/strides', dtype: 'int32', shape: [4], values: [1, 1, 1, 1] },
    );
  }
  const nodes = [
    placeholder([8, 8, 3]),
    ...(options.softplusInput ? [node('soft', 'Softplus', ['input'])] : []),
    node('conv/Conv2D', 'Conv2D', [convInput, 'conv/kernel'], {
      strides: ints([1, 1, 1, 1]),
      dilations: ints([1, 1, 1, 1]),
      padding: bytes('SAME'),
      data_format: bytes('NHWC'),
    }),
    node('conv/BiasAdd', 'BiasAdd', ['conv/Conv2D', 'conv/bias'], { data_format: bytes('NHWC') }),
    node('conv/Relu', 'Relu', ['conv/BiasAdd']),
    // Masks are bit sets over axes: bits 0–2 take batch, height and width whole; channels 0..1 are kept.
    ...(withSlice
      ? [
          node('slice', 'StridedSlice', ['conv/Relu', 'slice/begin', 'slice/end', 'slice/strides'], {
            Index: INT32,
            begin_mask: { i: '7' },
            end_mask: { i: '7' },
            ellipsis_mask: { i: '0' },
            new_axis_mask: { i: '0' },
            shrink_axis_mask: { i: '0' },
          }),
        ]
      : []),
    node('pool', 'Mean', [withSlice ? 'slice' : 'conv/Relu', 'pool/axes'], { keep_dims: { b: false }, Tidx: INT32 }),
    // The MatMul is the graph's only leaf, so tfjs takes it as the output without a signature (as in the TF-Hub fixture).
    node('logits', 'MatMul', ['pool', 'dense/kernel'], { transpose_a: { b: false }, transpose_b: { b: false } }),
  ];

  return writeGraphModel(dir, weights, nodes, ['left', 'right']);
}

const conv = (strides: number[], padding: string, extra: Attrs = {}) => ({
  strides: ints(strides),
  dilations: ints([1, 1, 1, 1]),
  padding: bytes(padding),
  data_format: bytes('NHWC'),
  ...extra,
});
const fused = (ops: string[]) => ({
  fused_ops: { list: { s: ops.map((op) => Buffer.from(op).toString('base64')) } },
  num_args: { i: '1' },
  epsilon: { f: 0.001 },
});

/**
 * A graph with the ops converted Keras and TF-Hub models use, for the ONNX export: input [-1, 11, 11, 3] →
 * Sub/Mul scaling by scalars → _FusedConv2D (BiasAdd, Relu6; stride 2, SAME) → Pad → FusedDepthwiseConv2dNative
 * (BiasAdd, Relu; multiplier 2, VALID) → FusedBatchNormV3 → MaxPool (SAME) → ConcatV2 of one with a LeakyRelu'd copy of itself → _FusedConv2D (BiasAdd, Relu) → AvgPool → Mean (keep
 * dims) → Squeeze → MatMul (transposed kernel) → BiasAdd → Softmax. The Softmax's input gives the logits.
 */
export async function writeOpsGraphModel(dir: string): Promise<string> {
  const weights: Weight[] = [
    { name: 'scale/centre', dtype: 'float32', shape: [], values: [0.5] },
    { name: 'scale/factor', dtype: 'float32', shape: [], values: [2] },
    { name: 'stem/kernel', dtype: 'float32', shape: [3, 3, 3, 6], values: wave(162, 0.2) },
    { name: 'stem/bias', dtype: 'float32', shape: [6], values: wave(6, 0.9, 0.1) },
    { name: 'pad/paddings', dtype: 'int32', shape: [4, 2], values: [0, 0, 1, 0, 0, 2, 0, 0] },
    { name: 'dw/kernel', dtype: 'float32', shape: [3, 3, 6, 2], values: wave(108, 1.3) },
    { name: 'dw/bias', dtype: 'float32', shape: [12], values: wave(12, 0.4, 0.1) },
    { name: 'bn/scale', dtype: 'float32', shape: [12], values: wave(12, 0.1, 0.3).map((v) => 1 + v) },
    { name: 'bn/offset', dtype: 'float32', shape: [12], values: wave(12, 2.1, 0.2) },
    { name: 'bn/mean', dtype: 'float32', shape: [12], values: wave(12, 0.7, 0.1) },
    { name: 'bn/variance', dtype: 'float32', shape: [12], values: wave(12, 1.9, 0.3).map((v) => 1 + v) },
    { name: 'concat/axis', dtype: 'int32', shape: [], values: [3] },
    { name: 'mix/kernel', dtype: 'float32', shape: [1, 1, 24, 8], values: wave(192, 0.5) },
    { name: 'mix/bias', dtype: 'float32', shape: [8], values: wave(8, 1.2, 0.2) },
    { name: 'gap/axes', dtype: 'int32', shape: [2], values: [1, 2] },
    { name: 'dense/kernel', dtype: 'float32', shape: [5, 8], values: wave(40, 0.8, 1) },
    { name: 'dense/bias', dtype: 'float32', shape: [5], values: wave(5, 0.1, 0.2) },
  ];
  const nodes = [
    placeholder([11, 11, 3]),
    node('scale/sub', 'Sub', ['input', 'scale/centre']),
    node('scale/mul', 'Mul', ['scale/sub', 'scale/factor']),
    node('stem', '_FusedConv2D', ['scale/mul', 'stem/kernel', 'stem/bias'], {
      ...conv([1, 2, 2, 1], 'SAME'),
      ...fused(['BiasAdd', 'Relu6']),
    }),
    node('pad', 'Pad', ['stem', 'pad/paddings'], { Tpaddings: INT32 }),
    node('dw', 'FusedDepthwiseConv2dNative', ['pad', 'dw/kernel', 'dw/bias'], {
      ...conv([1, 1, 1, 1], 'VALID'),
      ...fused(['BiasAdd', 'Relu']),
    }),
    node('bn', 'FusedBatchNormV3', ['dw', 'bn/scale', 'bn/offset', 'bn/mean', 'bn/variance'], {
      U: FLOAT,
      epsilon: { f: 0.001 },
      data_format: bytes('NHWC'),
      is_training: { b: false },
    }),
    node('maxpool', 'MaxPool', ['bn'], {
      ksize: ints([1, 2, 2, 1]),
      strides: ints([1, 2, 2, 1]),
      padding: bytes('SAME'),
      data_format: bytes('NHWC'),
    }),
    node('leaky', 'LeakyRelu', ['maxpool'], { alpha: { f: 0.1 } }),
    node('concat', 'ConcatV2', ['maxpool', 'leaky', 'concat/axis'], { N: { i: '2' }, Tidx: INT32 }),
    node('mix', '_FusedConv2D', ['concat', 'mix/kernel', 'mix/bias'], { ...conv([1, 1, 1, 1], 'VALID'), ...fused(['BiasAdd', 'Relu']) }),
    node('avgpool', 'AvgPool', ['mix'], {
      ksize: ints([1, 2, 2, 1]),
      strides: ints([1, 1, 1, 1]),
      padding: bytes('VALID'),
      data_format: bytes('NHWC'),
    }),
    node('gap', 'Mean', ['avgpool', 'gap/axes'], { keep_dims: { b: true }, Tidx: INT32 }),
    node('squeeze', 'Squeeze', ['gap'], { squeeze_dims: ints([1, 2]) }),
    node('dense', 'MatMul', ['squeeze', 'dense/kernel'], { transpose_a: { b: false }, transpose_b: { b: true } }),
    node('logits', 'BiasAdd', ['dense', 'dense/bias'], { data_format: bytes('NHWC') }),
    node('probabilities', 'Softmax', ['logits']),
  ];
  return writeGraphModel(dir, weights, nodes, ['a', 'b', 'c', 'd', 'e']);
}
