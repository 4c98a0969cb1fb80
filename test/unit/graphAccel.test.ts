/**
 * TF.js graph models on onnxruntime (accel/exportGraphModel.ts) against tfjs-converter's own execution of
 * the same graph (cpu backend, tfjs's op gradients): a hand-written graph with the ops converted models use,
 * and the TF-Hub MobileNet v1 fixture. Scores, node outputs (differentiable), input and node gradients,
 * Score-CAM's masked batch; a graph with an op the export lacks stays on TF.js and says which node.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { Engine } from '../../src/engine/engine';
import { pearson } from '../../src/engine/metrics/rankCorrelation';
import { gaussianValues } from '../../src/engine/random';
import { loadModel, type LoadedModel } from '../../src/engine/models/loadModel';
import { tf } from '../../src/engine/tfjs/tf';
import { acceleration, collectLog, onTfjs, relativeGap } from './helpers/acceleration';
import { inGraphGradCam } from '../../src/engine/techniques/gradCam';
import { inGraphMaskedScores } from '../../src/engine/techniques/scoreCam';
import { inGraphNoiseSums } from '../../src/engine/techniques/smoothGrad';
import { writeOpsGraphModel, writeTinyGraphModel } from './helpers/tinyGraphModel';
import { noiseImage, tempDir } from './helpers/tinyModels';

const MOBILENET = path.resolve(__dirname, '../../../shared/fixtures/models/mobilenet_v1_0.25_224_graph_tfhub/model.json');

/** Grad-CAM's pre-ReLU map [1, h, w] from TF.js's own gradient of the head (the reference for gradCamMap). */
export function gradCamOnTfjs({ adapter }: LoadedModel, image: Tensor4D, layer: string, classIndex: number): tf.Tensor {
  return onTfjs(() => {
    const { activations, head } = adapter.split(image, layer);
    const gradients = tf.grad((a: tf.Tensor) =>
      head(a as Tensor4D)
        .slice([0, classIndex], [1, 1])
        .sum(),
    )(activations);
    return tf.sum(activations.mul(tf.mean(gradients, [1, 2], true)), 3);
  });
}

/**
 * Gaps between onnxruntime and TF.js on a batch of two images: values as a fraction of the reference's
 * scale; gradients as 1 − Pearson's r where `asMaps` (a deep net's ReLU6 inputs within rounding of 0 or 6
 * flip a few cells of its gradients either way).
 */
function gaps(model: LoadedModel, layer: string, asMaps = false): Record<string, number> {
  const gradientGap = (a: tf.Tensor, b: tf.Tensor) => (asMaps ? Math.max(0, 1 - pearson(a.dataSync(), b.dataSync())) : relativeGap(a, b));
  const { adapter } = model;
  const [h, w, c] = adapter.inputShape;
  return tf.tidy(() => {
    const x = tf.randomUniform([2, h, w, c], 0, 1, 'float32', 5) as Tensor4D;
    const offsets = { data: gaussianValues(3 * h * w * c, 0, 0.1, 6), dims: [3, h, w, c] };
    const noisySums = ({ adapter: a }: LoadedModel, origin: Tensor4D, classIndex: number) => {
      const sums = inGraphNoiseSums(a, { origin, offsets }, classIndex, { rule: null, timesInput: false });
      assert.ok(sums, 'the gradient sums run on onnxruntime');
      return sums;
    };
    const image = x.slice([0, 0, 0, 0], [1, -1, -1, -1]) as Tensor4D;
    const reference = onTfjs(() => adapter.scores(x));
    const classIndex = tf.argMax(reference.sum(0)).dataSync()[0];
    const score = (v: tf.Tensor) =>
      adapter
        .scores(v as Tensor4D)
        .slice([0, classIndex], [-1, 1])
        .sum();
    const layerFast = adapter.accelerated()!.layerGradient(image, layer, classIndex);
    assert.ok(layerFast, 'the node gradient runs on onnxruntime');
    const split = onTfjs(() => adapter.split(image, layer));
    const objective = (v: tf.Tensor) => tf.sum(tf.square(adapter.layerOutput(v as Tensor4D, layer)));
    const maps = tf.randomUniform([3, 4, 4, 1], -1, 2, 'float32', 8) as Tensor4D;
    const masks = tf.image.resizeBilinear(maps, [h, w], false, true);
    const low = tf.min(masks, [1, 2, 3], true);
    const scaled = masks.sub(low).div(tf.max(masks, [1, 2, 3], true).sub(low).add(1e-8));
    const masked = inGraphMaskedScores(adapter, image, maps);
    assert.ok(masked, 'the masked batch runs on onnxruntime');
    const inputGradient = adapter.accelerated()!.inputGradient(x, classIndex, null);
    assert.ok(inputGradient, 'the input gradient runs on onnxruntime');
    return {
      scores: relativeGap(adapter.scores(x), reference),
      node: relativeGap(
        adapter.layerOutput(x, layer),
        onTfjs(() => adapter.layerOutput(x, layer)),
      ),
      input: gradientGap(
        inputGradient,
        onTfjs(() => tf.grad(score)(x)),
      ),
      activations: relativeGap(layerFast.activations, split.activations),
      layer: gradientGap(
        layerFast.gradients,
        onTfjs(() =>
          tf.grad((a: tf.Tensor) =>
            split
              .head(a as Tensor4D)
              .slice([0, classIndex], [1, 1])
              .sum(),
          )(split.activations),
        ),
      ),
      // Through onnxruntime's node output as a differentiable op (activation maximisation's objective).
      objective: gradientGap(
        tf.grad(objective)(x),
        onTfjs(() => tf.grad(objective)(x)),
      ),
      masked: relativeGap(
        masked,
        onTfjs(() => adapter.scores(image.mul(scaled) as Tensor4D)),
      ),
      gradcam: relativeGap(inGraphGradCam(adapter, image, layer, classIndex)!, gradCamOnTfjs(model, image, layer, classIndex)),
      // SmoothGrad's sums over noisy copies of the image, built and reduced inside the graph.
      sums: gradientGap(
        noisySums(model, image, classIndex).sum,
        onTfjs(() => tf.sum(tf.grad(score)(image.add(tf.tensor(offsets.data, offsets.dims))), 0, true)),
      ),
    };
  });
}

