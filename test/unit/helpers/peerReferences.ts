/**
 * The peers' own outputs, recorded by bench/peers/record.py (which runs pytorch-grad-cam and Captum from
 * their checkouts, CI cannot download them) on the fixture MobileNet v1 0.25 rebuilt in PyTorch and the
 * 224×224 cat_dog.png: test/fixtures/peer/NAME.json. CNN Lens runs the same network exported to ONNX
 * (fixture_mobilenet_v1_025) on the same pixels; a test compares the two maps at the reference's 56×56
 * (the input-size map averaged over 4×4 blocks) by Pearson's r, with its own threshold.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../../src/engine/image';
import type { LoadedModel } from '../../../src/engine/models/loadModel';
import { pearson } from '../../../src/engine/metrics/rankCorrelation';
import { tf } from '../../../src/engine/tfjs/tf';
import type { Explanation, Heatmap, RgbaImage, TechniqueParameters } from '../../../src/engine/types';
import { fixture, requireFixtures } from './fixtures';
import { onnxTestModels } from './onnxModels';
import { SUITE_ONNXRUNTIME } from './suiteAcceleration';

const REFERENCES = path.resolve(__dirname, '../../fixtures/peer');

export interface PeerReference {
  name: string;
  /** The peer and its commit, e.g. "pytorch-grad-cam 084273b". */
  peer: string;
  /** The peer's call that made the map. */
  call: string;
  model: string;
  image: string;
  /** What CNN Lens runs for the same map. */
  ours: { technique: string; class: number; layer?: string; parameters?: TechniqueParameters };
  pool: number;
  size: [number, number];
  map: number[];
  /** Whatever else the peer's run recorded (masks' seed, metric values, …). */
  extra?: Record<string, unknown>;
}

export function readPeerReference(name: string): PeerReference {
  return JSON.parse(readFileSync(path.join(REFERENCES, `${name}.json`), 'utf8')) as PeerReference;
}

export interface PeerSetup {
  model: LoadedModel;
  image: RgbaImage;
}

/** The ONNX export of the fixture MobileNet and the photo, or a reason to skip. */
export async function loadPeerSetup(engine: Engine): Promise<PeerSetup | { skip: string }> {
  const models = onnxTestModels(['fixture_mobilenet_v1_025']);
  if ('skip' in models) return models;
  const model = await engine.loadModel(models.paths.fixture_mobilenet_v1_025, {
    preprocess: 'mobilenet',
    labelsPath: fixture('labels/imagenet_classes.json'),
  });
  const image = await readImageFile(fixture('images/pytorch-cnn-visualizations/cat_dog.png'), DEFAULT_IMAGE_LIMITS);
  return { model, image };
}

/**
 * What every peer suite sets up, as mocha hooks of the describe it is called in: an engine (wasm; onnxruntime
 * where installed) and the peer setup, the suite skipped, saying why, where the ONNX export cannot be made.
 */
export function usePeerSetup(): { engine: Engine; setup: PeerSetup } {
  const peer = {} as { engine: Engine; setup: PeerSetup };
  before(async function () {
    requireFixtures(this);
    peer.engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    const loaded = await loadPeerSetup(peer.engine);
    if ('skip' in loaded) {
      console.log(`    (skipped: ${loaded.skip})`);
      this.skip();
    }
    peer.setup = loaded as PeerSetup;
  });
  after(() => peer.engine?.dispose());
  return peer;
}

/** A map at the reference's resolution: upsampled to `size`·`pool` as the peers do (bilinear, half-pixel centres), then block-averaged. */
export function pooledLike(map: Heatmap, reference: Pick<PeerReference, 'pool' | 'size'>): Float32Array {
  const [rows, columns] = reference.size;
  const [height, width] = [rows * reference.pool, columns * reference.pool];
  return tf.tidy(() => {
    let grid = tf.tensor3d(map.data, [map.height, map.width, 1]);
    if (map.height !== height || map.width !== width) grid = tf.image.resizeBilinear(grid, [height, width], false, true);
    return tf.avgPool(grid, reference.pool, reference.pool, 'valid').dataSync() as Float32Array;
  });
}

/** Runs what the reference says CNN Lens should run, and Pearson's r of our raw map against the peer's. */
export async function agreementWith(
  engine: Engine,
  setup: PeerSetup,
  reference: PeerReference,
): Promise<{ r: number; explanation: Explanation }> {
  const { technique, layer, parameters } = reference.ours;
  const explanation = await engine.explain(setup.model, setup.image, {
    technique,
    classTarget: reference.ours.class,
    ...(layer ? { layer } : {}),
    parameters: parameters ?? {},
  });
  return { r: pearson(pooledLike(explanation.rawMap, reference), Float32Array.from(reference.map)), explanation };
}
