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

/** Deterministic, sign-mixed values: failures must reproduce and channels must differ. */
const wave = (n: number, phase: number, scale = 0.5) => Array.from({ length: n }, (_, i) => scale * Math.sin(1.7 * i + phase));

/**
 * Writes model.json, one weights shard and a cnnlens.json (zero-one, labels left/right) into `dir`;
 * returns the model.json path. Nodes: input, conv/Conv2D, conv/BiasAdd, conv/Relu, [slice], pool, logits.
 */
export async function writeTinyGraphModel(dir: string, options: { withStridedSlice?: boolean } = {}): Promise<string> {
  const withSlice = options.withStridedSlice ?? true;
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
  // Const nodes carry only dtype and shape; their values come from the weights manifest by name.
  const consts = weights.map((w) => ({
    name: w.name,
    op: 'Const',
    attr: { dtype: w.dtype === 'int32' ? INT32 : FLOAT, value: { tensor: { dtype: w.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: dims(w.shape) } } },
  }));
  const node = (name: string, op: string, input: string[], attr: Attrs = {}) => ({ name, op, input, attr: { T: FLOAT, ...attr } });
  const nodes = [
    { name: 'input', op: 'Placeholder', attr: { dtype: FLOAT, shape: { shape: dims([-1, 8, 8, 3]) } } },
    ...consts,
    node('conv/Conv2D', 'Conv2D', ['input', 'conv/kernel'], {
      strides: ints([1, 1, 1, 1]),
      dilations: ints([1, 1, 1, 1]),
      padding: bytes('SAME'),
      data_format: bytes('NHWC'),
    }),
    node('conv/BiasAdd', 'BiasAdd', ['conv/Conv2D', 'conv/bias'], { data_format: bytes('NHWC') }),
    node('conv/Relu', 'Relu', ['conv/BiasAdd']),
    // Masks are bit sets over axes: bits 0–2 take batch, height and width whole; channels 0..1 are kept.
    ...(withSlice
      ? [node('slice', 'StridedSlice', ['conv/Relu', 'slice/begin', 'slice/end', 'slice/strides'], {
          Index: INT32,
          begin_mask: { i: '7' },
          end_mask: { i: '7' },
          ellipsis_mask: { i: '0' },
          new_axis_mask: { i: '0' },
          shrink_axis_mask: { i: '0' },
        })]
      : []),
    node('pool', 'Mean', [withSlice ? 'slice' : 'conv/Relu', 'pool/axes'], { keep_dims: { b: false }, Tidx: INT32 }),
    // The MatMul is the graph's only leaf, so tfjs takes it as the output without a signature (as in the TF-Hub fixture).
    node('logits', 'MatMul', ['pool', 'dense/kernel'], { transpose_a: { b: false }, transpose_b: { b: false } }),
  ];

  await fs.mkdir(dir, { recursive: true });
  const shard = 'group1-shard1of1.bin';
  const data = weights.map((w) => Buffer.from((w.dtype === 'int32' ? Int32Array.from(w.values) : Float32Array.from(w.values)).buffer));
  await fs.writeFile(path.join(dir, shard), Buffer.concat(data));
  const json = {
    format: 'graph-model',
    generatedBy: 'test/unit/helpers/tinyGraphModel.ts',
    modelTopology: { node: nodes, library: {}, versions: {} },
    weightsManifest: [{ paths: [shard], weights: weights.map(({ name, dtype, shape }) => ({ name, dtype, shape })) }],
  };
  const modelJson = path.join(dir, 'model.json');
  await fs.writeFile(modelJson, JSON.stringify(json));
  await fs.writeFile(path.join(dir, 'cnnlens.json'), JSON.stringify({ preprocess: 'zero-one', labels: ['left', 'right'] }));
  return modelJson;
}
