import { strict as assert } from 'node:assert';
import type { ModelProbe } from '../../src/engine/metrics/modelProbe';
import { imageTimesMapChange, road } from '../../src/engine/metrics/road';
import { modelPixels, modelScaler } from '../../src/engine/preprocess';
import { tf } from '../../src/engine/tfjs/tf';
import { readPeerReference, usePeerSetup, type PeerReference } from './helpers/peerReferences';

// ROAD and CamMultImageConfidenceChange against pytorch-grad-cam's own numbers (bench/peers/metrics.py) on
// the same Grad-CAM map. Largest |Δ| of the class probability's change allowed, per metric (README,
// "Agreement with the peers"): the two sides run the same network in float32 on different runtimes.
const MOST_RELEVANT_FIRST = 1e-5;
const LEAST_RELEVANT_FIRST = 1e-5;
const IMAGE_TIMES_MAP = 1e-5;

interface MetricsExtra {
  percentiles: number[];
  morfNoiseless: number[];
  lerfNoiseless: number[];
  combinedNoiseless: number;
  combinedNoise001Seed0: number;
  camMultImageConfidenceChange: number;
}

/** The map both sides evaluate: the stored 56×56 repeated over pool×pool blocks (bench/peers/metrics.py). */
function evaluatedMap(reference: PeerReference): Float32Array {
  const [rows, columns] = reference.size;
  const { pool } = reference;
  const width = columns * pool;
  const map = new Float32Array(rows * pool * width);
  for (let y = 0; y < rows * pool; y++)
    for (let x = 0; x < width; x++) map[y * width + x] = reference.map[Math.floor(y / pool) * columns + Math.floor(x / pool)];
  return map;
}

const maxDifference = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

describe('faithfulness metrics against pytorch-grad-cam on the same network, photo and map', () => {
  const peer = usePeerSetup();
  const reference = readPeerReference('metrics-gradcam-dog');
  const extra = reference.extra as unknown as MetricsExtra;
  const probe = (): ModelProbe => ({
    adapter: peer.setup.model.adapter,
    preprocess: modelScaler(peer.setup.model.summary),
    classIndex: reference.ours.class,
    checkCancelled: () => undefined,
  });

  it(`ROAD without noise: MoRF within ${MOST_RELEVANT_FIRST} and LeRF within ${LEAST_RELEVANT_FIRST} at every percentile`, () => {
    const before = tf.memory().numTensors;
    const pixels = modelPixels(peer.setup.image, peer.setup.model.summary);
    const ours = road(probe(), pixels, evaluatedMap(reference), { percentiles: extra.percentiles, noise: 0, batch: 6 });
    pixels.dispose();
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    const morf = maxDifference(ours.mostRelevantFirst, extra.morfNoiseless);
    const lerf = maxDifference(ours.leastRelevantFirst, extra.lerfNoiseless);
    console.log(
      `      vs ${reference.peer}: max |Δ| MoRF ${morf.toExponential(2)}, LeRF ${lerf.toExponential(2)}, combined ${Math.abs(ours.combined - extra.combinedNoiseless).toExponential(2)} (ours ${ours.combined.toFixed(6)})`,
    );
    assert.ok(morf <= MOST_RELEVANT_FIRST, `MoRF: max |Δ| = ${morf}`);
    assert.ok(lerf <= LEAST_RELEVANT_FIRST, `LeRF: max |Δ| = ${lerf}`);
  });

  it('ROAD with noise: the same seed gives the same numbers, another seed others, both near the peer’s (informative)', () => {
    const pixels = modelPixels(peer.setup.image, peer.setup.model.summary);
    const map = evaluatedMap(reference);
    try {
      const [a, b] = [1, 1].map((seed) => road(probe(), pixels, map, { percentiles: extra.percentiles, seed, batch: 18 }));
      assert.deepEqual(a, b);
      const c = road(probe(), pixels, map, { percentiles: [50], seed: 2, batch: 2 });
      assert.notEqual(c.mostRelevantFirst[0], a.mostRelevantFirst[4], 'another draw of noise');
      console.log(
        `      combined with noise 0.01: ours ${a.combined.toFixed(4)} (seed 1), peer ${extra.combinedNoise001Seed0.toFixed(4)} (torch seed 0)`,
      );
      // Different draws of noise: only loosely the same.
      assert.ok(Math.abs(a.combined - extra.combinedNoise001Seed0) < 0.05);
    } finally {
      pixels.dispose();
    }
  });

  it(`image × map confidence change within ${IMAGE_TIMES_MAP}`, () => {
    const before = tf.memory().numTensors;
    const pixels = modelPixels(peer.setup.image, peer.setup.model.summary);
    const ours = imageTimesMapChange(probe(), pixels, evaluatedMap(reference));
    pixels.dispose();
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    const difference = Math.abs(ours.change - extra.camMultImageConfidenceChange);
    console.log(`      vs ${reference.peer}: ours ${ours.change.toFixed(6)}, |Δ| ${difference.toExponential(2)}`);
    assert.ok(difference <= IMAGE_TIMES_MAP, `|Δ| = ${difference}`);
  });
});
