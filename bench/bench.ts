/**
 * Forward pass vs Grad-CAM, per backend, for the shipped model and MobileNet v1 0.75 (../shared fixtures).
 * Prints medians and the ratio Grad-CAM ÷ forward measured in the same run (absolute times are noisy).
 *   npm run bench            (all backends that load)
 *   npm run bench -- wasm    (one backend)
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { selectBackend, type BackendChoice } from '../src/engine/tfjs/backend';
import { bundledModelPath } from '../src/engine/bundledModel';
import { Acceleration } from '../src/engine/accel/ortRuntime';
import { onnxRuntimeFromEnvironment } from '../src/engine/engine';
import { loadModel, type LoadedModel } from '../src/engine/models/loadModel';
import { visualize } from '../src/engine/inspect/visualize';
import { deletionInsertion } from '../src/engine/metrics/deletionInsertion';

/** Technique ids timed, with a divisor for their repeats (the slow ones run fewer times). */
const TECHNIQUES: [string, number][] = [
  ['gradcam', 1],
  ['saliency', 1],
  ['guided-backprop', 1],
  ['integrated-gradients', 10],
  ['smoothgrad', 10],
];
import { tf } from '../src/engine/tfjs/tf';
import type { RgbaImage } from '../src/engine/types';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../src/engine/image';
import { prepare, time, timeAlongside } from './measure';
import { measureHostLoad } from './hostLoad';
import { measureActivation } from './activation';
import { comparePeers } from './peers';
import { comparePytorch } from './pytorchCompare';
import { compareGraphModel } from './graphModel';
import { comparePhoto } from './photo';

const FIXTURES = path.resolve(__dirname, '../../shared/fixtures');
/** onnxruntime where installed; CNN_LENS_ONNXRUNTIME=off for the TF.js path's own ratios. */
const acceleration = new Acceleration(onnxRuntimeFromEnvironment());
const ONNX_MODELS = path.resolve(__dirname, '../test-results/onnx-models');

/** The forward pass's median and each technique's ratio to it. */
function measure(loaded: LoadedModel, image: RgbaImage, repeats: number): { forward: number; ratios: Record<string, number> } {
  const { adapter, pixels, input, request } = prepare(loaded, image);
  // dataSync makes each timing include the work, not just its scheduling.
  const run = () => tf.tidy(() => adapter.scores(input).dataSync());
  const forward = time(run, 5, repeats);
  const ratios: Record<string, number> = {};
  for (const [id, n] of TECHNIQUES) {
    const runs = Math.max(1, Math.round(repeats / n));
    // The quick ones alternate with forward passes (as explain runs them), so drift hits both alike.
    if (n === 1) {
      const { ms, referenceMs } = timeAlongside(() => tf.tidy(request(id)), run, 1, runs);
      ratios[id] = ms / referenceMs;
    } else ratios[id] = time(() => tf.tidy(request(id)), 1, runs) / forward;
  }
  tf.dispose([pixels, input]);
  return { forward, ratios };
}

/** The CAM family's perturbation costs and the metrics, as ratios to forward passes of the same run. */
function measureCams(loaded: LoadedModel, image: RgbaImage, repeats: number) {
  const { adapter, summary, preprocess, pixels, input, layer, request } = prepare(loaded, image);
  const batch = tf.tile(input, [32, 1, 1, 1]) as tf.Tensor4D;
  const forward = time(() => tf.tidy(() => adapter.scores(input).dataSync()), 5, repeats);
  const batchedPerImage = time(() => tf.tidy(() => adapter.scores(batch).dataSync()), 1, Math.max(1, Math.round(repeats / 4))) / 32;
  const run =
    (id: string, parameters: Record<string, number> = {}) =>
    () =>
      tf.tidy(request(id, parameters));
  const slow = Math.max(1, Math.round(repeats / 10));
  const scoreCam64 = time(run('scorecam', { channels: 64 }), 1, slow);
  const channels = Math.min(64, summary.layers.find((l) => l.name === layer)!.outputShape[2] ?? 64);
  const ablation = time(run('ablationcam'), 1, slow);
  const eigen = time(run('eigencam'), 1, repeats);
  const map = new Float32Array(summary.inputShape[0] * summary.inputShape[1]).map((_, i) => Math.sin(i));
  const probe = { adapter, preprocess, classIndex: 0, checkCancelled: () => undefined };
  const curves = time(() => deletionInsertion(probe, pixels, map, 50, 16), 1, slow);
  // One optimisation step = forward + backward + the regularisers (default settings), per step of 20.
  const stepOf = (kind: 'maximize' | 'classimage') =>
    time(() => visualize(loaded, { kind, layer, filter: 0, classTarget: 0, steps: 20 }), 1, slow) / 20;
  const maximizeStep = stepOf('maximize');
  const classStep = stepOf('classimage');
  tf.dispose([pixels, input, batch]);
  return {
    forward,
    batchedPerImage,
    scoreCamPerChannel: scoreCam64 / channels / batchedPerImage,
    scoreCam64: scoreCam64 / forward,
    ablation: ablation / forward,
    eigen: eigen / forward,
    curves: curves / forward,
    maximizeStep: `${(maximizeStep / forward).toFixed(2)} (${(1000 / maximizeStep).toFixed(1)}/s)`,
    classStep: `${(classStep / forward).toFixed(2)} (${(1000 / classStep).toFixed(1)}/s)`,
  };
}

