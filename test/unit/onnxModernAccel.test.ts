/**
 * onnxruntime's gradients through today's architectures (accel/backward/): LayerNormalization (the opset 17
 * node and the opset 13 ReduceMean/Pow/Sqrt/Div spelling), exact GELU's Erf, Softmax on any axis, MatMul of
 * two computed tensors, broadcasting arithmetic, Gather, Concat, Split, Expand, Tile and Where. Tiny graphs
 * against central finite differences and the TF.js executor; ViT, DeiT, Swin, ConvNeXt and a same-pad CNN
 * exported by torch.onnx get saliency and Grad-CAM's evidence (the default layer's activations and
 * gradient) from onnxruntime, equal to the TF.js executor's, with nothing falling back to TF.js.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { loadModel, type LoadedModel } from '../../src/engine/models/loadModel';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { tf } from '../../src/engine/tfjs/tf';
import {
  acceleration,
  collectLog,
  finiteDifferences,
  onTfjs,
  rangeGap,
  relativeGap,
  runtimeLogPerTest,
  tfjsGradient,
  tfjsLayerGradient,
} from './helpers/acceleration';
import { encodeModel, pseudoRandom, type GraphSpec, type Initializer, type NodeSpec } from './helpers/onnxBuilder';
import { onnxTestModels } from './helpers/onnxModels';
import { tempDir } from './helpers/tinyModels';

const SIZE = 4;
const CHANNELS = 3;
const TOKENS = SIZE * SIZE;

const ints = (name: string, data: number[], dims = [data.length]): Initializer => ({ name, dims, data, dataType: 7 });
const floats = (name: string, dims: number[], seed: number, scale = 1): Initializer => ({
  name,
  dims,
  data: pseudoRandom(
    dims.reduce((a, b) => a * b, 1),
    seed,
  ).map((v) => v * scale),
});
const scalar = (name: string, value: number): Initializer => ({ name, dims: [], data: [value] });
const node = (op: string, inputs: string[], output: string, attrs?: NodeSpec['attrs']): NodeSpec => ({
  op,
  inputs,
  outputs: [output],
  attrs,
});

/** image [n, 3, 4, 4] → tokens [n, 16, 3] (channels last, one token per pixel), as a ViT's patch embedding lays them. */
const TOKENIZE: NodeSpec[] = [node('Reshape', ['image', 'to_rows'], 'rows'), node('Transpose', ['rows'], 't', { perm: [0, 2, 1] })];
const TOKENIZE_CONSTANTS = [ints('to_rows', [0, CHANNELS, TOKENS])];

function tokenModel(nodes: NodeSpec[], initializers: Initializer[], classes: number, opset: number): GraphSpec {
  return {
    nodes: [...TOKENIZE, ...nodes],
    initializers: [...TOKENIZE_CONSTANTS, ...initializers],
    inputs: [{ name: 'image', dims: ['N', CHANNELS, SIZE, SIZE] }],
    outputs: [{ name: 'scores', dims: ['N', classes] }],
    opset,
  };
}

/** x·Φ(x) written as torch exports it: x · (erf(x / √2) + 1) · 0.5. */
function gelu(x: string, y: string): NodeSpec[] {
  return [
    node('Div', [x, 'sqrt2'], `${y}_scaled`),
    node('Erf', [`${y}_scaled`], `${y}_erf`),
    node('Add', [`${y}_erf`, 'one'], `${y}_phi2`),
    node('Mul', [x, `${y}_phi2`], `${y}_twice`),
    node('Mul', [`${y}_twice`, 'half'], y),
  ];
}
const GELU_CONSTANTS = [scalar('sqrt2', Math.SQRT2), scalar('one', 1), scalar('half', 0.5)];

interface TinyCase {
  name: string;
  spec: GraphSpec;
}

