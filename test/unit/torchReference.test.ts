/**
 * The PyTorch reference (scripts/torch_reference.py) that the transformer techniques are compared with,
 * checked against facts it does not compute itself: finite differences of the model's own forward pass
 * (Grad-CAM's channel weights, saliency, the attention-gradient products), the softmax rows of the captured
 * attention, the model's output with and without the capture (and onnxruntime's on the exported file), and
 * each step of rollout and of Chefer's rule redone here from the arrays it returns. In float64, so the
 * finite differences are tight. Two runs of the script: a small CNN and the distilled DeiT.
 */
import { strict as assert } from 'node:assert';
import { onnxTestModels, runOnnxRuntime } from './helpers/onnxModels';
import { torchReference, torchReferenceMissing, type TorchReference, type TorchReferenceOptions } from './helpers/torchReference';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

/** Deterministic values in [-1, 1). */
function seededInput(shape: number[], seed: number): Float32Array {
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next);
}

function reference(name: string, input: Float32Array, shape: number[], classIndex: number, options: TorchReferenceOptions): TorchReference {
  const result = torchReference(name, input, shape, classIndex, options);
  if ('skip' in result) throw new Error(result.skip);
  return result;
}

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** Largest |a - b| relative to the largest |b|. */
function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / maxAbs(b);
}

/** Row-major n×n matrices. */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  return out;
}

function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

function rowSums(m: ArrayLike<number>, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += m[i * n + j];
    return s;
  });
}

/** The class-token row (index 0) over the patch tokens (after `special`). */
function classRow(m: ArrayLike<number>, n: number, special: number): number[] {
  return Array.from({ length: n - special }, (_, j) => m[special + j]);
}

/** Central differences (y(+ε) - y(-ε)) / 2ε of consecutive ± pairs. */
function centralDifferences<T extends { eps: number; score: number }>(runs: T[]): { run: T; slope: number }[] {
  const out = [];
  for (let i = 0; i < runs.length; i += 2) {
    assert.equal(runs[i + 1].eps, -runs[i].eps);
    out.push({ run: runs[i], slope: (runs[i].score - runs[i + 1].score) / (2 * runs[i].eps) });
  }
  return out;
}

const pm = <T extends { eps: number }>(items: T[]) => items.flatMap((o) => [o, { ...o, eps: -o.eps }]);