async function main(): Promise<void> {
  // npm run bench [-- BACKEND] [-- cams]: the gradient table, or with "cams" the CAM-family / metrics table.
  const args = process.argv.slice(2);
  if (args.includes('pytorch'))
    return comparePytorch(
      FIXTURES,
      (args.find((a) => !['pytorch', 'modern', 'classic'].includes(a)) ?? 'wasm') as BackendChoice,
      args.includes('modern') ? 'modern' : args.includes('classic') ? 'classic' : 'both',
    );
  if (args[0] === 'peers') return comparePeers(FIXTURES, args.slice(1));
  if (args[0] === 'activation') return measureActivation(args[1] ? Number(args[1]) : undefined);
  if (args.includes('host')) return measureHostLoad(FIXTURES, (args.find((a) => a !== 'host') ?? 'wasm') as BackendChoice);
  if (args.includes('photo')) return comparePhoto(FIXTURES);
  if (args.includes('graph')) return compareGraphModel(FIXTURES, (args.find((a) => a !== 'graph') ?? 'wasm') as BackendChoice);
  const camTable = args.includes('cams');
  const only = args.find((a) => a !== 'cams') as BackendChoice | undefined;
  const backends: BackendChoice[] = only ? [only] : ['tensorflow', 'wasm', 'cpu'];
  const models: { name: string; path: string; image: string }[] = [
    { name: 'fashion-cam (shipped)', path: bundledModelPath(), image: path.resolve(path.dirname(bundledModelPath()), '../samples') },
  ];
  if (existsSync(FIXTURES)) {
    models.push({
      name: 'MobileNet v1 0.75',
      path: path.join(FIXTURES, 'models/mobilenet_v1_0.75_224_layers'),
      image: path.join(FIXTURES, 'images/pytorch-cnn-visualizations/snake.png'),
    });
  } else {
    console.log(`(MobileNet skipped: no fixtures at ${FIXTURES})`);
  }
  // The same architecture imported from ONNX (random weights; /usr/bin/python3 scripts/export-onnx-test-models.py).
  const onnxModel = path.join(ONNX_MODELS, 'mobilenet_v1_075.onnx');
  if (existsSync(onnxModel) && existsSync(FIXTURES)) {
    models.push({
      name: 'MobileNet v1 0.75 (ONNX)',
      path: onnxModel,
      image: path.join(FIXTURES, 'images/pytorch-cnn-visualizations/snake.png'),
    });
  } else {
    console.log(`(ONNX MobileNet skipped: no ${onnxModel}; export it with /usr/bin/python3 scripts/export-onnx-test-models.py)`);
  }
  if (camTable) {
    console.log(
      '| backend | model | forward (median ms) | batched forward per image ÷ forward | Score-CAM per channel ÷ batched forward per image | Faster Score-CAM (64) ÷ forward | Ablation-CAM ÷ forward | Eigen-CAM ÷ forward | deletion + insertion (50 steps) ÷ forward | maximize step ÷ forward (steps/s) | class-image step ÷ forward (steps/s) |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  } else {
    console.log(`| backend | model | forward (median ms) | ${TECHNIQUES.map(([id]) => `${id} ÷ forward`).join(' | ')} |`);
    console.log(`|---|---|---|${TECHNIQUES.map(() => '---').join('|')}|`);
  }
  for (const choice of backends) {
    let label: string;
    let reason = '';
    try {
      label = (await selectBackend({ choice, log: (line) => (reason = line) })).label;
    } catch {
      console.log(`| ${choice} | — | ${reason || 'not available'} |${TECHNIQUES.map(() => ' |').join('')}`);
      continue;
    }
    for (const model of models) {
      if (camTable) break;
      const loaded = await loadModel(model.path, {}, {}, acceleration);
      const imagePath = model.image.endsWith('.png') ? model.image : firstPng(model.image);
      const image = await readImageFile(imagePath, DEFAULT_IMAGE_LIMITS);
      const repeats = choice === 'cpu' && model.name.startsWith('MobileNet') ? 5 : 21;
      const { forward, ratios } = measure(loaded, image, repeats);
      console.log(`| ${label} | ${model.name} | ${forward.toFixed(1)} | ${TECHNIQUES.map(([id]) => ratios[id].toFixed(2)).join(' | ')} |`);
      loaded.adapter.dispose();
    }
    if (!camTable) continue;
    for (const model of models) {
      const loaded = await loadModel(model.path, {}, {}, acceleration);
      const image = await readImageFile(model.image.endsWith('.png') ? model.image : firstPng(model.image), DEFAULT_IMAGE_LIMITS);
      const r = measureCams(loaded, image, choice === 'cpu' && model.name.startsWith('MobileNet') ? 3 : 21);
      const cells = [
        r.forward.toFixed(1),
        (r.batchedPerImage / r.forward).toFixed(2),
        r.scoreCamPerChannel.toFixed(2),
        r.scoreCam64.toFixed(1),
        r.ablation.toFixed(1),
        r.eigen.toFixed(2),
        r.curves.toFixed(1),
        r.maximizeStep,
        r.classStep,
      ];
      console.log(`| ${label} | ${model.name} | ${cells.join(' | ')} |`);
      loaded.adapter.dispose();
    }
  }
}

function firstPng(dir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const files = (require('node:fs') as typeof import('node:fs'))
    .readdirSync(dir)
    .filter((f) => f.endsWith('.png'))
    .sort();
  if (!files.length) throw new Error(`No sample PNG in ${dir}`);
  return path.join(dir, files[0]);
}

void main();