const CASES: TinyCase[] = [
  {
    name: 'LayerNormalization (opset 17) over the last axis, exact GELU, ReduceMean over the tokens',
    spec: tokenModel(
      [
        node('MatMul', ['t', 'w'], 'h'),
        node('LayerNormalization', ['h', 'gamma', 'beta'], 'ln', { axis: -1, epsilon: { float: 1e-5 } }),
        ...gelu('ln', 'g'),
        node('ReduceMean', ['g'], 'scores', { axes: [1], keepdims: 0 }),
      ],
      [floats('w', [CHANNELS, 8], 1), floats('gamma', [8], 2), floats('beta', [8], 3), ...GELU_CONSTANTS],
      8,
      17,
    ),
  },
  {
    name: 'LayerNormalization spelled out (opset 13: ReduceMean, Sub, Pow, Sqrt, Div by a computed tensor), Pow by 3 and by an integer, Neg, ReduceSum',
    spec: tokenModel(
      [
        node('MatMul', ['t', 'w'], 'h'),
        node('ReduceMean', ['h'], 'mean', { axes: [-1] }),
        node('Sub', ['h', 'mean'], 'deviation'),
        node('Pow', ['deviation', 'two'], 'squared'),
        node('ReduceMean', ['squared'], 'variance', { axes: [-1] }),
        node('Add', ['variance', 'epsilon'], 'shifted'),
        node('Sqrt', ['shifted'], 'std'),
        node('Div', ['deviation', 'std'], 'normalised'),
        node('Mul', ['normalised', 'gamma'], 'scaled'),
        node('Add', ['scaled', 'beta'], 'ln'),
        node('Pow', ['ln', 'three'], 'cubed'),
        node('Pow', ['ln', 'int_two'], 'int_squared'),
        node('Mul', ['cubed', 'tenth'], 'small'),
        node('Sub', ['small', 'int_squared'], 'mixed'),
        node('Neg', ['mixed'], 'negated'),
        node('ReduceSum', ['negated', 'token_axis'], 'scores', { keepdims: 0 }),
      ],
      [
        floats('w', [CHANNELS, 8], 4),
        scalar('two', 2),
        scalar('three', 3),
        ints('int_two', [2], []),
        scalar('tenth', 0.1),
        scalar('epsilon', 1e-5),
        floats('gamma', [8], 5),
        floats('beta', [8], 6),
        ints('token_axis', [1]),
      ],
      8,
      13,
    ),
  },
  {
    name: 'attention: MatMul [b, h, n, d] × [b, h, d, n] and back, Softmax over the last axis, position embeddings and LayerScale broadcast',
    spec: tokenModel(
      [
        node('MatMul', ['t', 'wq'], 'q_flat'),
        node('Add', ['q_flat', 'positions'], 'q_placed'),
        node('Reshape', ['q_placed', 'to_heads'], 'q_heads'),
        node('Transpose', ['q_heads'], 'q', { perm: [0, 2, 1, 3] }),
        node('MatMul', ['t', 'wk'], 'k_flat'),
        node('Reshape', ['k_flat', 'to_heads'], 'k_heads'),
        node('Transpose', ['k_heads'], 'k_t', { perm: [0, 2, 3, 1] }),
        node('MatMul', ['q', 'k_t'], 'logits'),
        node('Softmax', ['logits'], 'attention', { axis: -1 }),
        node('MatMul', ['attention', 'q'], 'mixed'),
        node('Transpose', ['mixed'], 'mixed_tokens', { perm: [0, 2, 1, 3] }),
        node('Reshape', ['mixed_tokens', 'to_tokens'], 'out'),
        node('Mul', ['layer_scale', 'out'], 'scaled'),
        node('Add', ['scaled', 'q_placed'], 'residual'),
        node('ReduceMean', ['residual'], 'scores', { axes: [1], keepdims: 0 }),
      ],
      [
        floats('wq', [CHANNELS, 8], 7),
        floats('wk', [CHANNELS, 8], 8),
        floats('positions', [1, TOKENS, 8], 9),
        floats('layer_scale', [8], 10),
        ints('to_heads', [0, TOKENS, 2, 4]),
        ints('to_tokens', [0, TOKENS, 8]),
      ],
      8,
      17,
    ),
  },
  {
    name: 'heads folded into the first axis ([b·h, n, d] MatMuls), Softmax over the first non-batch axis',
    spec: tokenModel(
      [
        node('MatMul', ['t', 'wq'], 'q_flat'),
        node('Reshape', ['q_flat', 'to_heads'], 'q_heads'),
        node('Transpose', ['q_heads'], 'q4', { perm: [0, 2, 1, 3] }),
        node('Reshape', ['q4', 'fold'], 'q'),
        node('MatMul', ['t', 'wk'], 'k_flat'),
        node('Reshape', ['k_flat', 'to_heads'], 'k_heads'),
        node('Transpose', ['k_heads'], 'k4', { perm: [0, 2, 3, 1] }),
        node('Reshape', ['k4', 'fold_t'], 'k_t'),
        node('MatMul', ['q', 'k_t'], 'logits'),
        node('Softmax', ['logits'], 'attention', { axis: 1 }),
        node('MatMul', ['attention', 'q'], 'mixed'),
        node('Reshape', ['mixed', 'unfold'], 'mixed4'),
        node('Transpose', ['mixed4'], 'mixed_tokens', { perm: [0, 2, 1, 3] }),
        node('Reshape', ['mixed_tokens', 'to_tokens'], 'out'),
        node('ReduceMean', ['out'], 'scores', { axes: [1], keepdims: 0 }),
      ],
      [
        floats('wq', [CHANNELS, 8], 11),
        floats('wk', [CHANNELS, 8], 12),
        ints('to_heads', [0, TOKENS, 2, 4]),
        ints('fold', [-1, TOKENS, 4]),
        ints('fold_t', [-1, 4, TOKENS]),
        ints('unfold', [-1, 2, TOKENS, 4]),
        ints('to_tokens', [0, TOKENS, 8]),
      ],
      8,
      17,
    ),
  },
  {
    name: 'a class token: Concat on the token axis, Expand, Split, Tile, Where with a constant condition, Gather x[:, 0], Concat on axis −1',
    spec: tokenModel(
      [
        node('ReduceMean', ['t'], 'summary', { axes: [1], keepdims: 1 }),
        node('Concat', ['summary', 't'], 'with_token', { axis: 1 }),
        node('Sigmoid', ['summary'], 'gate'),
        node('Expand', ['gate', 'token_shape'], 'gates'),
        node('Mul', ['with_token', 'gates'], 'gated'),
        { op: 'Split', inputs: ['gated', 'split_sizes'], outputs: ['token', 'patches'], attrs: { axis: 1 } },
        node('Tile', ['patches', 'repeats'], 'tiled'),
        node('Greater', ['condition_values', 'zero'], 'condition'),
        node('Tanh', ['tiled'], 'squashed'),
        node('Where', ['condition', 'tiled', 'squashed'], 'chosen'),
        node('ReduceMean', ['chosen'], 'pooled', { axes: [1], keepdims: 0 }),
        node('Gather', ['token', 'first'], 'class_token', { axis: 1 }),
        node('Concat', ['class_token', 'pooled'], 'scores', { axis: -1 }),
      ],
      [
        ints('token_shape', [1, TOKENS + 1, CHANNELS]),
        ints('split_sizes', [1, TOKENS]),
        ints('repeats', [1, 2, 2]),
        floats('condition_values', [2 * TOKENS, 2 * CHANNELS], 13),
        scalar('zero', 0),
        ints('first', [0], []),
      ],
      CHANNELS * 3,
      13,
    ),
  },
  {
    name: 'the first axis not the batch (MultiheadAttention’s [tokens, batch, channels], Swin’s q, k, v picked off a leading axis): Gather, Split, Concat, ReduceSum and ReduceMean along it',
    spec: tokenModel(
      [
        node('MatMul', ['t', 'w'], 'qkv_flat'),
        node('Reshape', ['qkv_flat', 'to_qkv'], 'qkv_split'),
        node('Transpose', ['qkv_split'], 'qkv', { perm: [2, 0, 1, 3] }),
        node('Gather', ['qkv', 'zero_index'], 'q', { axis: 0 }),
        node('Gather', ['qkv', 'one_index'], 'k', { axis: 0 }),
        node('Gather', ['qkv', 'two_index'], 'v', { axis: 0 }),
        node('Mul', ['q', 'k'], 'qk'),
        node('Add', ['qk', 'v'], 'mixed'),
        node('ReduceMean', ['mixed'], 'mixed_pooled', { axes: [1], keepdims: 0 }),
        node('Transpose', ['t'], 'sequence', { perm: [1, 0, 2] }),
        { op: 'Split', inputs: ['sequence', 'roll_sizes'], outputs: ['head', 'tail'], attrs: { axis: 0 } },
        node('Concat', ['tail', 'head'], 'rolled', { axis: 0 }),
        node('Mul', ['rolled', 'weights'], 'weighted'),
        node('Gather', ['weighted', 'zero_index'], 'first_token', { axis: 0 }),
        node('ReduceSum', ['weighted', 'zero_axis'], 'sequence_sum', { keepdims: 0 }),
        node('ReduceMean', ['rolled'], 'sequence_mean', { axes: [0], keepdims: 0 }),
        node('Add', ['first_token', 'sequence_sum'], 'sequence_total'),
        node('Add', ['sequence_total', 'sequence_mean'], 'sequence_pooled'),
        node('Concat', ['mixed_pooled', 'sequence_pooled'], 'scores', { axis: 1 }),
      ],
      [
        floats('w', [CHANNELS, 6], 14),
        ints('to_qkv', [0, TOKENS, 3, 2]),
        ints('zero_index', [0], []),
        ints('one_index', [1], []),
        ints('two_index', [2], []),
        ints('roll_sizes', [5, TOKENS - 5]),
        floats('weights', [TOKENS, 1, CHANNELS], 15),
        ints('zero_axis', [0]),
      ],
      2 + CHANNELS,
      13,
    ),
  },
  {
    name: 'opset 11: Softmax normalising every axis from its own on, LogSoftmax, ReduceSum with its axes an attribute',
    spec: tokenModel(
      [
        node('Softmax', ['t'], 'spread', { axis: 1 }),
        node('Mul', ['spread', 'count'], 'scaled'),
        node('LogSoftmax', ['scaled'], 'log_probabilities', { axis: 2 }),
        node('ReduceSum', ['log_probabilities'], 'scores', { axes: [1], keepdims: 0 }),
      ],
      [scalar('count', TOKENS * CHANNELS)],
      CHANNELS,
      11,
    ),
  },
];

