/**
 * `npm run bench:pytorch [-- BACKEND]`: CNN Lens against a PyTorch reference on the same network and
 * weights (bench/pytorch_reference.py rebuilds the TF.js model in PyTorch), same image, same machine,
 * one run: forward (batch 1, batch 32 per image), Grad-CAM, saliency, SmoothGrad, integrated gradients,
 * Score-CAM (64 channels, all), Eigen-CAM, Ablation-CAM, deletion/insertion — CNN Lens as shipped (onnxruntime where installed)
 * and on TF.js alone. Prints each time, its ratio to PyTorch's and to our own forward pass, and checks
 * both sides computed the same Grad-CAM map. Without PyTorch it says why.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend, type BackendChoice } from '../src/engine/tfjs/backend';
import { bundledModelPath } from '../src/engine/bundledModel';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../src/engine/image';
import { loadModel, type LoadedModel } from '../src/engine/models/loadModel';
import { Acceleration, type AccelerationChoice } from '../src/engine/accel/ortRuntime';

/** The models of this comparison, on onnxruntime unless a measure runs them on TF.js alone. */
const acceleration = new Acceleration('auto');
import { deletionInsertion } from '../src/engine/metrics/deletionInsertion';
import { pearson } from '../src/engine/metrics/rankCorrelation';
import { resolveParameters } from '../src/engine/techniques/parameters';
import { findTechnique } from '../src/engine/techniques/registry';
import type { RgbaImage } from '../src/engine/types';
import { modelJsonPathOf } from '../src/files/modelFiles';
import { tf } from '../src/engine/tfjs/tf';
import { prepare, PYTHON, pythonMissing, time, timeAlongside } from './measure';
import { compareModernPytorch } from './pytorchModern';

const REFERENCE = path.resolve(__dirname, '../bench/pytorch_reference.py');

const MEASURES = [
  'forward',
  'forward_batch32_per_image',
  'gradcam',
  'saliency',
  'smoothgrad',
  'integrated_gradients',
  'scorecam64',
  'scorecam_all',
  'eigencam',
  'ablationcam',
  'deletion',
] as const;
type Measure = (typeof MEASURES)[number];
const ALTERNATED = new Set<Measure>(['gradcam', 'saliency', 'eigencam', 'ablationcam']);
type Timings = Partial<Record<Measure, number>> & {
  threads?: number;
  torch?: string;
  class?: number;
  gradcam_map?: number[];
  forwardAlongside?: Partial<Record<Measure, number>>;
};

function pytorchTimings(modelJson: string, image: string, preset: string, layer: string, all: boolean): Timings {
  const args = [
    REFERENCE,
    modelJson,
    image,
    preset,
    layer,
    '--threads',
    String(Math.min(2, os.cpus().length)),
    ...(all ? ['--scorecam-all'] : []),
  ];
  return JSON.parse(
    execFileSync(PYTHON, args, { encoding: 'utf8', timeout: 30 * 60_000 })
      .trim()
      .split('\n')
      .pop()!,
  ) as Timings;
}

/** Our timings for one model, on onnxruntime ('auto') or TF.js alone ('off'), in the same process. */
function measureOurs(
  loaded: LoadedModel,
  image: RgbaImage,
  classIndex: number,
  all: boolean,
  runtime: AccelerationChoice,
): { timings: Timings; gradcamMap: number[] } {
  return runtime === 'off'
    ? acceleration.withoutRuntime(() => measureRuns(loaded, image, classIndex, all))
    : measureRuns(loaded, image, classIndex, all);
}

