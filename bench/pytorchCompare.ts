/**
 * `npm run bench:pytorch [-- BACKEND]`: CNN Lens against a PyTorch reference on the same network and
 * weights (bench/pytorch_reference.py rebuilds the TF.js model in PyTorch), same image, same machine,
 * one run: forward (batch 1, batch 32 per image), Grad-CAM, saliency, Score-CAM (64 channels, all).
 * Prints each time, its ratio to PyTorch's and to our own forward pass. Without PyTorch it says why.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend, type BackendChoice } from '../src/engine/backend';
import { bundledModelPath } from '../src/engine/bundledModel';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../src/engine/image';
import { loadModel } from '../src/engine/models/loadModel';
import { modelJsonPathOf } from '../src/engine/models/modelFiles';
import { tf } from '../src/engine/tf';
import { prepare, time } from './measure';

const PYTHON = '/usr/bin/python3';
const REFERENCE = path.resolve(__dirname, '../bench/pytorch_reference.py');

type Timings = Record<'forward' | 'forward_batch32_per_image' | 'gradcam' | 'saliency' | 'scorecam64', number> & { scorecam_all?: number; threads?: number; torch?: string };

function pytorchMissing(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  try {
    execFileSync(PYTHON, ['-c', 'import torch, PIL'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'python3-torch (or python3-pil) is not installed: apt-get install python3-torch python3-pil';
  }
}

function pytorchTimings(modelJson: string, image: string, preset: string, layer: string, all: boolean): Timings {
  const args = [REFERENCE, modelJson, image, preset, layer, '--threads', String(Math.min(2, os.cpus().length)), ...(all ? ['--scorecam-all'] : [])];
  return JSON.parse(execFileSync(PYTHON, args, { encoding: 'utf8', timeout: 30 * 60_000 }).trim().split('\n').pop()!) as Timings;
}

export async function comparePytorch(fixtures: string, backend: BackendChoice): Promise<void> {
  const missing = pytorchMissing();
  if (missing) {
    console.log(`(PyTorch comparison skipped: ${missing})`);
    return;
  }
  const label = (await selectBackend({ choice: backend, log: () => undefined })).label;
  const models = [{ name: 'fashion-cam (shipped)', path: modelJsonPathOf(bundledModelPath()), image: path.resolve(path.dirname(modelJsonPathOf(bundledModelPath())), '../samples/bag.png') }];
  for (const alpha of ['0.25', '0.75']) {
    const dir = path.join(fixtures, `models/mobilenet_v1_${alpha}_224_layers`);
    if (existsSync(dir)) models.push({ name: `MobileNet v1 ${alpha}`, path: path.join(dir, 'model.json'), image: path.join(fixtures, 'images/pytorch-cnn-visualizations/snake.png') });
  }
  console.log(`CNN Lens on ${label} vs PyTorch (same weights, same image); medians in ms; "÷ PyTorch" < 1 means CNN Lens is faster.`);
  console.log('| model | measure | CNN Lens ms | PyTorch ms | CNN Lens ÷ PyTorch | CNN Lens ÷ own forward |');
  console.log('|---|---|---|---|---|---|');
  for (const model of models) {
    const loaded = await loadModel(model.path);
    const image = await readImageFile(model.image, DEFAULT_IMAGE_LIMITS);
    const { adapter, summary, pixels, input, layer, request } = prepare(loaded, image);
    const channels = summary.layers.find((l) => l.name === layer)?.outputShape[2] ?? 0;
    const all = channels <= 1024;
    const torch = pytorchTimings(model.path, model.image, summary.preprocessing.preset, layer, all);
    const batch = tf.tile(input, [32, 1, 1, 1]);
    const ours: Partial<Timings> = {
      forward: time(() => tf.tidy(() => adapter.scores(input).dataSync()), 5, 21),
      forward_batch32_per_image: time(() => tf.tidy(() => adapter.scores(batch as tf.Tensor4D).dataSync()), 1, 5) / 32,
      gradcam: time(() => tf.tidy(request('gradcam')), 2, 11),
      saliency: time(() => tf.tidy(request('saliency')), 2, 11),
      scorecam64: time(() => tf.tidy(request('scorecam', { channels: 64 })), 1, 3),
    };
    if (all) ours.scorecam_all = time(() => tf.tidy(request('scorecam', { channels: 0 })), 0, 1);
    tf.dispose([pixels, input, batch]);
    loaded.adapter.dispose();
    const rows: [keyof Timings, string][] = [
      ['forward', 'forward, batch 1'],
      ['forward_batch32_per_image', 'forward, batch 32 (per image)'],
      ['gradcam', `Grad-CAM (${layer})`],
      ['saliency', 'saliency'],
      ['scorecam64', 'Score-CAM, top-64 channels'],
      ['scorecam_all', `Score-CAM, all ${channels} channels`],
    ];
    for (const [key, what] of rows) {
      const a = ours[key] as number | undefined;
      const b = torch[key] as number | undefined;
      if (a === undefined || b === undefined) continue;
      console.log(`| ${model.name} | ${what} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)} | ${(a / ours.forward!).toFixed(2)} |`);
    }
  }
  console.log(`(PyTorch on ${Math.min(2, os.cpus().length)} threads; CNN Lens on one ${label} thread.)`);
}
