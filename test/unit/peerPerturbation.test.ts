import { strict as assert } from 'node:assert';
import { segmentationHash } from '../../src/engine/techniques/superpixels';
import { tf } from '../../src/engine/tfjs/tf';
import { agreementWith, readPeerReference, usePeerSetup } from './helpers/peerReferences';

// The perturbation techniques against Captum's and RISE's authors' own output (test/fixtures/peer, recorded by
// bench/peers/record.py from bench/peers/perturbation.py). Each line: reference name and the least Pearson r
// of the two 56×56 maps (README, "Agreement with the peers").
const AGREEMENT: [string, number][] = [
  ['occlusion-dog', 0.999],
  ['feature-ablation-dog', 0.999],
  ['lime-dog', 0.999],
  ['kernel-shap-dog', 0.999],
  ['rise-dog', 0.999],
  ['gradient-shap-dog', 0.999],
];

describe('Perturbation techniques against Captum and the RISE authors’ code on the same network and photo', () => {
  const peer = usePeerSetup();

  for (const [name, least] of AGREEMENT) {
    it(`${name}: r ≥ ${least}`, async () => {
      const reference = readPeerReference(name);
      const before = tf.memory().numTensors;
      const { r, explanation } = await agreementWith(peer.engine, peer.setup, reference);
      const recorded = reference.extra?.segmentsHash;
      if (recorded) {
        assert.ok(explanation.segments, 'no segments');
        assert.equal(segmentationHash(explanation.segments), recorded, 'the reference was made on other superpixels');
      }
      assert.equal(tf.memory().numTensors, before, 'tensors left behind');
      console.log(`      ${name} vs ${reference.peer} ${reference.call}: r = ${r.toFixed(6)}`);
      assert.ok(r >= least, `${name}: r = ${r} < ${least}`);
    });
  }
});
