/**
 * Attention rollout and attention × gradient on hand-made attention (a stand-in model that hands out
 * given probabilities and gradients), against the papers' formulas computed here in float64; and the
 * token-grid arithmetic that lays ViT sequences on the image.
 */
import { strict as assert } from 'node:assert';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { AttentionEvidence, AttentionLayout, ModelAdapter } from '../../src/engine/models/adapter';
import { tokenGrid } from '../../src/engine/models/onnx/layerViews';
import { findTechnique } from '../../src/engine/techniques/registry';
import type { TechniqueInput } from '../../src/engine/techniques/base';
import { tf } from '../../src/engine/tfjs/tf';

type Matrix = number[][];

function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Row-stochastic random matrices [heads][T][T]. */
function randomAttention(heads: number, tokens: number, next: () => number): Matrix[] {
  return Array.from({ length: heads }, () =>
    Array.from({ length: tokens }, () => {
      const row = Array.from({ length: tokens }, () => Math.exp(3 * next()));
      const sum = row.reduce((a, b) => a + b, 0);
      return row.map((v) => v / sum);
    }),
  );
}

const multiply = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const identity = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const combine = (heads: Matrix[], f: (values: number[]) => number): Matrix =>
  heads[0].map((row, i) => row.map((_, j) => f(heads.map((h) => h[i][j]))));

function standIn(layout: AttentionLayout, probabilities: Matrix[][], gradients: Matrix[][]): ModelAdapter {
  const asTensor = (blocks: Matrix[][]) => blocks.map((heads) => tf.tensor(heads).expandDims(0) as Tensor4D);
  return {
    attentionLayout: () => layout,
    readAttention: (_input: Tensor4D, classIndex: number | null): AttentionEvidence => ({
      probabilities: asTensor(probabilities),
      gradients: classIndex === null ? null : asTensor(gradients),
    }),
  } as unknown as ModelAdapter;
}

function run(id: string, model: ModelAdapter, parameters: Record<string, number | string> = {}): number[][] {
  return tf.tidy(() => {
    const input = tf.zeros([1, 8, 8, 3]) as Tensor4D;
    const request: TechniqueInput = {
      model,
      input,
      pixels: input,
      preprocess: (p) => p,
      classIndex: 3,
      layer: '',
      parameters: { headFusion: 'mean', discardRatio: 0, ...parameters },
      checkCancelled: () => undefined,
      reportProgress: () => undefined,
    };
    return findTechnique(id).run(request).map.arraySync() as number[][];
  });
}

function assertClose(actual: number[][], expected: number[][], tolerance: number): void {
  assert.deepEqual([actual.length, actual[0].length], [expected.length, expected[0].length]);
  actual.forEach((row, i) =>
    row.forEach((v, j) => assert.ok(Math.abs(v - expected[i][j]) <= tolerance, `[${i}][${j}] ${v} vs ${expected[i][j]}`)),
  );
}

