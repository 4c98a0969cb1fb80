/**
 * onnxruntime's gradients through Slice (accel/backward/shape.ts) and through Pads whose pads torch computes
 * from x.shape, which the export folds to constants (models/onnx/exportFolding.ts). Tiny Slice models
 * (negative, clamped and omitted bounds, strides, reversal, the opset 9 form) against the TF.js executor and
 * central finite differences; a model whose batch is not on axis 0 keeps its batch size computed in the graph;
 * ShuffleNet v2 (torch's chunk) and a CNN with TF-style "same" padding (timm's tf_* models) get saliency and
 * Grad-CAM from onnxruntime, equal to the TF.js executor's. Nothing may fall back to TF.js.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { loadModel, type LoadedModel } from '../../src/engine/models/loadModel';
import { inGraphGradCam } from '../../src/engine/techniques/gradCam';
import { tf } from '../../src/engine/tfjs/tf';
import { acceleration, finiteDifferences, onTfjs, rangeGap, relativeGap, runtimeLogPerTest, tfjsGradient } from './helpers/acceleration';
import { encodeModel, pseudoRandom, type GraphSpec, type Initializer, type NodeSpec } from './helpers/onnxBuilder';
import { onnxTestModels } from './helpers/onnxModels';
import { tempDir } from './helpers/tinyModels';

const SIZE = 7;
const CHANNELS = 3;

interface SliceCase {
  name: string;
  /** Slice's inputs after the data (opset ≥ 10), or its attributes (opset 9). */
  bounds: { starts: number[]; ends: number[]; axes?: number[]; steps?: number[] };
  /** [channels, rows, columns] read, worked out by hand from ONNX's rules. */
  out: [number, number, number];
  opset?: number;
}

const CASES: SliceCase[] = [
  {
    name: 'rows 1–5; columns from −5 to past the end (clamped)',
    bounds: { starts: [1, -5], ends: [6, 1000], axes: [2, 3] },
    out: [3, 5, 5],
  },
  {
    name: 'columns backwards, two at a time, from the last to before the first (clamped)',
    bounds: { starts: [-1], ends: [-1000], axes: [-1], steps: [-2] },
    out: [3, 7, 4],
  },
  { name: 'one channel, every third row', bounds: { starts: [1, 0], ends: [2, 1000], axes: [1, 2], steps: [1, 3] }, out: [1, 3, 7] },
  {
    name: 'axes left out: the whole batch (to 2⁶², as exporters write it), channels 1–2, the last two rows',
    bounds: { starts: [0, 1, -2], ends: [2 ** 62, 3, 1000] },
    out: [2, 2, 7],
  },
  {
    name: 'opset 9 (bounds as attributes): columns 2 to the one before last',
    bounds: { starts: [2], ends: [-1], axes: [3] },
    out: [3, 7, 4],
    opset: 9,
  },
];

/** image → Tanh → Slice → × a weight per cell → GlobalAveragePool → Flatten: one score per channel read. */
function sliceModel({ bounds, out, opset = 13 }: SliceCase): GraphSpec {
  const ints = (name: string, data: number[]): Initializer => ({ name, dims: [data.length], data, dataType: 7 });
  const listed = (['starts', 'ends', 'axes', 'steps'] as const).filter((key) => bounds[key]);
  const slice: NodeSpec =
    opset < 10
      ? { op: 'Slice', inputs: ['t'], outputs: ['s'], attrs: Object.fromEntries(listed.map((key) => [key, bounds[key]!])) }
      : { op: 'Slice', inputs: ['t', ...listed], outputs: ['s'] };
  const cells = out.reduce((a, b) => a * b, 1);
  return {
    nodes: [
      { op: 'Tanh', inputs: ['image'], outputs: ['t'] },
      slice,
      { op: 'Mul', inputs: ['s', 'cell_weights'], outputs: ['weighted'] },
      { op: 'GlobalAveragePool', inputs: ['weighted'], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['scores'], attrs: { axis: 1 } },
    ],
    initializers: [
      { name: 'cell_weights', dims: [1, ...out], data: pseudoRandom(cells, 3) },
      ...(opset < 10 ? [] : listed.map((key) => ints(key, bounds[key]!))),
    ],
    inputs: [{ name: 'image', dims: ['N', CHANNELS, SIZE, SIZE] }],
    outputs: [{ name: 'scores', dims: ['N', out[0]] }],
    opset,
  };
}

