/**
 * What LIME and KernelSHAP share (Captum's LimeBase): random coalitions of SLIC superpixels (1 = the segment
 * is kept, 0 = replaced by the baseline), the class score of each masked copy, a weight per coalition, and a
 * weighted linear model fitted from coalitions to scores; each segment is painted with its coefficient.
 *
 * The fit is sklearn's, which Captum calls: data centred by weighted means (the intercept is not penalised),
 * then minimise (1 / 2Σw) Σ wᵢ (yᵢ − xᵢβ)² + α‖β‖₁ — by coordinate descent for α > 0 (Lasso, Captum's LIME
 * default with α = 0.01), by the weighted normal equations for α = 0 (LinearRegression, Captum's KernelSHAP).
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { mapTensor, perturbationBaseline, scoreMaskedCopies } from './masking';
import { coalitionMasks, paintSegments, segmentationOf } from './superpixels';
import type { Segmentation } from '../image/slic';

export interface LinearFit {
  coefficients: Float64Array;
  intercept: number;
}

/** Weighted linear fit of y on the 0/1 rows, with an L1 penalty α (0: least squares). */
export function fitLinear(rows: ArrayLike<number>[], y: ArrayLike<number>, w: ArrayLike<number>, alpha: number): LinearFit {
  const n = rows.length;
  const m = n ? rows[0].length : 0;
  let total = 0;
  for (let i = 0; i < n; i++) total += w[i];
  const xMean = new Float64Array(m);
  let yMean = 0;
  for (let i = 0; i < n; i++) {
    yMean += (w[i] * y[i]) / total;
    for (let j = 0; j < m; j++) xMean[j] += (w[i] * rows[i][j]) / total;
  }
  // Centred columns, x̃ᵢⱼ, column-major for the sweeps.
  const x = Array.from({ length: m }, (_, j) => Float64Array.from({ length: n }, (_, i) => rows[i][j] - xMean[j]));
  const yc = Float64Array.from({ length: n }, (_, i) => y[i] - yMean);
  const beta = alpha > 0 ? lasso(x, yc, w, total, alpha) : leastSquares(x, yc, w);
  let intercept = yMean;
  for (let j = 0; j < m; j++) intercept -= xMean[j] * beta[j];
  return { coefficients: beta, intercept };
}

function lasso(x: Float64Array[], y: Float64Array, w: ArrayLike<number>, total: number, alpha: number): Float64Array {
  const m = x.length;
  const n = y.length;
  const beta = new Float64Array(m);
  const residual = Float64Array.from(y);
  const curvature = x.map((column) => column.reduce((sum, v, i) => sum + w[i] * v * v, 0) / total);
  for (let sweep = 0; sweep < 10000; sweep++) {
    let largestStep = 0;
    let largestBeta = 0;
    for (let j = 0; j < m; j++) {
      if (curvature[j] <= 0) continue;
      const column = x[j];
      let rho = 0;
      for (let i = 0; i < n; i++) rho += w[i] * column[i] * residual[i];
      rho = rho / total + curvature[j] * beta[j];
      const next = (Math.sign(rho) * Math.max(Math.abs(rho) - alpha, 0)) / curvature[j];
      const step = next - beta[j];
      if (step !== 0) for (let i = 0; i < n; i++) residual[i] -= column[i] * step;
      beta[j] = next;
      largestStep = Math.max(largestStep, Math.abs(step));
      largestBeta = Math.max(largestBeta, Math.abs(next));
    }
    if (largestStep <= 1e-10 * Math.max(largestBeta, 1e-10)) break;
  }
  return beta;
}