describe('attention techniques', () => {
  // A DeiT-like layout: class and distillation tokens, then a 2×3 grid of patches.
  const layout: AttentionLayout = { blocks: 3, heads: 2, special: 2, grid: [2, 3] };
  const tokens = 2 + 6;
  const next = seeded(42);
  const probabilities = Array.from({ length: layout.blocks }, () => randomAttention(layout.heads, tokens, next));
  const gradients = Array.from({ length: layout.blocks }, () =>
    Array.from({ length: layout.heads }, () => Array.from({ length: tokens }, () => Array.from({ length: tokens }, () => next() - 0.5))),
  );
  const model = standIn(layout, probabilities, gradients);
  const patchRow = (r: Matrix) => [r[0].slice(2, 5), r[0].slice(5, 8)];

  it('rolls out ½A + ½I over the blocks (Abnar & Zuidema) and reads the class token row on the grid', () => {
    const start = tf.memory().numTensors;
    for (const fusion of ['mean', 'max', 'min'] as const) {
      const fuse = {
        mean: (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length,
        max: (v: number[]) => Math.max(...v),
        min: (v: number[]) => Math.min(...v),
      }[fusion];
      let rollout: Matrix | null = null;
      for (const heads of probabilities) {
        const fused = combine(heads, fuse);
        const mixed = fused.map((row, i) => row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0)));
        const normalised = mixed.map((row) => row.map((v) => v / row.reduce((a, b) => a + b, 0)));
        rollout = rollout ? multiply(normalised, rollout) : normalised;
      }
      assertClose(run('attention-rollout', model, { headFusion: fusion }), patchRow(rollout!), 1e-5);
    }
    assert.equal(tf.memory().numTensors, start);
  });

  it('with identity attention, the rollout is the identity: the class token draws on no patch', () => {
    const eye = identity(tokens);
    const map = run('attention-rollout', standIn(layout, [[eye, eye]], []));
    assert.ok(map.flat().every((v) => v === 0));
  });

  it('discards the weakest weights but keeps the class token attending to itself', () => {
    const heads = [combine(probabilities[0], (v) => v[0])];
    const flat = heads[0].flat();
    const cut = [...flat].sort((a, b) => a - b)[Math.floor(flat.length * 0.5) - 1];
    const kept = heads[0].map((row, i) => row.map((v, j) => (v <= cut && !(i === 0 && j === 0) ? 0 : v)));
    const mixed = kept.map((row, i) => row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0)));
    const normalised = mixed.map((row) => row.map((v) => v / row.reduce((a, b) => a + b, 0)));
    const single = standIn({ ...layout, blocks: 1, heads: 1 }, [heads], []);
    assertClose(run('attention-rollout', single, { discardRatio: 0.5 }), patchRow(normalised), 1e-6);
  });

  it('accumulates R ← R + mean_h (∇A ⊙ A)⁺ · R from R = I (Chefer et al. 2021)', () => {
    const start = tf.memory().numTensors;
    let relevance = identity(tokens);
    probabilities.forEach((heads, b) => {
      const weighted = combine(
        heads.map((h, k) => h.map((row, i) => row.map((v, j) => Math.max(0, v * gradients[b][k][i][j])))),
        (v) => v.reduce((a, c) => a + c, 0) / v.length,
      );
      relevance = relevance.map((row, i) => row.map((v, j) => v + multiply(weighted, relevance)[i][j]));
    });
    assertClose(run('attention-gradient', model), patchRow(relevance), 1e-5);
    assert.equal(tf.memory().numTensors, start);
  });

  it('without a class token (pooled tokens), averages every token’s row', () => {
    const pooled: AttentionLayout = { blocks: 1, heads: 1, special: 0, grid: [2, 3] };
    const heads = randomAttention(1, 6, seeded(7));
    const mixed = heads[0].map((row, i) => row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0)));
    const mean = mixed[0].map((_, j) => mixed.reduce((sum, row) => sum + row[j], 0) / mixed.length);
    assertClose(run('attention-rollout', standIn(pooled, [heads], [])), [mean.slice(0, 3), mean.slice(3, 6)], 1e-6);
  });

  it('names what is missing on a model without global self-attention', () => {
    assert.throws(() => run('attention-rollout', {} as ModelAdapter), /needs a ViT-family model/);
  });
});

describe('token grids', () => {
  it('finds the special tokens and the patch grid of ViT, DeiT, register and non-square sequences', () => {
    assert.deepEqual(tokenGrid(197, 224, 224), { special: 1, grid: [14, 14] });
    assert.deepEqual(tokenGrid(198, 224, 224), { special: 2, grid: [14, 14] });
    assert.deepEqual(tokenGrid(201, 224, 224), { special: 5, grid: [14, 14] });
    assert.deepEqual(tokenGrid(196, 224, 224), { special: 0, grid: [14, 14] });
    assert.deepEqual(tokenGrid(1 + 14 * 20, 224, 320), { special: 1, grid: [14, 20] });
    assert.equal(tokenGrid(1000, 224, 224), null);
    assert.equal(tokenGrid(3, 224, 224), null);
  });
});