/**
 * image → Reshape to [batch, −1] → Gemm, the batch read as Shape(Transpose(image))[1]: a size that follows
 * the batch on another axis than 0, which folding must leave computed.
 */
function transposedBatchModel(): GraphSpec {
  const features = CHANNELS * SIZE * SIZE;
  return {
    nodes: [
      { op: 'Transpose', inputs: ['image'], outputs: ['swapped'], attrs: { perm: [1, 0, 2, 3] } },
      { op: 'Shape', inputs: ['swapped'], outputs: ['sizes'] },
      { op: 'Gather', inputs: ['sizes', 'one'], outputs: ['batch'], attrs: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['batch', 'zero'], outputs: ['batch_1d'] },
      { op: 'Concat', inputs: ['batch_1d', 'rest'], outputs: ['target'], attrs: { axis: 0 } },
      { op: 'Reshape', inputs: ['image', 'target'], outputs: ['flat'] },
      { op: 'Gemm', inputs: ['flat', 'w', 'b'], outputs: ['scores'], attrs: { transB: 1 } },
    ],
    initializers: [
      { name: 'one', dims: [], data: [1], dataType: 7 },
      { name: 'zero', dims: [1], data: [0], dataType: 7 },
      { name: 'rest', dims: [1], data: [-1], dataType: 7 },
      { name: 'w', dims: [4, features], data: pseudoRandom(4 * features, 5) },
      { name: 'b', dims: [4], data: pseudoRandom(4, 6) },
    ],
    inputs: [{ name: 'image', dims: ['N', CHANNELS, SIZE, SIZE] }],
    outputs: [{ name: 'scores', dims: ['N', 4] }],
  };
}

/**
 * image → Reshape to [1, 3, 7, 7] (a batch of 1 written into the graph, as exports without dynamic axes have
 * it) → Pad one column on the right, by width − 6 read off its Shape → GlobalAveragePool: two images cannot
 * run, so which sizes follow the batch cannot be measured.
 */
function batchOfOneModel(): GraphSpec {
  const ints = (name: string, data: number[], dims = [data.length]): Initializer => ({ name, dims, data, dataType: 7 });
  return {
    nodes: [
      { op: 'Reshape', inputs: ['image', 'one_image'], outputs: ['fixed'] },
      { op: 'Shape', inputs: ['fixed'], outputs: ['sizes'] },
      { op: 'Gather', inputs: ['sizes', 'three'], outputs: ['width'], attrs: { axis: 0 } },
      { op: 'Sub', inputs: ['width', 'six'], outputs: ['extra'] },
      { op: 'Unsqueeze', inputs: ['extra', 'zero'], outputs: ['extra_1d'] },
      { op: 'Concat', inputs: ['no_pads', 'extra_1d'], outputs: ['pads'], attrs: { axis: 0 } },
      { op: 'Pad', inputs: ['fixed', 'pads'], outputs: ['padded'] },
      { op: 'GlobalAveragePool', inputs: ['padded'], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['scores'], attrs: { axis: 1 } },
    ],
    initializers: [
      ints('one_image', [1, CHANNELS, SIZE, SIZE]),
      ints('three', [3], []),
      ints('six', [6], []),
      ints('zero', [0]),
      ints('no_pads', [0, 0, 0, 0, 0, 0, 0]),
    ],
    inputs: [{ name: 'image', dims: [1, CHANNELS, SIZE, SIZE] }],
    outputs: [{ name: 'scores', dims: [1, CHANNELS] }],
  };
}