/** Solves (X̃ᵀWX̃) β = X̃ᵀWỹ by Gaussian elimination; directions the data leave undetermined get 0. */
function leastSquares(x: Float64Array[], y: Float64Array, w: ArrayLike<number>): Float64Array {
  const m = x.length;
  const a = x.map((ci) => x.map((cj) => ci.reduce((sum, v, i) => sum + w[i] * v * cj[i], 0)));
  const b = x.map((ci) => ci.reduce((sum, v, i) => sum + w[i] * v * y[i], 0));
  const scale = Math.max(1e-300, ...a.map((row, i) => Math.abs(row[i])));
  const pivotRow: number[] = [];
  for (let col = 0, row = 0; col < m && row < m; col++) {
    let best = row;
    for (let r = row + 1; r < m; r++) if (Math.abs(a[r][col]) > Math.abs(a[best][col])) best = r;
    if (Math.abs(a[best][col]) <= 1e-12 * scale) continue;
    [a[row], a[best]] = [a[best], a[row]];
    [b[row], b[best]] = [b[best], b[row]];
    for (let r = 0; r < m; r++) {
      if (r === row || a[r][col] === 0) continue;
      const factor = a[r][col] / a[row][col];
      for (let c = col; c < m; c++) a[r][c] -= factor * a[row][c];
      b[r] -= factor * b[row];
    }
    pivotRow[col] = row++;
  }
  return Float64Array.from({ length: m }, (_, col) => (pivotRow[col] === undefined ? 0 : b[pivotRow[col]] / a[pivotRow[col]][col]));
}

/** What a surrogate technique adds to the shared run: its coalitions, their weights and its penalty. */
export interface SurrogateDesign {
  coalitions: Uint8Array[];
  /** The weight of coalition i, given the image, the baseline and the segments. */
  weight: (coalition: Uint8Array, context: CoalitionContext) => number;
  alpha: number;
}

/** Per-segment sums of the image x and the baseline b (over pixels and channels): x·x, x·b, b·b. */
export interface CoalitionContext {
  xx: Float64Array;
  xb: Float64Array;
  bb: Float64Array;
}

function coalitionContext(segments: Segmentation, input: Tensor4D, baseline: Tensor4D): CoalitionContext {
  const [x, b] = [input.dataSync(), baseline.dataSync()];
  const channels = input.shape[3];
  const sums = { xx: new Float64Array(segments.count), xb: new Float64Array(segments.count), bb: new Float64Array(segments.count) };
  segments.labels.forEach((label, p) => {
    for (let c = p * channels; c < (p + 1) * channels; c++) {
      sums.xx[label] += x[c] * x[c];
      sums.xb[label] += x[c] * b[c];
      sums.bb[label] += b[c] * b[c];
    }
  });
  return sums;
}

export abstract class SurrogateTechnique extends Technique {
  /** The coalitions to score, their weights and the fit's penalty, for this request. */
  protected abstract design(request: TechniqueInput, segments: Segmentation): SurrogateDesign;

  run(request: TechniqueInput): TechniqueOutput {
    const [, h, w] = request.input.shape;
    const segments = segmentationOf(request.pixels, request.parameters);
    const { coalitions, weight, alpha } = this.design(request, segments);
    const baseline = perturbationBaseline(String(request.parameters.baseline), request);
    const context = coalitionContext(segments, request.input, baseline);
    const weights = coalitions.map((coalition) => weight(coalition, context));
    const scores = new Float64Array(coalitions.length);
    let scored = 0;
    const fitted = () => fitLinear(coalitions.slice(0, scored), scores.subarray(0, scored), weights.slice(0, scored), alpha).coefficients;
    scoreMaskedCopies(request, baseline, {
      count: coalitions.length,
      batch: Number(request.parameters.batch),
      noun: 'sample',
      masks: (start, size) => coalitionMasks(segments, coalitions.slice(start, start + size)),
      take: (start, values) => {
        scores.set(values, start);
        scored = start + values.length;
      },
      preview: () => ({ map: mapTensor(paintSegments(segments, fitted()), h, w), signed: true }),
    });
    tf.dispose(baseline);
    return { map: mapTensor(paintSegments(segments, fitted()), h, w), signed: true, layer: '', notes: [], segments };
  }
}