function measureRuns(loaded: LoadedModel, image: RgbaImage, classIndex: number, all: boolean): { timings: Timings; gradcamMap: number[] } {
  const { adapter, summary, pixels, preprocess, input, request } = prepare(loaded, image, classIndex);
  const batch = tf.tile(input, [32, 1, 1, 1]) as tf.Tensor4D;
  const map = new Float32Array(summary.inputShape[0] * summary.inputShape[1]).map((_, i) => Math.sin(i));
  const probe = { adapter, preprocess, classIndex, checkCancelled: () => undefined };
  const forward = () => tf.tidy(() => adapter.scores(input).dataSync());
  // The quick measures (a few forward passes each, where the targets are ratios to the forward pass) are
  // timed alternately with forward passes, as explain runs them, so the ratio survives the machine's drift.
  // A forward pass right after a long batch runs slow (its session's threads wake up): the long measures
  // keep the forward pass timed on its own.
  const forwardAlongside: Partial<Record<Measure, number>> = {};
  const timed = (key: Measure, run: () => void, warmup: number, repeats: number, perRun = 1) => {
    if (!ALTERNATED.has(key)) return time(run, warmup, repeats) / perRun;
    const { ms, referenceMs } = timeAlongside(run, forward, warmup, repeats);
    forwardAlongside[key] = referenceMs;
    return ms / perRun;
  };
  const timings: Timings = {
    forward: time(forward, 5, 21),
    forward_batch32_per_image: timed('forward_batch32_per_image', () => tf.tidy(() => adapter.scores(batch).dataSync()), 1, 5, 32),
    gradcam: timed('gradcam', () => tf.tidy(request('gradcam')), 2, 11),
    saliency: timed('saliency', () => tf.tidy(request('saliency')), 2, 11),
    smoothgrad: timed('smoothgrad', () => tf.tidy(request('smoothgrad', { samples: 25 })), 1, 3),
    integrated_gradients: timed('integrated_gradients', () => tf.tidy(request('integrated-gradients', { steps: 50 })), 1, 3),
    scorecam64: timed('scorecam64', () => tf.tidy(request('scorecam', { channels: 64 })), 1, 3),
    eigencam: timed('eigencam', () => tf.tidy(request('eigencam')), 2, 11),
    ablationcam: timed('ablationcam', () => tf.tidy(request('ablationcam')), 1, 3),
    deletion: timed('deletion', () => deletionInsertion(probe, pixels, map, 50, 16), 1, 3),
  };
  // One warm-up run: its first batch exports the masked-batch session (onnxruntime).
  if (all) timings.scorecam_all = timed('scorecam_all', () => tf.tidy(request('scorecam', { channels: 0 })), 1, 1);
  timings.forwardAlongside = forwardAlongside;
  const gradcamMap = tf.tidy(() => Array.from(runTechnique(loaded, input, pixels, preprocess, 'gradcam', classIndex).dataSync()));
  tf.dispose([pixels, input, batch]);
  return { timings, gradcamMap };
}

