/**
 * A multigrid preconditioner for the imputation's systems (imputation.ts). Conjugate gradients with symmetric
 * SOR still needed ~100 steps where a hole spans most of the image, because a step only carries information
 * one pixel further; a V-cycle moves it across the hole at every scale at once.
 *
 * Aggregation multigrid: the unknown pixels are grouped by 2×2 blocks of the image, then blocks of blocks, and
 * each coarser system is the Galerkin product Pᵀ A P with P the piecewise-constant prolongation (every pixel
 * takes its block's value), so every level stays symmetric and positive definite. One V-cycle — a forward
 * Gauss–Seidel sweep, the coarse correction, a backward sweep — is a symmetric preconditioner, as conjugate
 * gradients need.
 */
import type { SparseSymmetric } from './imputation';

interface Level {
  matrix: SparseSymmetric;
  /** For each unknown of this level, its block on the next (coarser) level; absent on the coarsest. */
  block?: Int32Array;
  /** Scratch vectors of this level's size. */
  x: Float64Array;
  residual: Float64Array;
}

/** Levels stop when a system has at most this many unknowns: it is then solved by sweeps alone. */
const COARSEST = 64;
/** Sweeps that stand in for a direct solve on the coarsest level. */
const COARSEST_SWEEPS = 30;
/**
 * Piecewise-constant prolongation underestimates a smooth error's energy; scaling the coarse correction up
 * compensates (unsmoothed aggregation's usual remedy). Measured on 90 % of a 224×224 image removed.
 */
const CORRECTION = 1.8;

/** The V-cycle for `matrix`, whose unknown i sits at pixel (row[i], column[i]). */
export function multigridPreconditioner(
  matrix: SparseSymmetric,
  row: Int32Array,
  column: Int32Array,
): (r: Float64Array, z: Float64Array) => void {
  const levels: Level[] = [];
  let current = matrix;
  let rows = row;
  let columns = column;
  for (;;) {
    const n = current.diagonal.length;
    const level: Level = { matrix: current, x: new Float64Array(n), residual: new Float64Array(n) };
    levels.push(level);
    if (n <= COARSEST) break;
    const coarse = coarsen(current, rows, columns);
    if (coarse.matrix.diagonal.length >= n) break;
    level.block = coarse.block;
    ({ matrix: current, rows, columns } = coarse);
  }
  return (r, z) => {
    vCycle(levels, 0, r);
    z.set(levels[0].x);
  };
}

function coarsen(
  m: SparseSymmetric,
  rows: Int32Array,
  columns: Int32Array,
): { matrix: SparseSymmetric; block: Int32Array; rows: Int32Array; columns: Int32Array } {
  const n = m.diagonal.length;
  const ids = new Map<number, number>();
  const block = new Int32Array(n);
  const coarseRows: number[] = [];
  const coarseColumns: number[] = [];
  for (let i = 0; i < n; i++) {
    const [y, x] = [rows[i] >> 1, columns[i] >> 1];
    const key = y * 65536 + x;
    let id = ids.get(key);
    if (id === undefined) {
      id = coarseRows.push(y) - 1;
      coarseColumns.push(x);
      ids.set(key, id);
    }
    block[i] = id;
  }
  const size = coarseRows.length;
  const diagonal = new Float64Array(size);
  const entries: Map<number, number>[] = Array.from({ length: size }, () => new Map());
  for (let i = 0; i < n; i++) {
    const I = block[i];
    diagonal[I] += m.diagonal[i];
    for (let e = m.rowStart[i]; e < m.rowStart[i + 1]; e++) {
      const J = block[m.columns[e]];
      // Off-diagonal entries are −weights: inside one block they lower its diagonal.
      if (J === I) diagonal[I] -= m.weights[e];
      else entries[I].set(J, (entries[I].get(J) ?? 0) + m.weights[e]);
    }
  }
  const rowStart = new Int32Array(size + 1);
  const coarseColumnsOut: number[] = [];
  const weights: number[] = [];
  entries.forEach((row, I) => {
    for (const [J, weight] of row) {
      coarseColumnsOut.push(J);
      weights.push(weight);
    }
    rowStart[I + 1] = coarseColumnsOut.length;
  });
  return {
    matrix: { diagonal, rowStart, columns: Int32Array.from(coarseColumnsOut), weights: Float64Array.from(weights) },
    block,
    rows: Int32Array.from(coarseRows),
    columns: Int32Array.from(coarseColumns),
  };
}

/** One Gauss–Seidel sweep on m x = b, forward or backward. */
function sweep(m: SparseSymmetric, x: Float64Array, b: Float64Array, forward: boolean): void {
  const n = m.diagonal.length;
  for (let k = 0; k < n; k++) {
    const i = forward ? k : n - 1 - k;
    let sum = b[i];
    for (let e = m.rowStart[i]; e < m.rowStart[i + 1]; e++) sum += m.weights[e] * x[m.columns[e]];
    x[i] = sum / m.diagonal[i];
  }
}

/** Leaves an approximate solution of level l's system for right-hand side b in levels[l].x. */
function vCycle(levels: Level[], l: number, b: Float64Array): void {
  const { matrix: m, block, x, residual } = levels[l];
  x.fill(0);
  if (!block) {
    for (let s = 0; s < COARSEST_SWEEPS; s++) {
      sweep(m, x, b, true);
      sweep(m, x, b, false);
    }
    return;
  }
  sweep(m, x, b, true);
  // residual = b − m x
  for (let i = 0; i < x.length; i++) {
    let ax = m.diagonal[i] * x[i];
    for (let e = m.rowStart[i]; e < m.rowStart[i + 1]; e++) ax -= m.weights[e] * x[m.columns[e]];
    residual[i] = b[i] - ax;
  }
  const coarse = levels[l + 1];
  const restricted = new Float64Array(coarse.x.length);
  for (let i = 0; i < x.length; i++) restricted[block[i]] += residual[i];
  vCycle(levels, l + 1, restricted);
  for (let i = 0; i < x.length; i++) x[i] += CORRECTION * coarse.x[block[i]];
  sweep(m, x, b, false);
}
