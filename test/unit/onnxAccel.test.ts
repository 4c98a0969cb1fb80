/**
 * ONNX files on onnxruntime (accel/onnxFileAccelerator.ts) against CNN Lens's own TF.js executor on the
 * same models (torchvision architectures with random weights, exported by PyTorch): scores, input and
 * layer gradients, differentiable layer reads, the randomisation check; and what stays on TF.js says why.
 */
import { strict as assert } from 'node:assert';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { loadModel, type LoadedModel } from '../../src/engine/models/loadModel';
import { pearson } from '../../src/engine/metrics/rankCorrelation';
import { tf } from '../../src/engine/tfjs/tf';
import { acceleration, collectLog, onTfjs, relativeGap, tfjsLayerGradient } from './helpers/acceleration';
import { inGraphGradCam } from '../../src/engine/techniques/gradCam';
import { inGraphMaskedScores } from '../../src/engine/techniques/scoreCam';
import { onnxTestModels } from './helpers/onnxModels';

const MODELS = ['gapnet', 'mobilenet_v2', 'mobilenet_v2_bn', 'resnet18', 'squeezenet1_1', 'mobilenet_v3_small'];

/**
 * 1 − Pearson's r. Gradients of deep random nets differ where a rectifier's input sits within rounding of 0
 * (ResNet-18: ~1e-2 of the largest value at a few pixels); the maps agree, so they are compared as maps.
 */
function correlationGap(a: tf.Tensor, b: tf.Tensor): number {
  return Math.max(0, 1 - pearson(a.dataSync(), b.dataSync()));
}

