/**
 * Plain-JavaScript, double-precision forms of the Keras layers the import runs with CNN Lens's own code or
 * tfjs's, written from their definitions (Keras's documentation and keras/src at 3422977), never from the
 * code under test: the tests compare the imported model's predictions with these. Arrays are flat,
 * row-major, without the batch axis.
 */

/** A reproducible stream of numbers in [-scale, scale). */
export function numbers(count: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  });
}

/** erf by its Maclaurin series (exact to double precision for the |x| < 4 the tests use). */
export function erf(x: number): number {
  if (Math.abs(x) > 5) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum) || n < 3; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export const geluExact = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Layer normalisation of each run of `channels` values (the last axis). */
export function layerNorm(
  x: ArrayLike<number>,
  channels: number,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  epsilon: number,
): number[] {
  const out: number[] = [];
  for (let start = 0; start < x.length; start += channels) {
    const row = Array.from({ length: channels }, (_, c) => x[start + c]);
    const mean = row.reduce((a, b) => a + b, 0) / channels;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / channels;
    row.forEach((v, c) => out.push(((v - mean) / Math.sqrt(variance + epsilon)) * gamma[c] + beta[c]));
  }
  return out;
}

/** x · W + b over the last axis: x [rows, inUnits], W [inUnits, units]. */
export function dense(
  x: ArrayLike<number>,
  kernel: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  inUnits: number,
  units: number,
): number[] {
  const rows = x.length / inUnits;
  const out = new Array<number>(rows * units).fill(0);
  for (let r = 0; r < rows; r++) {
    for (let u = 0; u < units; u++) {
      let sum = bias ? bias[u] : 0;
      for (let i = 0; i < inUnits; i++) sum += x[r * inUnits + i] * kernel[i * units + u];
      out[r * units + u] = sum;
    }
  }
  return out;
}

/**
 * Depthwise convolution, stride 1, 'same' padding (odd kernel): x [h, w, c], kernel [k, k, c, m], output
 * channel c·m + j from input channel c.
 */
export function depthwiseSame(
  x: ArrayLike<number>,
  [h, w, c]: number[],
  kernel: ArrayLike<number>,
  k: number,
  m: number,
  bias: ArrayLike<number>,
): number[] {
  const out: number[] = [];
  const pad = (k - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < w; xx++) {
      for (let ch = 0; ch < c; ch++) {
        for (let j = 0; j < m; j++) {
          let sum = bias[ch * m + j];
          for (let dy = 0; dy < k; dy++) {
            for (let dx = 0; dx < k; dx++) {
              const [sy, sx] = [y + dy - pad, xx + dx - pad];
              if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
              sum += x[(sy * w + sx) * c + ch] * kernel[((dy * k + dx) * c + ch) * m + j];
            }
          }
          out.push(sum);
        }
      }
    }
  }
  return out;
}

export interface AttentionWeights {
  heads: number;
  keyDim: number;
  valueDim: number;
  /** Kernels [in, heads, dim] (output: [heads, valueDim, out]) and biases [heads, dim] ([out]); biases may be null. */
  query: [Float32Array, Float32Array | null];
  key: [Float32Array, Float32Array | null];
  value: [Float32Array, Float32Array | null];
  output: [Float32Array, Float32Array | null];
}

/** Multi-head attention of one sequence: query [T, Cq], value [S, Cv], key [S, Ck] → [T, out]. */
export function attention(
  query: ArrayLike<number>,
  value: ArrayLike<number>,
  key: ArrayLike<number>,
  w: AttentionWeights,
  channels: { q: number; v: number; k: number },
  units: number,
): number[] {
  const { heads: h, keyDim: dk, valueDim: dv } = w;
  const q = dense(query, w.query[0], w.query[1], channels.q, h * dk);
  const kk = dense(key, w.key[0], w.key[1], channels.k, h * dk);
  const v = dense(value, w.value[0], w.value[1], channels.v, h * dv);
  const [t, s] = [query.length / channels.q, value.length / channels.v];
  const combined = new Array<number>(t * h * dv).fill(0);
  for (let head = 0; head < h; head++) {
    for (let i = 0; i < t; i++) {
      const scores = Array.from({ length: s }, (_, j) => {
        let dot = 0;
        for (let d = 0; d < dk; d++) dot += q[(i * h + head) * dk + d] * kk[(j * h + head) * dk + d];
        return dot / Math.sqrt(dk);
      });
      const top = Math.max(...scores);
      const exp = scores.map((x) => Math.exp(x - top));
      const total = exp.reduce((a, b) => a + b, 0);
      for (let e = 0; e < dv; e++) {
        let sum = 0;
        for (let j = 0; j < s; j++) sum += (exp[j] / total) * v[(j * h + head) * dv + e];
        combined[(i * h + head) * dv + e] = sum;
      }
    }
  }
  return dense(combined, w.output[0], w.output[1], h * dv, units);
}

/** Random attention weights for the given channel counts. */
export function attentionWeights(
  heads: number,
  keyDim: number,
  valueDim: number,
  channels: { q: number; v: number; k: number },
  units: number,
  seed: number,
  bias = true,
): AttentionWeights {
  const pair = (kernel: number, b: number, s: number): [Float32Array, Float32Array | null] => [
    numbers(kernel, s, 0.6),
    bias ? numbers(b, s + 1, 0.3) : null,
  ];
  return {
    heads,
    keyDim,
    valueDim,
    query: pair(channels.q * heads * keyDim, heads * keyDim, seed),
    key: pair(channels.k * heads * keyDim, heads * keyDim, seed + 2),
    value: pair(channels.v * heads * valueDim, heads * valueDim, seed + 4),
    output: pair(heads * valueDim * units, units, seed + 6),
  };
}
