/**
 * Non-negative matrix factorisation X ≈ W·H as scikit-learn's `NMF(init='random', random_state=seed)` does
 * it with its defaults (solver 'cd', Frobenius loss, tol 1e-4, max_iter 200, no regularisation, no
 * shuffle): the same random start, drawn from NumPy's legacy MT19937 generator, then the same cyclic
 * coordinate descent (Cichocki & Phan 2009), W first, then H. Deep Feature Factorization calls it through
 * pytorch-grad-cam; matching its start and its updates (not just its objective) makes our concepts the
 * peer's, since NMF is non-convex and another start finds other concepts. Plain TypeScript, no tfjs.
 * W and H are stored in float32 as scikit-learn keeps them for float32 activations.
 */

/** NumPy's legacy `RandomState(seed)`: MT19937 seeded by init_genrand, Gaussians by the polar method. */
export class NumpyRandomState {
  private readonly state = new Uint32Array(624);
  private position = 624;
  private spareGaussian: number | null = null;

  constructor(seed: number) {
    this.state[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const previous = this.state[i - 1] ^ (this.state[i - 1] >>> 30);
      this.state[i] = (Math.imul(1812433253, previous) + i) >>> 0;
    }
  }

  private nextUint32(): number {
    const mt = this.state;
    if (this.position >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
        mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.position = 0;
    }
    let y = mt[this.position++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) from 53 random bits (NumPy's random_sample). */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** NumPy's legacy standard_normal: pairs by the polar method, the second of each pair kept for the next call. */
  standardNormal(): number {
    if (this.spareGaussian !== null) {
      const spare = this.spareGaussian;
      this.spareGaussian = null;
      return spare;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2 * this.uniform() - 1;
      x2 = 2 * this.uniform() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.spareGaussian = f * x1;
    return f * x2;
  }
}

/** A row-major matrix. */
export interface Matrix {
  rows: number;
  columns: number;
  data: Float32Array;
}

export interface NmfOptions {
  components: number;
  seed?: number;
  maxIterations?: number;
  tolerance?: number;
  /** Called between iterations (every few) with the iterations done, so a long factorisation can be cancelled and followed. */
  checkCancelled?: (iterations: number) => void;
  /**
   * X·F (`transposed`: Xᵀ·F), row-major [n, k] (or [m, k]), for F = Hᵀ [m, k] (or W [n, k]): the one costly
   * product, which a caller may hand to a faster kernel (DFF: tfjs's matMul). Default: plain TypeScript.
   */
  multiply?: (transposed: boolean, factor: Float32Array) => ArrayLike<number>;
  /** Called after every iteration with the iteration number and ‖X − WH‖_F (only when given: it costs a product). */
  onIteration?: (iteration: number, error: number) => void;
}

export interface NmfResult {
  /** [rows of X, k] */
  w: Matrix;
  /** [k, columns of X] */
  h: Matrix;
  iterations: number;
}

/** How many iterations run between two cancellation checks. */
const CANCEL_EVERY = 10;

/** scikit-learn's init='random': H, then W, each |N(0, 1)|·√(mean(X)/k), in float32. */
function randomStart(x: Matrix, k: number, seed: number): { w: Float32Array; ht: Float32Array } {
  let sum = 0;
  for (const v of x.data) sum += v;
  const scale = Math.fround(Math.sqrt(Math.fround(sum / x.data.length) / k));
  const random = new NumpyRandomState(seed);
  const draw = (count: number) =>
    Float32Array.from({ length: count }, () => Math.abs(Math.fround(scale * Math.fround(random.standardNormal()))));
  const h = draw(k * x.columns);
  const w = draw(x.rows * k);
  // Coordinate descent works on Hᵀ [columns, k], as scikit-learn does.
  const ht = new Float32Array(x.columns * k);
  for (let t = 0; t < k; t++) for (let j = 0; j < x.columns; j++) ht[j * k + t] = h[t * x.columns + j];
  return { w, ht };
}

/** A·F for A [rows, columns] and F [columns, k], row-major, as dot products of contiguous rows: n·m·k multiply-adds. */
function product(a: Float32Array, rows: number, columns: number, f: Float32Array, k: number): Float64Array {
  const ft = new Float32Array(k * columns);
  for (let j = 0; j < columns; j++) for (let t = 0; t < k; t++) ft[t * columns + j] = f[j * k + t];
  const out = new Float64Array(rows * k);
  for (let i = 0; i < rows; i++) {
    const row = i * columns;
    for (let t = 0; t < k; t++) {
      const column = t * columns;
      let sum = 0;
      for (let j = 0; j < columns; j++) sum += a[row + j] * ft[column + j];
      out[i * k + t] = sum;
    }
  }
  return out;
}

/**
 * One sweep of coordinate descent on W [n, k] for X [n, m] ≈ W·Htᵀ with Ht [m, k] fixed, given X·Ht
 * (scikit-learn's _update_coordinate_descent + _update_cdnmf_fast): each column t of W in turn gets the
 * exact minimiser of the loss along it, clipped at 0. Returns the sum of |projected gradient|, the
 * convergence measure.
 */
function sweep(xht: ArrayLike<number>, n: number, m: number, w: Float32Array, ht: Float32Array, k: number): number {
  const gram = new Float64Array(k * k);
  for (let j = 0; j < m; j++)
    for (let a = 0; a < k; a++) {
      const v = ht[j * k + a];
      for (let b = 0; b < k; b++) gram[a * k + b] += v * ht[j * k + b];
    }
  for (let i = 0; i < gram.length; i++) gram[i] = Math.fround(gram[i]);
  let violation = 0;
  for (let t = 0; t < k; t++) {
    const hess = gram[t * k + t];
    for (let i = 0; i < n; i++) {
      let grad = -Math.fround(xht[i * k + t]);
      for (let r = 0; r < k; r++) grad += gram[t * k + r] * w[i * k + r];
      const current = w[i * k + t];
      violation += Math.abs(current === 0 ? Math.min(0, grad) : grad);
      if (hess !== 0) w[i * k + t] = Math.max(current - grad / hess, 0);
    }
  }
  return violation;
}

/** ‖X − W·H‖_F, for the caller's progress and the tests. */
export function reconstructionError(x: Matrix, w: Matrix, h: Matrix): number {
  const k = w.columns;
  let sum = 0;
  for (let i = 0; i < x.rows; i++)
    for (let j = 0; j < x.columns; j++) {
      let v = 0;
      for (let t = 0; t < k; t++) v += w.data[i * k + t] * h.data[t * x.columns + j];
      const d = x.data[i * x.columns + j] - v;
      sum += d * d;
    }
  return Math.sqrt(sum);
}

/** X [n, m] ≥ 0 ≈ W [n, k] · H [k, m], W, H ≥ 0, as scikit-learn's NMF with init='random' (see the file's comment). */
export function nmf(x: Matrix, options: NmfOptions): NmfResult {
  const { components: k, seed = 0, maxIterations = 200, tolerance = 1e-4 } = options;
  const { rows: n, columns: m } = x;
  for (const v of x.data) if (!(v >= 0)) throw new Error('NMF needs a non-negative matrix.');
  const { w, ht } = randomStart(x, k, seed);
  let xt: Float32Array | undefined;
  const multiply =
    options.multiply ??
    ((transposed: boolean, factor: Float32Array) => {
      if (!transposed) return product(x.data, n, m, factor, k);
      if (!xt) {
        // Xᵀ stored once: the H sweep reads it row by row too.
        xt = new Float32Array(n * m);
        for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) xt[j * n + i] = x.data[i * m + j];
      }
      return product(xt, m, n, factor, k);
    });
  const matrices = () => {
    const h = new Float32Array(k * m);
    for (let j = 0; j < m; j++) for (let t = 0; t < k; t++) h[t * m + j] = ht[j * k + t];
    return { w: { rows: n, columns: k, data: w }, h: { rows: k, columns: m, data: h } };
  };
  let firstViolation = 0;
  let iteration = 1;
  for (; iteration <= maxIterations; iteration++) {
    if (iteration % CANCEL_EVERY === 0) options.checkCancelled?.(iteration - 1);
    const violation = sweep(multiply(false, ht), n, m, w, ht, k) + sweep(multiply(true, w), m, n, ht, w, k);
    if (options.onIteration) {
      const { w: wm, h: hm } = matrices();
      options.onIteration(iteration, reconstructionError(x, wm, hm));
    }
    if (iteration === 1) firstViolation = violation;
    if (firstViolation === 0 || violation / firstViolation <= tolerance) break;
  }
  return { ...matrices(), iterations: Math.min(iteration, maxIterations) };
}
