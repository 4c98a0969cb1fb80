/**
 * Today's architectures exported by torch.onnx (scripts/modern_models.py: a reduced ViT-B/16, a distilled
 * DeiT-tiny, a reduced Swin-T, ConvNeXt-T) explained by CNN Lens's TF.js executor, against the textbook
 * PyTorch computation on the same weights and input (scripts/torch_reference.py): Grad-CAM on the same
 * module's output (ViT tokens and Swin's channels-last maps laid on their grid), saliency by autograd,
 * attention rollout and the attention-gradient rule; the layer list's token grids and default layers.
 */
import { strict as assert } from 'node:assert';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Acceleration } from '../../src/engine/accel/ortRuntime';
import { loadModel, type LoadedModel } from '../../src/engine/models/loadModel';
import { pearson } from '../../src/engine/metrics/rankCorrelation';
import { quantile } from '../../src/engine/quantile';
import type { TechniqueInput } from '../../src/engine/techniques/base';
import { findTechnique } from '../../src/engine/techniques/registry';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { tf } from '../../src/engine/tfjs/tf';
import { acceleration } from './helpers/acceleration';
import { onnxTestModels, randomInput } from './helpers/onnxModels';
import { torchReference, torchReferenceMissing, type TorchMap, type TorchReference } from './helpers/torchReference';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const TFJS_ONLY = new Acceleration('off');

interface Case {
  name: string;
  /** The ONNX node of the torch module Grad-CAM targets, and that module. */
  layer: string;
  module: string;
  /** The layer list's default target (the family's usual one). */
  defaultLayer: string;
  /** [rows, columns, channels] the target layer is listed with, and its layout note. */
  grid: [number, number, number];
  layout: RegExp | null;
  attention: { blocks: number; heads: number; special: number } | null;
}

const vitLayer = (block: number, opset: number) =>
  `/encoder/layers/encoder_layer_${block}/ln_1/${opset === 17 ? 'LayerNormalization' : 'Add_1'}`;

const CASES: Case[] = [
  ...[13, 17].map((opset) => ({
    name: `vit_b_16_2l_op${opset}`,
    layer: vitLayer(1, opset),
    module: 'encoder.layers.encoder_layer_1.ln_1',
    defaultLayer: vitLayer(1, opset),
    grid: [14, 14, 768] as [number, number, number],
    layout: /197 tokens: 1 special \+ 14×14 patches/,
    attention: { blocks: 2, heads: 12, special: 1 },
  })),
  ...[13, 17].map((opset) => ({
    name: `deit_tiny_dist_op${opset}`,
    layer: vitLayer(3, opset),
    module: 'encoder.layers.encoder_layer_3.ln_1',
    defaultLayer: vitLayer(3, opset),
    grid: [14, 14, 192] as [number, number, number],
    layout: /198 tokens: 2 special \+ 14×14 patches/,
    attention: { blocks: 4, heads: 3, special: 2 },
  })),
  ...[13, 17].map((opset) => ({
    name: `swin_t_2222_op${opset}`,
    // Opset 13 has no LayerNormalization: the exporter writes it out, ending in an Add.
    layer: opset === 17 ? '/norm/LayerNormalization' : '/norm/Add_1',
    module: 'norm',
    defaultLayer: '/permute/Transpose',
    grid: [7, 7, 768] as [number, number, number],
    layout: /channels-last/,
    attention: null,
  })),
  ...[13, 17].map((opset) => ({
    name: `convnext_tiny_op${opset}`,
    layer: '/features/features.7/features.7.2/Add',
    module: 'features.7.2',
    defaultLayer: '/features/features.7/features.7.2/Add',
    grid: [4, 4, 768] as [number, number, number],
    layout: null,
    attention: null,
  })),
];