async function load(spec: GraphSpec): Promise<LoadedModel> {
  const file = path.join(tempDir(), 'model.onnx');
  await fs.writeFile(file, encodeModel(spec));
  return loadModel(file, {}, {}, acceleration);
}

describe('onnxruntime gradients through Slice and computed Pads', function () {
  const lines = runtimeLogPerTest();

  for (const sliceCase of CASES) {
    it(`Slice, ${sliceCase.name}: the TF.js executor's gradient and central differences`, async () => {
      const model = await load(sliceModel(sliceCase));
      const before = tf.memory().numTensors;
      const x = tf.randomUniform([2, SIZE, SIZE, CHANNELS], -1.5, 1.5, 'float32', 7) as Tensor4D;
      const classIndex = sliceCase.out[0] - 1;
      // tfjs has no gradient for StridedSlice: strided slices are checked against central differences only.
      const strided = sliceCase.bounds.steps?.some((step) => step !== 1) ?? false;
      const { gap, first, image } = tf.tidy(() => {
        const fast = model.adapter.accelerated()!.inputGradient(x, classIndex, null);
        assert.ok(fast, 'onnxruntime differentiates it');
        const firstOf = (t: tf.Tensor) => t.slice([0, 0, 0, 0], [1, -1, -1, -1]).dataSync() as Float32Array;
        return { gap: strided ? 0 : relativeGap(fast, tfjsGradient(model, x, classIndex)), first: firstOf(fast), image: firstOf(x) };
      });
      x.dispose();
      const numeric = finiteDifferences(model, image, [SIZE, SIZE, CHANNELS], classIndex, 1e-2);
      assert.deepEqual(lines, [], 'nothing fell back to TF.js');
      assert.ok(gap < 1e-5, `against TF.js: ${gap}`);
      const scale = Math.max(...numeric.map(Math.abs));
      assert.ok(numeric.some((v) => v === 0) && scale > 0, 'some cells are read and some are not');
      numeric.forEach((v, i) => assert.ok(Math.abs(first[i] - v) <= 2e-3 * scale, `cell ${i}: ${first[i]} vs ${v}`));
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      model.adapter.dispose();
    });
  }

  it('a size that follows the batch on another axis than 0 stays computed: scores and gradients for a batch of 3', async () => {
    const model = await load(transposedBatchModel());
    const before = tf.memory().numTensors;
    const gaps = tf.tidy(() => {
      const x = tf.randomUniform([3, SIZE, SIZE, CHANNELS], -1, 1, 'float32', 8) as Tensor4D;
      const scores = model.adapter.scores(x);
      const fast = model.adapter.accelerated()!.inputGradient(x, 2, null);
      assert.ok(fast, 'onnxruntime differentiates it');
      return [
        relativeGap(
          scores,
          onTfjs(() => model.adapter.scores(x)),
        ),
        relativeGap(fast, tfjsGradient(model, x, 2)),
      ];
    });
    assert.deepEqual(lines, [], 'nothing fell back to TF.js');
    gaps.forEach((gap) => assert.ok(gap < 1e-5, `${gap}`));
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    model.adapter.dispose();
  });

  it('a graph that cannot run two images still exports its scores; its computed Pad keeps the gradient on TF.js', async () => {
    const model = await load(batchOfOneModel());
    const x = tf.randomUniform([1, SIZE, SIZE, CHANNELS], -1, 1, 'float32', 10) as Tensor4D;
    // The scores come from onnxruntime unless the log says otherwise (checked below: only the gradient stays).
    const gap = tf.tidy(() =>
      relativeGap(
        model.adapter.scores(x),
        onTfjs(() => model.adapter.scores(x)),
      ),
    );
    assert.ok(gap < 1e-5, `scores: ${gap}`);
    assert.equal(model.adapter.accelerated()!.inputGradient(x, 0, null), null);
    assert.deepEqual(lines, ['onnxruntime: TF.js computes the gradient for this model (no gradient rule for a computed Pad).']);
    x.dispose();
    model.adapter.dispose();
  });

  it('a reflecting Pad stays on TF.js and says why (its gradient folds the mirrored cells back, no Slice undoes it)', async () => {
    const model = await load({
      nodes: [
        { op: 'Pad', inputs: ['image', 'pads'], outputs: ['padded'], attrs: { mode: 'reflect' } },
        { op: 'GlobalAveragePool', inputs: ['padded'], outputs: ['pooled'] },
        { op: 'Flatten', inputs: ['pooled'], outputs: ['scores'], attrs: { axis: 1 } },
      ],
      initializers: [{ name: 'pads', dims: [8], data: [0, 0, 2, 1, 0, 0, 1, 2], dataType: 7 }],
      inputs: [{ name: 'image', dims: ['N', CHANNELS, SIZE, SIZE] }],
      outputs: [{ name: 'scores', dims: ['N', CHANNELS] }],
    });
    const x = tf.zeros([1, SIZE, SIZE, CHANNELS]) as Tensor4D;
    assert.equal(model.adapter.accelerated()!.inputGradient(x, 0, null), null);
    assert.deepEqual(lines, ['onnxruntime: TF.js computes the gradient for this model (no gradient rule for a Pad in reflect mode).']);
    x.dispose();
    model.adapter.dispose();
  });

  describe('exported from PyTorch', function () {
    // A layer before the Slices (ShuffleNet's later stages) and before the last computed Pad.
    const MODELS: Record<string, string> = { shufflenet_v2_x0_5: '/stage3/stage3.0/Reshape_1', samepadnet: '/Relu_1' };
    let paths: Record<string, string> = {};
    before(function () {
      this.timeout(900_000);
      const models = onnxTestModels(Object.keys(MODELS));
      if ('skip' in models) {
        console.log(`      skipped: ${models.skip}`);
        this.skip();
      }
      paths = models.paths;
    });

    for (const [name, layer] of Object.entries(MODELS)) {
      it(`${name}: saliency and Grad-CAM (${layer}) on onnxruntime, within 1e-4 of the range of the TF.js executor's`, async () => {
        const model = await loadModel(paths[name], {}, {}, acceleration);
        const { adapter } = model;
        const before = tf.memory().numTensors;
        const [h, w, c] = adapter.inputShape;
        const gaps = tf.tidy(() => {
          const x = tf.randomUniform([2, h, w, c], -1, 1, 'float32', 9) as Tensor4D;
          // A class the images actually score (random nets leave some classes without any gradient).
          const classIndex = tf.argMax(onTfjs(() => adapter.scores(x)).sum(0)).dataSync()[0];
          const saliency = adapter.accelerated()!.inputGradient(x, classIndex, null);
          const image = x.slice([0, 0, 0, 0], [1, -1, -1, -1]) as Tensor4D;
          const cam = inGraphGradCam(adapter, image, layer, classIndex);
          assert.ok(saliency && cam, 'onnxruntime computes both');
          const split = onTfjs(() => adapter.split(image, layer));
          const layerGradient = onTfjs(() =>
            tf.grad((a: tf.Tensor) =>
              split
                .head(a as Tensor4D)
                .slice([0, classIndex], [-1, 1])
                .sum(),
            )(split.activations),
          );
          const camSlow = tf.sum(split.activations.mul(tf.mean(layerGradient, [1, 2], true)), 3);
          return { saliency: rangeGap(saliency, tfjsGradient(model, x, classIndex)), cam: rangeGap(cam.reshape(camSlow.shape), camSlow) };
        });
        console.log(`      ${name}: max |Δ| ÷ range: saliency ${gaps.saliency.toExponential(2)}, Grad-CAM ${gaps.cam.toExponential(2)}`);
        assert.deepEqual(lines, [], 'nothing fell back to TF.js');
        assert.ok(gaps.saliency <= 1e-4, `saliency: ${gaps.saliency}`);
        assert.ok(gaps.cam <= 1e-4, `Grad-CAM: ${gaps.cam}`);
        assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
        adapter.dispose();
      });
    }
  });
});
