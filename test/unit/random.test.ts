import { strict as assert } from 'node:assert';
import { gaussian, gaussianValues } from '../../src/engine/random';
import { tf } from '../../src/engine/tfjs/tf';

/** Φ(x), from erf by Abramowitz & Stegun 7.1.26's better cousin (Numerical Recipes' erfc, error < 1.2e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

describe('seeded Gaussian noise (ziggurat on sfc32)', () => {
  it('is N(0, 1): moments, tails, and a Kolmogorov–Smirnov test at 1 %', () => {
    const n = 400_000;
    const values = gaussianValues(n, 0, 1, 42);
    let sum = 0;
    let squares = 0;
    let fourth = 0;
    let beyond2 = 0;
    let beyond3 = 0;
    let beyondR = 0;
    let tailSum = 0;
    for (const v of values) {
      sum += v;
      squares += v * v;
      fourth += v ** 4;
      if (Math.abs(v) > 2) beyond2++;
      if (Math.abs(v) > 3) beyond3++;
      if (Math.abs(v) > 3.4426) {
        beyondR++;
        tailSum += Math.abs(v);
      }
    }
    // Standard errors: mean 1/√n = 0.0016, variance √(2/n) = 0.0022, kurtosis √(96/n) = 0.015.
    assert.ok(Math.abs(sum / n) < 0.008, `mean ${sum / n}`);
    assert.ok(Math.abs(squares / n - 1) < 0.011, `variance ${squares / n}`);
    assert.ok(Math.abs(fourth / n - 3) < 0.08, `fourth moment ${fourth / n}`);
    // P(|x| > 2) = 0.0455, P(|x| > 3) = 0.0027, beyond the ziggurat's base R = 0.000576 (drawn by the tail method).
    assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.0017, `P(|x|>2) ${beyond2 / n}`);
    assert.ok(Math.abs(beyond3 / n - 0.0027) < 0.0004, `P(|x|>3) ${beyond3 / n}`);
    assert.ok(Math.abs(beyondR / n - 0.000576) < 0.00019, `P(|x|>R) ${beyondR / n}`);
    // Beyond R, E[|x|] = φ(R) / (1 − Φ(R)) ≈ 3.70 (standard error ≈ 0.02 here).
    const R = 3.4426;
    const tailMean = Math.exp((-R * R) / 2) / Math.sqrt(2 * Math.PI) / (1 - normalCdf(R));
    assert.ok(Math.abs(tailSum / beyondR - tailMean) < 0.08, `mean beyond R ${tailSum / beyondR}, expected ${tailMean}`);
    const sorted = Array.from(values).sort((a, b) => a - b);
    let distance = 0;
    sorted.forEach((v, i) => (distance = Math.max(distance, Math.abs(normalCdf(v) - (i + 0.5) / n))));
    assert.ok(distance < 1.63 / Math.sqrt(n), `KS distance ${distance}`);
  });

  it('is the same for a seed, different for another, and neighbouring values are uncorrelated', () => {
    assert.deepEqual(gaussianValues(1000, 0, 1, 7), gaussianValues(1000, 0, 1, 7));
    const a = gaussianValues(100_000, 0, 1, 7);
    const b = gaussianValues(100_000, 0, 1, 8);
    let cross = 0;
    let lag = 0;
    for (let i = 0; i < a.length - 1; i++) {
      cross += a[i] * b[i];
      lag += a[i] * a[i + 1];
    }
    // Correlations of independent draws: standard error 1/√n ≈ 0.0032.
    assert.ok(Math.abs(cross / a.length) < 0.016, `seeds 7 and 8 correlate: ${cross / a.length}`);
    assert.ok(Math.abs(lag / a.length) < 0.016, `lag-1 correlation ${lag / a.length}`);
  });

  it('scales and shifts, and makes a tensor of the shape asked', () => {
    const before = tf.memory().numTensors;
    const t = gaussian<tf.Tensor4D>([2, 30, 30, 3], 5, 0.5, 1);
    assert.deepEqual(t.shape, [2, 30, 30, 3]);
    const { mean, variance } = tf.moments(t);
    assert.ok(Math.abs(mean.dataSync()[0] - 5) < 0.03);
    assert.ok(Math.abs(Math.sqrt(variance.dataSync()[0]) - 0.5) < 0.02);
    tf.dispose([t, mean, variance]);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(gaussianValues(3, 0, 1, 1).length, 3);
  });
});
