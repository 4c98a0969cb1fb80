/**
 * Forward pass vs Grad-CAM, per backend, for the shipped model and MobileNet v1 0.75 (../shared fixtures).
 * Prints medians and the ratio Grad-CAM ÷ forward measured in the same run (absolute times are noisy).
 *   npm run bench            (all backends that load)
 *   npm run bench -- wasm    (one backend)
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { selectBackend, type BackendChoice } from '../src/engine/backend';
import { bundledModelPath } from '../src/engine/bundledModel';
import { loadModel, type LoadedModel } from '../src/engine/models/loadModel';
import { toModelInput } from '../src/engine/preprocess';
import { findTechnique } from '../src/engine/techniques/registry';
import { tf } from '../src/engine/tf';
import type { RgbaImage } from '../src/engine/types';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../src/engine/image';

const FIXTURES = path.resolve(__dirname, '../../shared/fixtures');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(run: () => void, warmup: number, repeats: number): number {
  for (let i = 0; i < warmup; i++) run();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

function measure(loaded: LoadedModel, image: RgbaImage, repeats: number) {
  const { adapter, summary } = loaded;
  const input = toModelInput(image, summary.inputShape, summary.preprocessing.preset);
  const gradCam = findTechnique('gradcam');
  const layer = summary.defaultLayer!;
  // dataSync makes each timing include the work, not just its scheduling.
  const forward = time(() => tf.tidy(() => adapter.scores(input).dataSync()), 2, repeats);
  const cam = time(() => tf.tidy(() => gradCam.run({ model: adapter, input, classIndex: 0, layer }).map.dataSync()), 2, repeats);
  input.dispose();
  return { forward, cam };
}

async function main(): Promise<void> {
  const only = process.argv[2] as BackendChoice | undefined;
  const backends: BackendChoice[] = only ? [only] : ['tensorflow', 'wasm', 'cpu'];
  const models: { name: string; path: string; image: string }[] = [
    { name: 'fashion-cam (shipped)', path: bundledModelPath(), image: path.resolve(path.dirname(bundledModelPath()), '../samples') },
  ];
  if (existsSync(FIXTURES)) {
    models.push({ name: 'MobileNet v1 0.75', path: path.join(FIXTURES, 'models/mobilenet_v1_0.75_224_layers'), image: path.join(FIXTURES, 'images/pytorch-cnn-visualizations/snake.png') });
  } else {
    console.log(`(MobileNet skipped: no fixtures at ${FIXTURES})`);
  }
  console.log(`| backend | model | forward (median ms) | Grad-CAM (median ms) | Grad-CAM ÷ forward |`);
  console.log(`|---|---|---|---|---|`);
  for (const choice of backends) {
    let label: string;
    let reason = '';
    try {
      label = (await selectBackend({ choice, log: (line) => (reason = line) })).label;
    } catch {
      console.log(`| ${choice} | — | ${reason || 'not available'} | | |`);
      continue;
    }
    for (const model of models) {
      const loaded = await loadModel(model.path);
      const imagePath = model.image.endsWith('.png') ? model.image : firstPng(model.image);
      const image = await readImageFile(imagePath, DEFAULT_IMAGE_LIMITS);
      const repeats = choice === 'cpu' && model.name.startsWith('MobileNet') ? 5 : 21;
      const { forward, cam } = measure(loaded, image, repeats);
      console.log(`| ${label} | ${model.name} | ${forward.toFixed(1)} | ${cam.toFixed(1)} | ${(cam / forward).toFixed(2)} |`);
      loaded.adapter.dispose();
    }
  }
}

function firstPng(dir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const files = (require('node:fs') as typeof import('node:fs')).readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
  if (!files.length) throw new Error(`No sample PNG in ${dir}`);
  return path.join(dir, files[0]);
}

void main();
