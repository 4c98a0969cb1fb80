/**
 * Today's architectures as ONNX files (issue 21: ConvNeXt-T, ViT-B/16 and Swin-T reduced in depth, a
 * distilled DeiT-tiny, a TF-style same-pad CNN; each at opsets 13 and 17, random but non-trivial weights)
 * through the product's loadModel with onnxruntime off: CNN Lens's TF.js executor against onnxruntime-node on
 * the same input, max |Δ| ≤ 1e-5 × the range of the logits, for a batch of 2 and for its first image alone
 * (the batch dimension stays open after folding), on wasm (and the smallest model on cpu: the ops
 * themselves are checked on cpu in onnxOpGradients.test.ts); the input gradient of a logit flows on wasm;
 * nothing is left behind. One model is loaded at a time (ConvNeXt-T is 114 MB).
 */
import { strict as assert } from 'node:assert';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { Acceleration } from '../../src/engine/accel/ortRuntime';
import { loadModel } from '../../src/engine/models/loadModel';
import { tf } from '../../src/engine/tfjs/tf';
import { onnxTestModels, runOnnxRuntime, randomInput } from './helpers/onnxModels';

const TFJS_ONLY = new Acceleration('off');

const ARCHITECTURES = ['same_pad_cnn', 'convnext_tiny', 'vit_b_16_2l', 'deit_tiny_dist', 'swin_t_2222'];
const MODELS = ARCHITECTURES.flatMap((name) => [`${name}_op13`, `${name}_op17`]);
/** The input gradient is computed once per family (ViT-B's is DeiT's, only slower). */
const GRADIENT = new Set(['same_pad_cnn_op17', 'convnext_tiny_op17', 'deit_tiny_dist_op17', 'swin_t_2222_op17']);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The model's scores for an NHWC batch, read back; no tensor left behind. */
function scoresOf(adapter: { scores(x: Tensor4D): tf.Tensor }, data: Float32Array, shape: [number, number, number, number]): Float32Array {
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(data, shape);
  const scores = adapter.scores(x);
  const values = scores.dataSync() as Float32Array;
  tf.dispose([x, scores]);
  assert.equal(tf.memory().numTensors, before, 'a forward pass leaves no tensor behind');
  return values;
}

describe('ONNX models of today’s architectures against onnxruntime (TF.js executor)', function () {
  this.timeout(600_000);
  let paths: Record<string, string> = {};

  before(function () {
    const models = onnxTestModels(MODELS);
    if ('skip' in models) {
      console.log(`      skipped: ${models.skip}`);
      this.skip();
    }
    paths = models.paths;
  });

  after(async () => {
    await selectBackend({ choice: 'cpu', log: () => undefined });
  });

  async function check(name: string, backend: 'wasm' | 'cpu', gradient: boolean): Promise<void> {
    await selectBackend({ choice: backend, log: () => undefined });
    const start = tf.memory().numTensors;
    const { adapter, summary } = await loadModel(paths[name], {}, {}, TFJS_ONLY);
    try {
      assert.equal(summary.format, 'onnx');
      // The class token's Gather is a slice: gradients stay on wasm (tf.gather's needs a kernel wasm lacks).
      assert.equal(adapter.gradientsOnWasm, true, 'gradients run on wasm');
      const [h, w, c] = adapter.inputShape;
      const { nhwc, nchw } = randomInput(2, h, w, c, name.length * 7919);
      const expected = await runOnnxRuntime(paths[name], nchw, [2, c, h, w]);
      const pair = scoresOf(adapter, nhwc, [2, h, w, c]);
      const single = scoresOf(adapter, nhwc.subarray(0, h * w * c), [1, h, w, c]);
      const range = Math.max(...expected.data) - Math.min(...expected.data);
      const diff = maxAbsDiff(pair, expected.data);
      const diffSingle = maxAbsDiff(single, expected.data.subarray(0, single.length));
      const ratio = Math.max(diff, diffSingle) / range;
      console.log(
        `      ${name} (${backend}): max |Δ| ${Math.max(diff, diffSingle).toExponential(2)}, logit range ${range.toFixed(3)}, ratio ${ratio.toExponential(2)}`,
      );
      assert.ok(diff <= 1e-5 * range, `batch of 2: max |Δ| ${diff} vs range ${range}`);
      assert.ok(diffSingle <= 1e-5 * range, `one image: max |Δ| ${diffSingle} vs range ${range}`);
      if (gradient) {
        const before = tf.memory().numTensors;
        const g = tf.tidy(() => {
          const x = tf.tensor4d(nhwc.subarray(0, h * w * c), [1, h, w, c]);
          const top = pair.subarray(0, pair.length / 2).reduce((best, v, i, all) => (v > all[best] ? i : best), 0);
          const grad = tf.grad((v: tf.Tensor) =>
            adapter
              .scores(v as Tensor4D)
              .slice([0, top], [1, 1])
              .sum(),
          )(x);
          return [grad.abs().max().dataSync()[0], tf.any(tf.logicalNot(tf.isFinite(grad))).dataSync()[0]];
        });
        assert.ok(g[0] > 0 && g[1] === 0, `${name}: the input gradient is finite and not zero (max |g| ${g[0]})`);
        assert.equal(tf.memory().numTensors, before, 'a gradient leaves no tensor behind');
      }
    } finally {
      adapter.dispose();
    }
    assert.equal(tf.memory().numTensors, start, 'loading and disposing leaves no tensor behind');
  }

  for (const name of MODELS) {
    it(`${name}: logits within 1e-5 of the logit range of onnxruntime's, batch of 2 and one image (wasm)${GRADIENT.has(name) ? '; the input gradient flows' : ''}`, async () => {
      await check(name, 'wasm', GRADIENT.has(name));
    });
  }

  it('same_pad_cnn_op13 on the cpu backend too', async () => {
    await check('same_pad_cnn_op13', 'cpu', true);
  });
});
