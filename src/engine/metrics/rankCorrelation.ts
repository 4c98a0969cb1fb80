/** Pearson's and Spearman's correlations (Spearman: Pearson's of the ranks, ties sharing their mean rank). */

function ranks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const result = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    const mean = (start + end - 1) / 2;
    for (let i = start; i < end; i++) result[order[i]] = mean;
    start = end;
  }
  return result;
}

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

/** In −1..1; 0 when either input is constant. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`Cannot correlate ${a.length} values with ${b.length}.`);
  const [ma, mb] = [mean(a), mean(b)];
  let covariance = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < a.length; i++) {
    covariance += (a[i] - ma) * (b[i] - mb);
    va += (a[i] - ma) ** 2;
    vb += (b[i] - mb) ** 2;
  }
  return va > 0 && vb > 0 ? covariance / Math.sqrt(va * vb) : 0;
}

/** In −1..1; 0 when either input is constant (no ordering to agree with). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`Cannot correlate ${a.length} values with ${b.length}.`);
  return pearson(ranks(a), ranks(b));
}