describe('ONNX files on onnxruntime (exported back from the imported graph)', function () {
  let paths: Record<string, string> = {};
  const lines: string[] = [];

  before(function () {
    this.timeout(900_000);
    const models = onnxTestModels(MODELS);
    if ('skip' in models) {
      console.log(`      skipped: ${models.skip}`);
      this.skip();
    }
    paths = models.paths;
  });
  beforeEach(() => collectLog(lines));

  /** Loads the model, runs `run` on a batch of two random images, and checks nothing is left behind. */
  async function withModel(name: string, run: (model: LoadedModel, x: Tensor4D) => void): Promise<void> {
    const before = tf.memory().numTensors;
    const model = await loadModel(paths[name], {}, {}, acceleration);
    const [h, w, c] = model.adapter.inputShape;
    const x = tf.randomUniform([2, h, w, c], -1, 1, 'float32', 5) as Tensor4D;
    try {
      run(model, x);
    } finally {
      x.dispose();
      model.adapter.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  }

  for (const name of MODELS) {
    it(`${name}: scores and Score-CAM's masked batch (1e-5), the input and default layer's gradients and Grad-CAM's map (r > 0.9999) as the TF.js executor's`, async () => {
      lines.length = 0;
      await withModel(name, ({ adapter, summary }, x) => {
        // Gaps as plain numbers (tidy keeps tensors only); -1 where onnxruntime did not run it.
        const gaps = { scores: 0, input: -1, activations: -1, layer: -1, masked: -1, gradcam: -1 };
        tf.tidy(() => {
          const scores = adapter.scores(x);
          const reference = onTfjs(() => adapter.scores(x));
          gaps.scores = relativeGap(scores, reference);
          // A class the images actually score (random nets leave some classes without any gradient).
          const classIndex = tf.argMax(reference.sum(0)).dataSync()[0];
          const fast = adapter.accelerated()!.inputGradient(x, classIndex, null);
          const slow = onTfjs(() =>
            tf.grad((v: tf.Tensor) =>
              adapter
                .scores(v as Tensor4D)
                .slice([0, classIndex], [-1, 1])
                .sum(),
            )(x),
          );
          if (fast) gaps.input = correlationGap(fast, slow);
          const image = x.slice([0, 0, 0, 0], [1, -1, -1, -1]) as Tensor4D;
          const layer = summary.defaultLayer!;
          const layerFast = adapter.accelerated()!.layerGradient(image, layer, classIndex);
          const { activations: slowActivations, gradients: layerSlow } = tfjsLayerGradient(adapter, image, layer, classIndex);
          if (layerFast) {
            gaps.activations = relativeGap(layerFast.activations, slowActivations);
            gaps.layer = correlationGap(layerFast.gradients, layerSlow);
          }
          // Grad-CAM's map combined inside the graph against the same combination of TF.js's gradients.
          const camFast = inGraphGradCam(adapter, image, layer, classIndex);
          if (camFast) gaps.gradcam = correlationGap(camFast, tf.sum(slowActivations.mul(tf.mean(layerSlow, [1, 2], true)), 3));
          // Score-CAM's masked batch (masks built and applied inside the graph) against the same masks in TF.js.
          const maps = tf.randomUniform([3, 5, 5, 1], -1, 2, 'float32', 8) as Tensor4D;
          const maskedFast = inGraphMaskedScores(adapter, image, maps);
          const masks = tf.image.resizeBilinear(maps, [image.shape[1], image.shape[2]], false, true);
          const low = tf.min(masks, [1, 2, 3], true);
          const scaled = masks.sub(low).div(tf.max(masks, [1, 2, 3], true).sub(low).add(1e-8));
          if (maskedFast)
            gaps.masked = relativeGap(
              maskedFast,
              onTfjs(() => adapter.scores(image.mul(scaled) as Tensor4D)),
            );
        });
        assert.ok(gaps.scores < 1e-5, `scores: ${gaps.scores}`);
        assert.ok(gaps.masked >= 0 && gaps.masked < 1e-5, `masked scores: ${gaps.masked}`);
        // MobileNetV3's HardSwish and HardSigmoid (squeeze-excitation) included.
        assert.deepEqual(lines, [], 'nothing fell back to TF.js');
        assert.ok(gaps.input >= 0 && gaps.input < 1e-4, `input gradient: 1 − r = ${gaps.input}`);
        assert.ok(gaps.activations >= 0 && gaps.activations < 1e-5, `activations: ${gaps.activations}`);
        assert.ok(gaps.layer >= 0 && gaps.layer < 1e-4, `layer gradient: 1 − r = ${gaps.layer}`);
        assert.ok(gaps.gradcam >= 0 && gaps.gradcam < 1e-4, `Grad-CAM map: 1 − r = ${gaps.gradcam}`);
      });
    });
  }

  it('reads a layer differentiably (activation maximisation through onnxruntime), guided rule included', async () => {
    await withModel('resnet18', ({ adapter, summary }, x) => {
      const layer = summary.layers.filter((l) => l.camCapable)[4].name;
      const objective = (a: tf.Tensor) => tf.sum(tf.square(a.slice([0, 0, 0, 2], [-1, -1, -1, 1])));
      for (const rule of [null, 'guided'] as const) {
        const gap = tf.tidy(() => {
          const fast = tf.grad((v: tf.Tensor) => objective(adapter.layerOutput(v as Tensor4D, layer, rule)))(x);
          const slow = onTfjs(() => tf.grad((v: tf.Tensor) => objective(adapter.layerOutput(v as Tensor4D, layer, rule)))(x));
          return relativeGap(fast, slow);
        });
        assert.ok(gap < 1e-4, `${layer}, ${rule ?? 'stock'}: ${gap}`);
      }
    });
  });

  it('exports the random weights of the randomisation check, and the real ones again after', async () => {
    const model = await loadModel(paths.gapnet, {}, {}, acceleration);
    const { adapter } = model;
    const [h, w, c] = adapter.inputShape;
    const x = tf.randomUniform([1, h, w, c], -1, 1, 'float32', 6) as Tensor4D;
    const original = tf.tidy(() => Array.from(adapter.scores(x).dataSync()));
    const [randomFast, randomSlow] = await adapter.withRandomWeights(['/conv2/Conv'], 3, async () =>
      tf.tidy(() => [Array.from(adapter.scores(x).dataSync()), onTfjs(() => Array.from(adapter.scores(x).dataSync()))]),
    );
    const restored = tf.tidy(() => Array.from(adapter.scores(x).dataSync()));
    const gap = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    assert.ok(gap(randomFast, randomSlow) < 1e-4, 'onnxruntime sees the random weights');
    assert.ok(gap(randomFast, original) > 1e-3, 'the random weights change the scores');
    assert.ok(gap(restored, original) < 1e-5, 'and the real ones come back');
    x.dispose();
    adapter.dispose();
  });
});
