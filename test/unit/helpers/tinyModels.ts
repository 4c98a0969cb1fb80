/** Tiny models built in the tests, saved to a temp folder in the TF.js format and loaded back. */
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf, tfl } from '../../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../../src/engine/types';

/** Set (to anything but '' or 0) to keep the tests' temporary folders for a look after the run. */
export const KEEP_TEMP_ENV = 'CNN_LENS_KEEP_TEST_TEMP';

const made = new Set<string>();
let hooked = false;

export function keepTempFolders(): boolean {
  const keep = process.env[KEEP_TEMP_ENV];
  return !!keep && keep !== '0';
}

/**
 * A fresh folder under the OS temp folder, removed after the run: by rootHooks.ts's afterAll in a mocha run,
 * at process exit in a script (the fuzz driver) — unless CNN_LENS_KEEP_TEST_TEMP is set.
 */
export function tempDir(prefix = 'cnnlens-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => void removeTempFolders());
  }
  return dir;
}

/** Removes every folder `tempDir` made (unless they are to be kept); returns how many there were. */
export function removeTempFolders(): number {
  const count = made.size;
  if (keepTempFolders()) return count;
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A folder made read-only by a test, or already gone: the next run's folders are fresh anyway.
    }
  }
  made.clear();
  return count;
}

/** Writes model.json + one shard (the TF.js converter's layout) and an optional cnnlens.json. */
export async function saveModel(model: tfl.LayersModel, dir: string, sidecar?: object): Promise<string> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData as ArrayBuffer;
      await fs.writeFile(path.join(dir, 'group1-shard1of1.bin'), Buffer.from(weightData));
      const json = {
        format: 'layers-model',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
      };
      await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (sidecar) await fs.writeFile(path.join(dir, 'cnnlens.json'), JSON.stringify(sidecar));
  return path.join(dir, 'model.json');
}

/** Sets every weight of a layer from plain arrays. */
export function setWeights(layer: tfl.layers.Layer, values: number[][]): void {
  const shapes = layer.getWeights().map((w) => w.shape);
  layer.setWeights(values.map((v, i) => tf.tensor(v, shapes[i])));
}

/** conv(3×3, relu) → conv(1×1, relu) → GAP → dense: random weights, a nontrivial Grad-CAM head. */
export function twoConvGapModel(seed: number, size = 6, channels = 3, classes = 4): tfl.Sequential {
  const init = (s: number) => tfl.initializers.randomNormal({ mean: 0, stddev: 0.5, seed: s });
  const model = tfl.sequential();
  model.add(
    tfl.layers.conv2d({
      inputShape: [size, size, channels],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv_a',
      kernelInitializer: init(seed),
      biasInitializer: init(seed + 1),
    }),
  );
  model.add(
    tfl.layers.conv2d({
      filters: 3,
      kernelSize: 1,
      activation: 'relu',
      name: 'conv_b',
      kernelInitializer: init(seed + 2),
      biasInitializer: init(seed + 3),
    }),
  );
  model.add(tfl.layers.globalAveragePooling2d({ name: 'gap' }));
  model.add(tfl.layers.dense({ units: classes, name: 'logits', kernelInitializer: init(seed + 4), biasInitializer: init(seed + 5) }));
  return model;
}

/** 8×8 RGB → 1×1 conv (channel 0 sees red, channel 1 green) → GAP → dense: class i reads channel i. */
export function redGreenModel(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 1, activation: 'relu', name: 'colour' }));
  model.add(tfl.layers.globalAveragePooling2d({}));
  model.add(tfl.layers.dense({ units: 2, name: 'logits' }));
  setWeights(model.getLayer('colour'), [
    [1, 0, 0, 1, 0, 0],
    [0, 0],
  ]);
  setWeights(model.getLayer('logits'), [
    [1, 0, 0, 1],
    [0, 0],
  ]);
  return model;
}

export function solidImage(width: number, height: number, rgb: [number, number, number]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([...rgb, 255], i * 4);
  return { width, height, data };
}

/** Deterministic pseudo-random RGB image (no Math.random: failures must reproduce). */
export function noiseImage(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1664525 + 1013904223) >>> 0;
    data[i] = i % 4 === 3 ? 255 : state >>> 24;
  }
  return { width, height, data };
}