function runTechnique(
  model: LoadedModel,
  id: string,
  input: Tensor4D,
  classIndex: number,
  layer: string,
  parameters: Record<string, number | string> = {},
): { map: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const request: TechniqueInput = {
      model: model.adapter,
      input,
      pixels: input,
      preprocess: (p) => p,
      classIndex,
      layer,
      parameters,
      checkCancelled: () => undefined,
      reportProgress: () => undefined,
    };
    const map = findTechnique(id).run(request).map as Tensor2D;
    return { map: map.dataSync() as Float32Array, shape: map.shape };
  });
}

/** 1 − Pearson's r of the maps, asserted ≤ 1 − minR. */
function assertSameMap(got: { map: Float32Array; shape: number[] }, expected: TorchMap, minR: number, what: string): string {
  assert.deepEqual(got.shape, expected.grid, `${what}: grid`);
  const r = pearson(got.map, expected.map);
  assert.ok(r >= minR, `${what}: r = ${r.toFixed(6)} < ${minR}`);
  return (1 - r).toExponential(1);
}

describe('Transformers and ConvNeXt from torch.onnx against PyTorch', function () {
  let paths: Record<string, string> = {};

  before(async function () {
    this.timeout(900_000);
    // TF.js only, whatever the pass: the suite's second pass (onnxruntime off) would repeat it as is.
    if (SUITE_ONNXRUNTIME === 'off') {
      console.log('      skipped: it runs once, in the onnxruntime pass');
      this.skip();
    }
    const missing = torchReferenceMissing();
    const models = missing ? { skip: missing } : onnxTestModels(CASES.map((c) => c.name));
    if ('skip' in models) {
      console.log(`      skipped: ${models.skip}`);
      this.skip();
    }
    paths = models.paths;
    await selectBackend({ choice: 'wasm', log: () => undefined });
  });

  after(async () => selectBackend({ choice: 'cpu', log: () => undefined }));

  for (const c of CASES) {
    it(`${c.name}: token grid, default layer; Grad-CAM (${c.module}), saliency${c.attention ? ', rollout and attention × gradient' : ''} as PyTorch computes them`, async function () {
      this.timeout(600_000);
      const before = tf.memory().numTensors;
      const model = await loadModel(paths[c.name], {}, {}, TFJS_ONLY);
      try {
        const { summary, adapter } = model;
        const target = summary.layers.find((l) => l.name === c.layer);
        assert.ok(target, `layer ${c.layer} is listed`);
        assert.deepEqual(target.outputShape, c.grid);
        assert.ok(target.camCapable);
        if (c.layout) assert.match(target.layout ?? '', c.layout);
        else assert.equal(target.layout, undefined);
        assert.equal(summary.defaultLayer, c.defaultLayer);
        assert.ok(adapter.gradientsOnWasm, 'gradients run on wasm (the class-token Gather is a slice)');
        if (c.attention) {
          const { blocks, heads, special } = c.attention;
          assert.deepEqual(summary.attention, { blocks, heads, specialTokens: special, grid: [14, 14] });
        } else assert.equal(summary.attention, null);

        const [h, w, ch] = adapter.inputShape;
        const { nhwc, nchw } = randomInput(1, h, w, ch, c.name.length * 7919);
        const classIndex = 7;
        const reference = torchReference(c.name, nchw, [1, ch, h, w], classIndex, { layer: c.module });
        if ('skip' in reference) return this.skip();
        const ref = reference as TorchReference;
        const input = tf.tensor4d(nhwc, [1, h, w, ch]);
        try {
          const logits = tf.tidy(() => adapter.scores(input).dataSync());
          const range = Math.max(...ref.logits) - Math.min(...ref.logits);
          const worst = ref.logits.reduce((m, v, i) => Math.max(m, Math.abs(v - logits[i])), 0);
          assert.ok(worst <= 1e-4 * range, `logits: max |Δ| ${worst} vs range ${range}`);

          const rs: string[] = [];
          rs.push(`gradcam ${assertSameMap(runTechnique(model, 'gradcam', input, classIndex, c.layer), ref.gradcam, 0.9999, 'Grad-CAM')}`);
          // The saliency view clips at the 99th percentile (attribution.ts): the reference is clipped alike.
          const cap = quantile(Float32Array.from(ref.saliency.map), 0.99);
          const clipped = { ...ref.saliency, map: ref.saliency.map.map((v) => Math.min(v, cap)) };
          rs.push(`saliency ${assertSameMap(runTechnique(model, 'saliency', input, classIndex, ''), clipped, 0.999, 'saliency')}`);
          if (c.attention) {
            const rollout = runTechnique(model, 'attention-rollout', input, classIndex, '', { headFusion: 'mean', discardRatio: 0 });
            rs.push(`rollout ${assertSameMap(rollout, ref.rollout!, 0.9999, 'rollout')}`);
            const chefer = runTechnique(model, 'attention-gradient', input, classIndex, '');
            rs.push(`attention-gradient ${assertSameMap(chefer, ref.attentionGradient!, 0.9999, 'attention × gradient')}`);
          } else {
            assert.throws(() => runTechnique(model, 'attention-rollout', input, classIndex, ''), /needs a ViT-family model/);
          }
          console.log(`      ${c.name}: 1 - r ${rs.join(', ')}`);
        } finally {
          input.dispose();
        }
      } finally {
        model.adapter.dispose();
      }
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    });
  }
});