/** `tables`: both, or just the MobileNet-era table ('classic') or today's architectures ('modern', bench/pytorchModern.ts). */
export async function comparePytorch(
  fixtures: string,
  backend: BackendChoice,
  tables: 'both' | 'classic' | 'modern' = 'both',
): Promise<void> {
  const missing = pythonMissing(['torch', 'PIL'], ['python3-torch', 'python3-pil']);
  if (missing) {
    console.log(`(PyTorch comparison skipped: ${missing})`);
    return;
  }
  const label = (await selectBackend({ choice: backend, log: () => undefined })).label;
  const sample = path.resolve(path.dirname(modelJsonPathOf(bundledModelPath())), '../samples/bag.png');
  const photo = path.join(fixtures, 'images/pytorch-cnn-visualizations/snake.png');
  const modern = () =>
    compareModernPytorch(path.resolve(__dirname, '../test-results/onnx-models'), existsSync(photo) ? photo : sample, acceleration);
  if (tables === 'modern') return modern();
  const { runtime, reason } = acceleration.state;
  const models = [
    {
      name: 'fashion-cam (shipped)',
      path: modelJsonPathOf(bundledModelPath()),
      image: path.resolve(path.dirname(modelJsonPathOf(bundledModelPath())), '../samples/bag.png'),
    },
  ];
  for (const alpha of ['0.25', '0.75']) {
    const dir = path.join(fixtures, `models/mobilenet_v1_${alpha}_224_layers`);
    if (existsSync(dir))
      models.push({
        name: `MobileNet v1 ${alpha}`,
        path: path.join(dir, 'model.json'),
        image: path.join(fixtures, 'images/pytorch-cnn-visualizations/snake.png'),
      });
  }
  console.log(
    `CNN Lens (onnxruntime: ${reason}; TF.js: ${label}) vs PyTorch (same weights, image and class); medians in ms; "÷ PyTorch" < 1 means CNN Lens is faster.`,
  );
  console.log(
    '| model | measure | CNN Lens ms | TF.js only ms | PyTorch ms | CNN Lens ÷ PyTorch | TF.js only ÷ PyTorch | CNN Lens ÷ own forward |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const model of models) {
    const loaded = await loadModel(model.path, {}, {}, acceleration);
    const image = await readImageFile(model.image, DEFAULT_IMAGE_LIMITS);
    const layer = loaded.summary.defaultLayer!;
    const channels = loaded.summary.layers.find((l) => l.name === layer)?.outputShape[2] ?? 0;
    const all = channels <= 1024;
    const torch = pytorchTimings(model.path, model.image, loaded.summary.preprocessing.preset, layer, all);
    const classIndex = torch.class ?? 0;
    const fast = runtime ? measureOurs(loaded, image, classIndex, all, 'auto') : null;
    const tfjs = measureOurs(loaded, image, classIndex, all, 'off');
    loaded.adapter.dispose();
    const ours = fast ?? tfjs;
    const labels: Record<Measure, string> = {
      forward: 'forward, batch 1',
      forward_batch32_per_image: 'forward, batch 32 (per image)',
      gradcam: `Grad-CAM (${layer})`,
      saliency: 'saliency',
      smoothgrad: 'SmoothGrad, 25 samples',
      integrated_gradients: 'integrated gradients, 50 steps',
      scorecam64: 'Score-CAM, top-64 channels',
      scorecam_all: `Score-CAM, all ${channels} channels`,
      eigencam: 'Eigen-CAM',
      ablationcam: `Ablation-CAM, all ${channels} channels`,
      deletion: 'deletion + insertion AUC, 50 steps',
    };
    const ms = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : (a / b).toFixed(2));
    for (const key of MEASURES) {
      const a = ours.timings[key];
      if (a === undefined) continue;
      const t = torch[key];
      console.log(
        `| ${model.name} | ${labels[key]} | ${fast ? ms(a) : '—'} | ${ms(tfjs.timings[key])} | ${ms(t)} | ${fast ? ratio(a, t) : '—'} | ${ratio(tfjs.timings[key], t)} | ${ratio(a, ours.timings.forwardAlongside?.[key] ?? ours.timings.forward)} |`,
      );
    }
    if (torch.gradcam_map) {
      const r = pearson(ours.gradcamMap, torch.gradcam_map);
      console.log(`| ${model.name} | Grad-CAM maps, CNN Lens vs PyTorch (class ${classIndex}) | r = ${r.toFixed(6)} | | | | | |`);
      if (!(r > 0.99))
        throw new Error(`${model.name}: CNN Lens's and PyTorch's Grad-CAM maps differ (r = ${r}); the comparison is not like for like.`);
    }
  }
  console.log(
    `(PyTorch on ${Math.min(2, os.cpus().length)} threads; onnxruntime on ${runtime?.threads ?? '—'}; TF.js on one ${label} thread. "÷ own forward" for ${[...ALTERNATED].join(', ')}: against forward passes timed alternately with it.)`,
  );
  if (tables === 'both') await modern();
}

/** One technique's raw map on the prepared input (for comparing maps, not timing). */
function runTechnique(
  loaded: LoadedModel,
  input: tf.Tensor4D,
  pixels: tf.Tensor4D,
  preprocess: (p: tf.Tensor4D) => tf.Tensor4D,
  id: string,
  classIndex: number,
): tf.Tensor {
  const technique = findTechnique(id);
  const parameters = resolveParameters(id, technique.info.parameters, {});
  const layer = loaded.summary.defaultLayer!;
  return technique.run({
    model: loaded.adapter,
    input,
    pixels,
    preprocess,
    classIndex,
    layer,
    parameters,
    checkCancelled: () => undefined,
    reportProgress: () => undefined,
  }).map;
}