describe('PyTorch reference for the transformer techniques (scripts/torch_reference.py)', function () {
  this.timeout(120_000);
  const cnnShape = [1, 3, 37, 45];
  const deitShape = [1, 3, 224, 224];
  const cnnInput = seededInput(cnnShape, 11);
  const deitInput = seededInput(deitShape, 12);
  const cnnChannels = [0, 7, 23];
  const pixels = [
    [0, 0],
    [18, 22],
    [36, 44],
  ];
  // Each ± pair costs two float64 DeiT forward passes (~0.7 s here): a few, chosen to cover each case.
  const tokenChannels = [150];
  const attentionRows: { block: number; row: number | 'all' }[] = [
    { block: 1, row: 0 },
    { block: 3, row: 'all' },
  ];
  let cnn: TorchReference;
  let deit: TorchReference;

  before(function () {
    // Nothing here runs CNN Lens's engine: the suite's second pass (onnxruntime off) would repeat it as is.
    if (SUITE_ONNXRUNTIME === 'off') {
      console.log('      skipped: it runs once, in the onnxruntime pass');
      this.skip();
    }
    const reason = torchReferenceMissing();
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    // The CNN's score is piecewise linear in the layer and the input, so small steps give exact slopes.
    cnn = reference('same_pad_cnn_op13', cnnInput, cnnShape, 3, {
      layer: 'conv3',
      dtype: 'float64',
      details: true,
      offsets: pm(cnnChannels.map((channel) => ({ channel, eps: 1e-6 }))),
      inputOffsets: pm(pixels.flatMap(([y, x]) => [0, 1, 2].map((channel) => ({ channel, y, x, eps: 1e-4 })))),
    });
    deit = reference('deit_tiny_dist_op13', deitInput, deitShape, 5, {
      dtype: 'float64',
      details: true,
      headFusion: 'max',
      discardRatio: 0.9,
      offsets: pm(tokenChannels.map((channel) => ({ channel, eps: 1e-5 }))),
      attentionOffsets: pm(attentionRows.map((r) => ({ ...r, eps: 1e-5 }))),
    });
  });

  it('Grad-CAM of a CNN: each channel weight is the finite difference of the score over its map, the map ReLU(Σ w·A)', () => {
    const { grid, weights, activations, map, layout } = cnn.gradcam;
    assert.equal(layout, 'nchw');
    assert.deepEqual(grid, [10, 12]);
    const w = weights!.data;
    const [h, wd] = grid;
    for (const { run, slope } of centralDifferences(cnn.offsets!)) {
      const estimate = slope / (h * wd);
      assert.ok(Math.abs(estimate - w[run.channel]) <= 1e-7 * maxAbs(w), `channel ${run.channel}: ${estimate} vs ${w[run.channel]}`);
    }
    const a = activations!.data;
    const redone = Array.from({ length: h * wd }, (_, p) => {
      let sum = 0;
      for (let c = 0; c < w.length; c++) sum += w[c] * a[c * h * wd + p];
      return Math.max(0, sum);
    });
    assert.ok(relativeDiff(map, redone) < 1e-12);
    assert.ok(map.some((v) => v > 0) && map.some((v) => v === 0), 'the map should have both rectified and positive cells');
  });

  it('saliency is the largest |∂score/∂input| over the channels (finite differences at three pixels)', () => {
    assert.deepEqual(cnn.saliency.grid, [37, 45]);
    const slopes = centralDifferences(cnn.inputOffsets!);
    for (const [y, x] of pixels) {
      const here = slopes.filter(({ run }) => run.y === y && run.x === x).map(({ slope }) => Math.abs(slope));
      assert.equal(here.length, 3);
      const expected = Math.max(...here);
      const got = cnn.saliency.map[y * 45 + x];
      assert.ok(Math.abs(got - expected) <= 1e-6 * expected, `pixel (${y}, ${x}): ${got} vs ${expected}`);
    }
  });

  it('Grad-CAM at a DeiT token layer reads the 196 patch tokens only (both special tokens dropped)', () => {
    assert.equal(deit.gradcam.layer, 'encoder.layers.encoder_layer_3.ln_1');
    assert.equal(deit.gradcam.layout, 'tokens');
    assert.deepEqual(deit.gradcam.grid, [14, 14]);
    assert.equal(deit.tokens!.special, 2);
    const w = deit.gradcam.weights!.data;
    for (const { run, slope } of centralDifferences(deit.offsets!)) {
      const estimate = slope / 196;
      assert.ok(Math.abs(estimate - w[run.channel]) <= 1e-6 * maxAbs(w), `channel ${run.channel}: ${estimate} vs ${w[run.channel]}`);
    }
  });

  it('the attention capture leaves the output as it was, and the model is the exported ONNX file', async function () {
    assert.ok(deit.capture.maxAbsDiff <= 1e-12 * deit.capture.logitRange, `capture changed the logits by ${deit.capture.maxAbsDiff}`);
    const models = onnxTestModels(['deit_tiny_dist_op13']);
    if ('skip' in models) return this.skip();
    const ort = await runOnnxRuntime(models.paths.deit_tiny_dist_op13, deitInput, deitShape);
    assert.ok(relativeDiff(ort.data, deit.logits) < 1e-5, 'the reference builds other weights than the ONNX file holds');
  });

  it('the captured attention is softmax probabilities: every row of every head sums to 1', () => {
    const { shape, data } = deit.attention!;
    const [blocks, heads, t] = shape;
    assert.deepEqual([blocks, heads, t], [4, 3, 198]);
    for (let m = 0; m < blocks * heads; m++) {
      const sums = rowSums(data.subarray(m * t * t, (m + 1) * t * t), t);
      assert.ok(Math.max(...sums.map((s) => Math.abs(s - 1))) < 1e-12);
    }
  });

  it('rollout (max fusion, discard 0.9): fusion and discarding as defined, every prefix row-stochastic, P_l = Â_l·P_(l-1), the class-token row', () => {
    const { shape, data } = deit.attention!;
    const [blocks, heads, t] = shape;
    const fused = deit.rollout!.fused!.data;
    const prefixes = deit.rollout!.prefixes!.data;
    const size = t * t;
    const k = Math.floor(size * 0.9);
    let previous = identity(t);
    let renormalised = false;
    for (let l = 0; l < blocks; l++) {
      const fusedHere = new Float64Array(size);
      for (let e = 0; e < size; e++) {
        let m = -Infinity;
        for (let h = 0; h < heads; h++) m = Math.max(m, data[(l * heads + h) * size + e]);
        fusedHere[e] = m;
      }
      const order = Array.from(fusedHere.keys()).sort((a, b) => fusedHere[a] - fusedHere[b]);
      for (const e of order.slice(0, k)) if (e !== 0) fusedHere[e] = 0;
      assert.ok(relativeDiff(fused.subarray(l * size, (l + 1) * size), fusedHere) === 0, `block ${l}: fused matrix`);
      assert.ok(fusedHere[0] > 0, 'the class token keeps its attention to itself');
      const hat = fusedHere.map((v, e) => 0.5 * v + (e % (t + 1) === 0 ? 0.5 : 0));
      const sums = rowSums(hat, t);
      renormalised ||= sums.some((s) => Math.abs(s - 1) > 0.01);
      const normalised = hat.map((v, e) => v / sums[Math.floor(e / t)]);
      const expected = matmul(normalised, previous, t);
      const prefix = prefixes.subarray(l * size, (l + 1) * size);
      assert.ok(relativeDiff(prefix, expected) < 1e-12, `block ${l}: prefix`);
      assert.ok(Math.max(...rowSums(prefix, t).map((s) => Math.abs(s - 1))) < 1e-12, `block ${l}: prefix rows`);
      previous = expected;
    }
    assert.ok(renormalised, 'max fusion with discarding leaves rows that do not sum to 1: the renormalisation is tested');
    assert.ok(relativeDiff(deit.rollout!.map, classRow(prefixes.subarray((blocks - 1) * size), t, 2)) === 0);
  });

  it("attention gradient: Σ ∇A⊙A of a query row is the finite difference of scaling that row's attention; Ā and R as Chefer's rule", () => {
    const { shape, data: a } = deit.attention!;
    const g = deit.attentionGrad!.data;
    const [blocks, heads, t] = shape;
    const size = t * t;
    for (const { run, slope } of centralDifferences(deit.attentionOffsets!)) {
      let sum = 0;
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < t; i++) {
          if (run.row !== 'all' && i !== run.row) continue;
          for (let j = 0; j < t; j++) {
            const e = (run.block * heads + h) * size + i * t + j;
            sum += g[e] * a[e];
          }
        }
      assert.ok(Math.abs(sum - slope) <= 1e-6 * Math.abs(slope), `block ${run.block} row ${run.row}: ${sum} vs ${slope}`);
    }
    const products = deit.attentionGradient!.products!.data;
    let relevance = identity(t);
    let clamped = false;
    for (let l = 0; l < blocks; l++) {
      const bar = new Float64Array(size);
      for (let h = 0; h < heads; h++)
        for (let e = 0; e < size; e++) {
          const p = g[(l * heads + h) * size + e] * a[(l * heads + h) * size + e];
          clamped ||= p < 0;
          bar[e] += Math.max(0, p) / heads;
        }
      assert.ok(relativeDiff(products.subarray(l * size, (l + 1) * size), bar) < 1e-12, `block ${l}: Ā`);
      const step = matmul(bar, relevance, t);
      relevance = relevance.map((v, e) => v + step[e]);
    }
    assert.ok(clamped, 'some products are negative: the clamp is tested');
    assert.ok(relativeDiff(deit.attentionGradient!.relevance!.data, relevance) < 1e-12);
    assert.ok(relativeDiff(deit.attentionGradient!.map, classRow(relevance, t, 2)) < 1e-12);
  });
});