describe('Transformers and ConvNeXt: onnxruntime gives the TF.js executor’s maps', function () {
  const NAMES = [
    'vit_b_16_2l_op17',
    'deit_tiny_dist_op13',
    'swin_t_2222_op13',
    'swin_t_2222_op17',
    'convnext_tiny_op13',
    'convnext_tiny_op17',
  ];
  let paths: Record<string, string> = {};

  before(async function () {
    this.timeout(900_000);
    if (SUITE_ONNXRUNTIME === 'off') {
      console.log('      skipped: onnxruntime is off in this pass');
      this.skip();
    }
    const models = onnxTestModels(NAMES);
    if ('skip' in models) {
      console.log(`      skipped: ${models.skip}`);
      this.skip();
    }
    paths = models.paths;
    await selectBackend({ choice: 'wasm', log: () => undefined });
  });

  after(async () => selectBackend({ choice: 'cpu', log: () => undefined }));

  for (const name of NAMES) {
    it(`${name}: token / channels-last layers read out on their grid, and every map, as on TF.js`, async function () {
      this.timeout(600_000);
      const before = tf.memory().numTensors;
      const model = await loadModel(paths[name], {}, {}, acceleration);
      try {
        const { adapter, summary } = model;
        const [h, w, ch] = adapter.inputShape;
        const input = tf.tensor4d(randomInput(1, h, w, ch, 11).nhwc, [1, h, w, ch]);
        const layer = summary.defaultLayer!;
        try {
          const fast = tf.tidy(() => adapter.layerOutput(input, layer).dataSync());
          const slow = acceleration.withoutRuntime(() => tf.tidy(() => adapter.layerOutput(input, layer).dataSync()));
          assert.ok(1 - pearson(fast, slow) <= 1e-6, `${layer} read out alike`);
          const ids = ['gradcam', 'saliency', ...(summary.attention ? ['attention-rollout', 'attention-gradient'] : [])];
          const gaps = ids.map((id) => {
            const params: Record<string, number | string> = id === 'attention-rollout' ? { headFusion: 'mean', discardRatio: 0 } : {};
            const onOrt = runTechnique(model, id, input, 3, layer, params);
            const onTfjs = acceleration.withoutRuntime(() => runTechnique(model, id, input, 3, layer, params));
            assert.deepEqual(onOrt.shape, onTfjs.shape, id);
            const gap = 1 - pearson(onOrt.map, onTfjs.map);
            assert.ok(gap <= 1e-4, `${id}: 1 - r = ${gap}`);
            return `${id} ${gap.toExponential(1)}`;
          });
          console.log(`      ${name}: 1 - r ${gaps.join(', ')}`);
        } finally {
          input.dispose();
        }
      } finally {
        model.adapter.dispose();
      }
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    });
  }
});
