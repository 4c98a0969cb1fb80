import { strict as assert } from 'node:assert';
import { tf } from '../../src/engine/tfjs/tf';
import { agreementWith, readPeerReference, usePeerSetup } from './helpers/peerReferences';

// The CAMs against pytorch-grad-cam's own output (test/fixtures/peer, recorded by bench/peers/record.py).
// Each line: reference name and the least Pearson r of the two 56×56 maps (README, "Agreement with the peers").
const AGREEMENT: [string, number][] = [
  ['gradcam-dog', 0.9999],
  ['gradcam-elementwise-dog', 0.9999],
  ['gradcam-elementwise-cat', 0.9999],
  ['shapleycam-rest-dog', 0.9999],
  ['shapleycam-rest-cat', 0.9999],
  ['shapleycam-logit-cat', 0.9999],
  ['finercam-dog', 0.9999],
  ['finercam-cat', 0.9999],
  ['fem', 0.9999],
  ['kpca-cam-sigmoid', 0.9999],
  ['kpca-cam-rbf', 0.9999],
  ['fullgrad-dog', 0.9999],
  ['fullgrad-cat', 0.9999],
];

describe('CAMs against pytorch-grad-cam on the same network and photo', () => {
  const peer = usePeerSetup();

  for (const [name, least] of AGREEMENT) {
    it(`${name}: r ≥ ${least}`, async () => {
      const reference = readPeerReference(name);
      const before = tf.memory().numTensors;
      const { r } = await agreementWith(peer.engine, peer.setup, reference);
      assert.equal(tf.memory().numTensors, before, 'tensors left behind');
      console.log(`      ${name} vs ${reference.peer} ${reference.call}: r = ${r.toFixed(6)}`);
      assert.ok(r >= least, `${name}: r = ${r} < ${least}`);
    });
  }
});