async function load(spec: GraphSpec): Promise<LoadedModel> {
  const file = path.join(tempDir(), 'model.onnx');
  await fs.writeFile(file, encodeModel(spec));
  return loadModel(file, {}, {}, acceleration);
}

describe('onnxruntime gradients through transformer ops', function () {
  const lines = runtimeLogPerTest();

  for (const { name, spec } of CASES) {
    it(`${name}: the TF.js executor's gradient and central differences, for every class`, async () => {
      const model = await load(spec);
      const before = tf.memory().numTensors;
      const x = tf.randomUniform([2, SIZE, SIZE, CHANNELS], -1.5, 1.5, 'float32', 7) as Tensor4D;
      const image = tf.tidy(() => x.slice([0, 0, 0, 0], [1, -1, -1, -1]).dataSync() as Float32Array);
      const classes = spec.outputs[0].dims[1] as number;
      for (let classIndex = 0; classIndex < classes; classIndex++) {
        const { gap, first } = tf.tidy(() => {
          const fast = model.adapter.accelerated()!.inputGradient(x, classIndex, null);
          assert.ok(fast, 'onnxruntime differentiates it');
          return {
            gap: relativeGap(fast, tfjsGradient(model, x, classIndex)),
            first: fast.slice([0, 0, 0, 0], [1, -1, -1, -1]).dataSync() as Float32Array,
          };
        });
        const numeric = finiteDifferences(model, image, [SIZE, SIZE, CHANNELS], classIndex, 1e-2);
        const scale = Math.max(...numeric.map(Math.abs));
        assert.ok(scale > 0, `class ${classIndex} depends on the image`);
        assert.ok(gap < 1e-5, `class ${classIndex} against TF.js: ${gap}`);
        numeric.forEach((v, i) => assert.ok(Math.abs(first[i] - v) <= 2e-3 * scale, `class ${classIndex}, cell ${i}: ${first[i]} vs ${v}`));
      }
      x.dispose();
      assert.deepEqual(lines, [], 'nothing fell back to TF.js');
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      model.adapter.dispose();
    });
  }

  it('a Gather of scattered indices stays on TF.js and says why', async () => {
    const model = await load(
      tokenModel(
        [node('Gather', ['t', 'picked'], 'tokens', { axis: 1 }), node('ReduceMean', ['tokens'], 'scores', { axes: [1], keepdims: 0 })],
        [ints('picked', [3, 1])],
        CHANNELS,
        13,
      ),
    );
    const x = tf.zeros([1, SIZE, SIZE, CHANNELS]) as Tensor4D;
    assert.equal(model.adapter.accelerated()!.inputGradient(x, 0, null), null);
    assert.deepEqual(lines, [
      'onnxruntime: TF.js computes the gradient for this model (no gradient rule for a Gather of other indices than a constant run).',
    ]);
    x.dispose();
    model.adapter.dispose();
  });
});