describe('TF.js graph models on onnxruntime (exported node by node)', function () {
  const lines: string[] = [];
  before(async function () {
    await selectBackend({ choice: 'cpu', log: () => undefined });
    assert.ok(acceleration.state.runtime, `onnxruntime-node should load: ${acceleration.state.reason}`);
  });
  beforeEach(() => {
    lines.length = 0;
    collectLog(lines);
  });

  it('a graph of fused convolutions, batch norms, pads, pools, a concat and a transposed MatMul: as tfjs-converter runs it', async () => {
    const before = tf.memory().numTensors;
    const model = await loadModel(await writeOpsGraphModel(tempDir()), {}, {}, acceleration);
    try {
      assert.equal(model.summary.layers.find((l) => l.name === 'logits')?.outputShape.join(), '5');
      for (const layer of ['stem', 'bn', 'concat', 'mix']) {
        const found = gaps(model, layer);
        for (const [what, gap] of Object.entries(found))
          assert.ok(
            gap < (what === 'scores' || what === 'node' || what === 'masked' || what === 'activations' ? 1e-5 : 1e-4),
            `${layer} ${what}: ${gap}`,
          );
      }
      assert.deepEqual(lines, [], 'nothing fell back to TF.js');
    } finally {
      model.adapter.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  });

  it('MobileNet v1 0.25 from TF-Hub: scores, gradients and masked batches as TF.js computes them', async function () {
    if (!existsSync(MOBILENET)) this.skip();
    this.timeout(300_000);
    const before = tf.memory().numTensors;
    const model = await loadModel(MOBILENET, {}, {}, acceleration);
    try {
      const found = gaps(model, model.summary.defaultLayer!, true);
      for (const [what, gap] of Object.entries(found)) assert.ok(gap < 1e-4, `${what}: ${gap}`);
      assert.deepEqual(lines, [], 'nothing fell back to TF.js');
    } finally {
      model.adapter.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  });

  it('on wasm, Grad-CAM stays on wasm where onnxruntime differentiates the head, and saliency moves to cpu where it cannot reach the image', async () => {
    const engine = await Engine.create({ backend: 'wasm', onnxRuntime: 'auto', log: () => undefined });
    try {
      const file = await writeTinyGraphModel(tempDir(), { withStridedSlice: false, softplusInput: true });
      const model = await engine.loadModel(file);
      const { adapter } = model;
      assert.equal(adapter.gradientsOnWasmAt!('conv/Relu', 'scores'), true, 'scores → conv/Relu has gradient rules');
      assert.equal(adapter.gradientsOnWasm, false, 'Softplus on the image has none');
      const image = noiseImage(8, 8, 6);
      const request = { technique: 'gradcam', layer: 'conv/Relu', classTarget: 1 };
      const fast = await engine.explain(model, image, request);
      assert.ok(!fast.notes.some((note) => /cpu backend/.test(note)), fast.notes.join(' '));
      const saliency = await engine.explain(model, image, { technique: 'saliency', classTarget: 1 });
      assert.ok(
        saliency.notes.some((note) => /cpu backend/.test(note)),
        saliency.notes.join(' '),
      );
      assert.equal(tf.getBackend(), 'wasm', 'the backend is restored');
      const tfjsEngine = await Engine.create({ backend: 'wasm', onnxRuntime: 'off', log: () => undefined });
      const slow = await tfjsEngine.explain(await tfjsEngine.loadModel(file), image, request);
      tfjsEngine.dispose();
      const scale = Math.max(...slow.rawMap.data.map(Math.abs));
      assert.ok(scale > 0, 'a map to compare');
      fast.rawMap.data.forEach((v, i) =>
        assert.ok(Math.abs(v - slow.rawMap.data[i]) < 1e-5 * scale, `cell ${i}: ${v} vs ${slow.rawMap.data[i]}`),
      );
    } finally {
      engine.dispose();
      await selectBackend({ choice: 'cpu', log: () => undefined });
    }
  });

  it('a run that stops on a kernel wasm lacks is run again on cpu, said in the notes, and the backend restored', async () => {
    const engine = await Engine.create({ backend: 'wasm', onnxRuntime: 'auto', log: () => undefined });
    try {
      const model = await engine.loadModel(await writeTinyGraphModel(tempDir(), { withStridedSlice: false, softplusInput: true }));
      const image = noiseImage(8, 8, 6);
      const request = { technique: 'gradcam', layer: 'conv/Relu', classTarget: 1 };
      const expected = await engine.explain(model, image, request);
      // As when onnxruntime's layer gradient drops out at run time: the head is differentiated by TF.js,
      // and here one of its kernels is missing on wasm.
      const { adapter } = model;
      const split = adapter.split.bind(adapter);
      Object.assign(adapter, {
        accelerated: () => null,
        split: (input: Tensor4D, layer: string) => {
          const parts = split(input, layer);
          return {
            ...parts,
            head: (a: Tensor4D) =>
              tf.getBackend() === 'wasm' ? assert.fail("Kernel 'Softplus' not registered for backend 'wasm'") : parts.head(a),
          };
        },
      });
      const before = tf.memory().numTensors;
      const retried = await engine.explain(model, image, request);
      assert.equal(tf.memory().numTensors, before, 'the failed run left nothing behind');
      assert.match(retried.notes.join(' '), /Computed on the cpu backend \(wasm lacks Softplus\)/);
      assert.equal(tf.getBackend(), 'wasm', 'the backend is restored');
      const scale = Math.max(...expected.rawMap.data.map(Math.abs));
      retried.rawMap.data.forEach((v, i) =>
        assert.ok(Math.abs(v - expected.rawMap.data[i]) < 1e-5 * scale, `cell ${i}: ${v} vs ${expected.rawMap.data[i]}`),
      );
    } finally {
      engine.dispose();
      await selectBackend({ choice: 'cpu', log: () => undefined });
    }
  });

  it('an op without an export (StridedSlice) keeps the model on TF.js, and the log names the node', async () => {
    const before = tf.memory().numTensors;
    const model = await loadModel(await writeTinyGraphModel(tempDir(), { withStridedSlice: true }), {}, {}, acceleration);
    try {
      const gap = tf.tidy(() => {
        const x = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', 2) as Tensor4D;
        return relativeGap(
          model.adapter.scores(x),
          onTfjs(() => model.adapter.scores(x)),
        );
      });
      assert.equal(gap, 0, 'the same TF.js scores');
      tf.tidy(() => assert.equal(model.adapter.accelerated()!.inputGradient(tf.zeros([1, 8, 8, 3]) as Tensor4D, 0, null), null));
      assert.ok(
        lines.some((line) => /TF\.js computes the scores .*node "slice" \(StridedSlice\): no ONNX export/.test(line)),
        lines.join('\n'),
      );
    } finally {
      model.adapter.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  });
});
