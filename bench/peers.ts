/**
 * `npm run bench:peers [-- NAME ...]`: each method of the peer references (test/fixtures/peer/*.json, written
 * by bench/peers/record.py) timed in CNN Lens and in the peer's own code (pytorch-grad-cam, Captum, run from
 * their checkouts by bench/peers/time.py) on the same network (the fixture MobileNet v1 0.25: its ONNX export
 * here, the PyTorch module there), image and class, on this machine. Rounds alternate between the two sides so
 * that slow spells hit both; the table gives medians, ours ÷ peer, and Pearson's r of our map against the
 * recorded one. Needs Debian's python3-torch and the checkouts (CNN_LENS_PEERS, default ../peers).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Acceleration } from '../src/engine/accel/ortRuntime';
import { selectBackend } from '../src/engine/tfjs/backend';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../src/engine/image';
import { loadModel, type LoadedModel } from '../src/engine/models/loadModel';
import { imageTimesMapChange, road, ROAD_NOISE } from '../src/engine/metrics/road';
import { modelPixels, modelScaler } from '../src/engine/preprocess';
import { pearson } from '../src/engine/metrics/rankCorrelation';
import { resolveParameters } from '../src/engine/techniques/parameters';
import { findTechnique } from '../src/engine/techniques/registry';
import { tf } from '../src/engine/tfjs/tf';
import type { TechniqueParameters } from '../src/engine/types';
import { median, PYTHON, pythonMissing } from './measure';

const ROOT = path.resolve(__dirname, '..');
const REFERENCES = path.join(ROOT, 'test/fixtures/peer');
const ONNX = path.join(ROOT, 'test-results/onnx-models/fixture_mobilenet_v1_025.onnx');
const ROUNDS = 2;

interface Reference {
  name: string;
  peer: string;
  pool: number;
  size: [number, number];
  map: number[];
  ours: { technique: string; class: number; layer?: string; parameters?: TechniqueParameters };
}

/** The peer's times for one reference (bench/peers/time.py), and the parameters CNN Lens should time with instead of the reference's, if any. */
function peerRun(name: string, repeats: number, warmup: boolean): { seconds: number[]; ours: TechniqueParameters | null } {
  const out = execFileSync(PYTHON, [path.join(ROOT, 'bench/peers/time.py'), name, String(repeats), warmup ? '1' : '0'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 1_800_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { seconds: number[]; ours: TechniqueParameters | null };
}

/**
 * What the metrics reference's peer run computes (bench/peers/metrics.py): ROAD without noise and with the
 * default noise, and the image × map confidence change, all on the recorded map repeated over its 4×4 blocks.
 */
function evaluateAsThePeer(loaded: LoadedModel, pixels: tf.Tensor4D, reference: Reference): void {
  const [rows, columns] = reference.size;
  const width = columns * reference.pool;
  const map = new Float32Array(rows * reference.pool * width);
  for (let y = 0; y < rows * reference.pool; y++)
    for (let x = 0; x < width; x++)
      map[y * width + x] = reference.map[Math.floor(y / reference.pool) * columns + Math.floor(x / reference.pool)];
  const probe = {
    adapter: loaded.adapter,
    preprocess: modelScaler(loaded.summary),
    classIndex: reference.ours.class,
    checkCancelled: () => undefined,
  };
  road(probe, pixels, map, { noise: 0, batch: 18 });
  road(probe, pixels, map, { noise: ROAD_NOISE, seed: 0, batch: 18 });
  imageTimesMapChange(probe, pixels, map);
}

export async function comparePeers(fixtures: string, only: string[]): Promise<void> {
  const missing = pythonMissing(['torch', 'cv2'], ['python3-torch', 'python3-opencv']);
  if (missing) return console.log(`bench:peers needs the peers' Python: ${missing}`);
  if (!existsSync(ONNX)) {
    execFileSync(PYTHON, [path.join(ROOT, 'scripts/export-onnx-test-models.py'), path.dirname(ONNX)], {
      stdio: 'inherit',
      env: { ...process.env, ONNX_MODELS: 'fixture_mobilenet_v1_025' },
    });
  }
  await selectBackend({ choice: 'wasm', log: () => undefined });
  const acceleration = new Acceleration('auto');
  const labelsPath = path.join(fixtures, 'labels/imagenet_classes.json');
  const loaded = await loadModel(ONNX, { preprocess: 'mobilenet', labelsPath }, {}, acceleration);
  const image = await readImageFile(path.join(fixtures, 'images/pytorch-cnn-visualizations/cat_dog.png'), DEFAULT_IMAGE_LIMITS);
  const preprocess = modelScaler(loaded.summary);
  const pixels = modelPixels(image, loaded.summary);
  const input = preprocess(pixels);
  const references = readdirSync(REFERENCES)
    .filter((file) => file.endsWith('.json'))
    .map((file) => JSON.parse(readFileSync(path.join(REFERENCES, file), 'utf8')) as Reference)
    // A reference without a technique of ours to run (slic-skimage: our segments against scikit-image's) is not timed.
    .filter((reference) => reference.ours?.technique && (only.length === 0 || only.includes(reference.name)));
  console.log(
    `CNN Lens (${acceleration.runtime ? 'onnxruntime' : 'TF.js'}) vs the peers' own code, MobileNet v1 0.25, cat_dog.png, medians in ms:`,
  );
  const rows: Record<string, string | number>[] = [];
  for (const reference of references) {
    const technique = findTechnique(reference.ours.technique);
    const layer = reference.ours.layer ?? loaded.summary.defaultLayer ?? '';
    const run = (given: TechniqueParameters) =>
      tf.tidy(() => {
        const out = technique.run({
          model: loaded.adapter,
          input,
          pixels,
          preprocess,
          classIndex: reference.ours.class,
          layer,
          parameters: resolveParameters(technique.info.id, technique.info.parameters, given),
          checkCancelled: () => undefined,
          reportProgress: () => undefined,
        });
        const [h, w] = out.map.shape;
        const size = reference.size.map((d) => d * reference.pool) as [number, number];
        const full =
          h === size[0] && w === size[1] ? out.map : tf.image.resizeBilinear(out.map.reshape([h, w, 1]) as tf.Tensor3D, size, false, true);
        return tf.avgPool(full.reshape([1, ...size, 1]) as tf.Tensor4D, reference.pool, reference.pool, 'valid').dataSync() as Float32Array;
      });
    const metrics = reference.name.startsWith('metrics-');
    const timeOurs = (given: TechniqueParameters) => {
      const start = performance.now();
      if (metrics) evaluateAsThePeer(loaded, pixels, reference);
      else run(given);
      return performance.now() - start;
    };
    // Agreement with the recorded map, at the reference's own settings (a metrics reference evaluates that map).
    const r = metrics ? 1 : pearson(run(reference.ours.parameters ?? {}), Float32Array.from(reference.map));
    const oursMs: number[] = [];
    const peerMs: number[] = [];
    let timedWith: TechniqueParameters = reference.ours.parameters ?? {};
    let overridden = false;
    // Runs over 5 s (RISE at its authors' 6000 masks, ROAD) are timed once per round, without a warm-up on the peer's side.
    let repeats = 3;
    for (let round = 0; round < ROUNDS; round++) {
      const peer = peerRun(reference.name, round === 0 ? 1 : repeats, round === 0 || repeats > 1);
      peerMs.push(...peer.seconds.map((s) => s * 1000));
      if (round === 0 && peer.seconds[0] > 5) repeats = 1;
      if (peer.ours) timedWith = peer.ours;
      overridden ||= peer.ours !== null;
      if (round === 0 && repeats > 1) timeOurs(timedWith);
      for (let i = 0; i < repeats; i++) oursMs.push(timeOurs(timedWith));
    }
    const [a, b] = [median(oursMs), median(peerMs)];
    rows.push({
      method: reference.name,
      peer: reference.peer,
      settings: overridden ? JSON.stringify(timedWith) : '',
      'CNN Lens ms': Number(a.toFixed(1)),
      'peer ms': Number(b.toFixed(1)),
      'ours ÷ peer': Number((a / b).toFixed(2)),
      r: Number(r.toFixed(6)),
    });
    console.log(`  ${reference.name}: ${a.toFixed(1)} ms vs ${b.toFixed(1)} ms`);
  }
  console.table(rows);
  input.dispose();
  pixels.dispose();
  loaded.adapter.dispose();
}
