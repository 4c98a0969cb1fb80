import { strict as assert } from 'node:assert';
import { pearson } from '../../src/engine/metrics/rankCorrelation';
import { conceptPicture } from '../../src/shared/conceptDrawing';
import { tf } from '../../src/engine/tfjs/tf';
import type { Heatmap } from '../../src/engine/types';
import { agreementWith, readPeerReference, usePeerSetup } from './helpers/peerReferences';

// Deep Feature Factorization against pytorch-grad-cam's own (test/fixtures/peer/dff.json, bench/peers/dff.py).
// NMF's concepts come in no particular order, so each of ours is matched to the peer's it correlates with best
// (greedily, best pair first); thresholds as in the README ("Agreement with the peers").
const LEAST_MAP_R = 0.999;
const LEAST_PLAIN_R = 0.9;
const LEAST_CONCEPT_R = 0.9999;
/** Largest difference of a listed class's probability. */
const MOST_SCORE_DIFFERENCE = 1e-4;
const LEAST_LABEL_OVERLAP = 1;
/** The picture from the peer's maps: mean byte difference, and the one ≤ 1 % of values may exceed (cv2's HSV rounding, argmax ties). */
const MOST_MEAN_PICTURE_DIFFERENCE = 0.5;
const MOST_PICTURE_DIFFERENCE = 4;

interface DffExtra {
  concepts: number;
  grid: [number, number];
  /** The peer's picture (RGB bytes) at every pictureStep[1]-th pixel from pictureStep[0], both axes. */
  picture: number[];
  pictureStep: [number, number];
  conceptMaps: number[][];
  conceptClasses: number[][];
  conceptScores: number[][];
}

/** The strength the concept picture draws: per pixel the largest concept map upsampled to 224 (as the peer draws), pooled like the reference. */
function drawnStrength(maps: Heatmap[], pool: number, size: number): Float32Array {
  return tf.tidy(() => {
    const upsampled = maps.map((m) =>
      tf.image.resizeBilinear(tf.tensor3d(m.data, [m.height, m.width, 1]), [size * pool, size * pool], false, true),
    );
    return tf.avgPool(tf.max(tf.stack(upsampled), 0) as tf.Tensor3D, pool, pool, 'valid').dataSync() as Float32Array;
  });
}

/** Pairs (ours, theirs) by descending correlation, each used once. */
function greedyMatch(ours: Float32Array[], theirs: Float32Array[]): { ours: number; theirs: number; r: number }[] {
  const pairs = ours.flatMap((a, i) => theirs.map((b, j) => ({ ours: i, theirs: j, r: pearson(a, b) })));
  pairs.sort((a, b) => b.r - a.r);
  const matched: { ours: number; theirs: number; r: number }[] = [];
  for (const pair of pairs) {
    if (matched.some((m) => m.ours === pair.ours || m.theirs === pair.theirs)) continue;
    matched.push(pair);
  }
  return matched.sort((a, b) => a.theirs - b.theirs);
}

describe('Deep Feature Factorization against pytorch-grad-cam on the same network and photo', () => {
  const peer = usePeerSetup();

  it(`concept maps r ≥ ${LEAST_CONCEPT_R} after matching, top classes overlap ≥ ${LEAST_LABEL_OVERLAP}, drawn strength r ≥ ${LEAST_MAP_R}`, async () => {
    const reference = readPeerReference('dff');
    const extra = reference.extra as unknown as DffExtra;
    const before = tf.memory().numTensors;
    const { r, explanation } = await agreementWith(peer.engine, peer.setup, reference);
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    const concepts = explanation.concepts;
    assert.ok(concepts, 'dff returns its concepts');
    assert.equal(concepts.maps.length, extra.concepts);

    const matched = greedyMatch(
      concepts.maps.map((m) => m.data),
      extra.conceptMaps.map((m) => Float32Array.from(m)),
    );
    let shared = 0;
    let listed = 0;
    let scoreDifference = 0;
    for (const pair of matched) {
      const ourClasses = concepts.classes[pair.ours].map((c) => c.index);
      const theirClasses = extra.conceptClasses[pair.theirs];
      shared += theirClasses.filter((index) => ourClasses.includes(index)).length;
      listed += theirClasses.length;
      theirClasses.forEach((index, i) => {
        const ours = concepts.classes[pair.ours].find((c) => c.index === index);
        if (ours) scoreDifference = Math.max(scoreDifference, Math.abs(ours.score - extra.conceptScores[pair.theirs][i]));
      });
      const scores = concepts.classes[pair.ours].map((c) => c.score.toFixed(3)).join(', ');
      console.log(
        `      concept ${pair.ours} ↔ peer ${pair.theirs}: r = ${pair.r.toFixed(6)} (1 − r = ${(1 - pair.r).toExponential(1)}), classes [${ourClasses}] (${scores}) vs [${theirClasses}] (${extra.conceptScores[pair.theirs].join(', ')})`,
      );
    }
    const overlap = shared / listed;
    const drawn = pearson(drawnStrength(concepts.maps, reference.pool, reference.size[0]), Float32Array.from(reference.map));
    // The plain map is the strongest concept per layer cell, upsampled after the max: close, not equal.
    console.log(
      `      drawn strength r = ${drawn.toFixed(6)} (plain map: ${r.toFixed(6)}), top-class overlap ${(overlap * 100).toFixed(0)} %`,
    );
    for (const pair of matched) assert.ok(pair.r >= LEAST_CONCEPT_R, `concept ${pair.ours}: r = ${pair.r}`);
    console.log(`      largest probability difference ${scoreDifference.toExponential(2)}`);
    assert.ok(scoreDifference <= MOST_SCORE_DIFFERENCE, `probabilities differ by ${scoreDifference}`);
    assert.ok(overlap >= LEAST_LABEL_OVERLAP, `top classes overlap ${overlap}`);
    assert.ok(drawn >= LEAST_MAP_R, `drawn strength r = ${drawn}`);
    assert.ok(r >= LEAST_PLAIN_R, `plain map r = ${r}`);
  });

  it('draws the concepts as pytorch-grad-cam’s show_factorization_on_image does', () => {
    const reference = readPeerReference('dff');
    const extra = reference.extra as unknown as DffExtra;
    const [rows, columns] = extra.grid;
    const maps = extra.conceptMaps.map((m) => ({ width: columns, height: rows, data: Float32Array.from(m) }));
    const size = reference.size[0] * reference.pool;
    const ours = conceptPicture(maps, size, size).data;
    const [first, step] = extra.pictureStep;
    let total = 0;
    let far = 0;
    let samples = 0;
    for (let y = first, i = 0; y < size; y += step)
      for (let x = first; x < size; x += step, samples++)
        for (let c = 0; c < 3; c++, i++) {
          const difference = Math.abs(ours[(y * size + x) * 4 + c] - extra.picture[i]);
          total += difference;
          if (difference > MOST_PICTURE_DIFFERENCE) far++;
        }
    const mean = total / (samples * 3);
    console.log(
      `      picture: mean |Δ| ${mean.toFixed(3)} of 255, ${far} of ${samples * 3} values off by more than ${MOST_PICTURE_DIFFERENCE}`,
    );
    assert.ok(mean <= MOST_MEAN_PICTURE_DIFFERENCE, `mean difference ${mean}`);
    assert.ok(far <= samples * 3 * 0.01, `${far} values far off`);
  });
});