describe('onnxruntime gradients of transformers and ConvNeXt exported by torch.onnx', function () {
  // Gaps elementwise (max |Δ| ÷ the reference's range): rounding stays below 2e-6 through these nets.
  const MODELS = [
    'vit_b_16_2l_op17',
    'vit_b_16_2l_op13',
    'deit_tiny_dist_op13',
    'swin_t_2222_op17',
    'convnext_tiny_op13',
    'same_pad_cnn_op17',
  ];
  const lines: string[] = [];
  let paths: Record<string, string> = {};

  before(async function () {
    this.timeout(900_000);
    if (!acceleration.state.runtime) {
      console.log('      skipped: onnxruntime-node is not installed or switched off');
      this.skip();
    }
    const models = onnxTestModels(MODELS);
    if ('skip' in models) {
      console.log(`      skipped: ${models.skip}`);
      this.skip();
    }
    paths = models.paths;
    // The TF.js references of these models take minutes on the cpu backend.
    await selectBackend({ choice: 'wasm', log: () => undefined });
  });
  after(async () => selectBackend({ choice: 'cpu', log: () => undefined }));
  beforeEach(() => {
    lines.length = 0;
    collectLog(lines);
  });

  for (const name of MODELS) {
    it(`${name}: saliency and the default layer's activations and gradient from onnxruntime, as the TF.js executor's`, async function () {
      this.timeout(600_000);
      const loaded = await loadModel(paths[name], {}, {}, acceleration);
      const { adapter, summary } = loaded;
      const layer = summary.defaultLayer!;
      const before = tf.memory().numTensors;
      const [h, w, c] = adapter.inputShape;
      const gaps = tf.tidy(() => {
        const x = tf.randomUniform([2, h, w, c], -1, 1, 'float32', 9) as Tensor4D;
        // A class the images actually score (random nets leave some classes without any gradient).
        const classIndex = tf.argMax(onTfjs(() => adapter.scores(x)).sum(0)).dataSync()[0];
        const saliency = adapter.accelerated()!.inputGradient(x, classIndex, null);
        const evidence = adapter.accelerated()!.layerGradient(x, layer, classIndex);
        assert.ok(saliency && evidence, 'onnxruntime computes both');
        const slow = tfjsLayerGradient(adapter, x, layer, classIndex);
        const saliencySlow = tfjsGradient(loaded, x, classIndex);
        const spread = (t: tf.Tensor) => tf.max(t).sub(tf.min(t)).dataSync()[0];
        assert.ok(
          [saliencySlow, slow.activations, slow.gradients].every((t) => spread(t) > 0),
          'the references are not constant',
        );
        return {
          saliency: rangeGap(saliency, saliencySlow),
          activations: rangeGap(evidence.activations, slow.activations),
          gradient: rangeGap(evidence.gradients, slow.gradients),
        };
      });
      console.log(
        `      ${name} (${layer}), max |Δ| ÷ range: saliency ${gaps.saliency.toExponential(2)}, activations ${gaps.activations.toExponential(2)}, layer gradient ${gaps.gradient.toExponential(2)}`,
      );
      assert.deepEqual(lines, [], 'nothing fell back to TF.js');
      for (const [what, gap] of Object.entries(gaps)) assert.ok(gap <= 1e-4, `${what}: ${gap}`);
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      adapter.dispose();
    });
  }
});
