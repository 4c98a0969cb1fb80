/**
 * The second table of `npm run bench:pytorch`: today's architectures, ViT-B/16 (12 blocks) and ConvNeXt-T at
 * 224, in CNN Lens (their ONNX export, onnxruntime as shipped) and in PyTorch (bench/pytorch_modern.py: the
 * same weights, input and class), medians in ms of forward, Grad-CAM, saliency, attention rollout and the
 * attention-gradient rule, and how well both sides' maps agree. A technique CNN Lens's registry lacks, or a
 * model it cannot load yet, keeps its PyTorch row and says why on ours.
 *
 * The ONNX files are exported on first use into test-results/onnx-models (not in git). Debian's torch calls
 * whatever libblas.so.3 resolves to, and the reference BLAS is ~30× slower than OpenBLAS on the Linear layers
 * transformers are made of: CNN_LENS_TORCH_BLAS_DIR=<a directory with OpenBLAS's libblas.so.3> puts one in
 * front for the PyTorch process, and the table's note says which BLAS ran.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Acceleration } from '../src/engine/accel/ortRuntime';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../src/engine/image';
import { loadModel, type LoadedModel } from '../src/engine/models/loadModel';
import { pearson } from '../src/engine/metrics/rankCorrelation';
import { quantile } from '../src/engine/quantile';
import { resolveParameters } from '../src/engine/techniques/parameters';
import { findTechnique } from '../src/engine/techniques/registry';
import type { Technique } from '../src/engine/techniques/base';
import type { ModelSummary, TechniqueParameters } from '../src/engine/types';
import { tf } from '../src/engine/tfjs/tf';
import { prepare, PYTHON, time, timeAlongside } from './measure';

const SCRIPT = path.resolve(__dirname, '../bench/pytorch_modern.py');

type Key = 'forward' | 'gradcam' | 'saliency' | 'rollout' | 'attention_gradient';

interface ModernModel {
  name: string;
  /** pytorch_modern.py's model name; the ONNX file is <bench>_op17.onnx. */
  bench: string;
  /** Grad-CAM's layer as a PyTorch module path (the PyTorch tools' choice). */
  layer: string;
  /** CNN Lens technique id → the PyTorch measure it is compared with. */
  techniques: [string, Key][];
}

const MODELS: ModernModel[] = [
  {
    name: 'ViT-B/16',
    bench: 'vit_b_16',
    layer: 'encoder.layers.encoder_layer_11.ln_1',
    techniques: [
      ['gradcam', 'gradcam'],
      ['saliency', 'saliency'],
      ['attention-rollout', 'rollout'],
      ['attention-gradient', 'attention_gradient'],
    ],
  },
  {
    name: 'ConvNeXt-T (224)',
    bench: 'convnext_tiny_224',
    layer: 'features.7',
    techniques: [
      ['gradcam', 'gradcam'],
      ['saliency', 'saliency'],
    ],
  },
];

interface TorchTimings extends Partial<Record<Key, number>> {
  torch: string;
  threads: number;
  blas: string;
  class: number;
  gradcam_map: number[];
  saliency_map: number[];
  rollout_map?: number[];
  attention_gradient_map?: number[];
}

function pythonEnv(): NodeJS.ProcessEnv {
  const blas = process.env.CNN_LENS_TORCH_BLAS_DIR;
  if (!blas) return process.env;
  return { ...process.env, LD_LIBRARY_PATH: [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

function runPython(args: string[]): string {
  return execFileSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', env: pythonEnv(), maxBuffer: 64 * 2 ** 20, timeout: 60 * 60_000 })
    .trim()
    .split('\n')
    .pop()!;
}

/**
 * The engine's layer for a PyTorch module path: torch.onnx names nodes by module scope, a numbered child
 * joined to its parent's scope ("features.7.1.norm1" → "/features/features.7/features.7.1/norm1/…"); the
 * module's output is the last node in that scope.
 */
export function onnxLayerFor(summary: ModelSummary, modulePath: string): string | null {
  const parts = modulePath.split('.');
  const scope: string[] = [];
  parts.forEach((part, i) => scope.push(/^\d+$/.test(part) && i > 0 ? `${scope[i - 1]}.${part}` : part));
  const prefix = `/${scope.join('/')}/`;
  const inside = summary.layers.filter((l) => l.name.startsWith(prefix));
  return inside.length ? inside[inside.length - 1].name : null;
}

/** Resolved rollout parameters in the PyTorch script's terms, where the technique declares them. */
function rolloutArgs(parameters: TechniqueParameters): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    if (/fusion/i.test(name)) args.push('--head-fusion', String(value));
    if (/discard/i.test(name)) args.push('--discard-ratio', String(value));
  }
  return args;
}

function clipAt(values: number[], cap: number): number[] {
  return cap > 0 ? values.map((v) => Math.min(v, cap)) : values;
}

function technique(id: string): Technique | null {
  try {
    return findTechnique(id);
  } catch {
    return null;
  }
}

/** The input CNN Lens feeds the model, as NCHW float32 (what PyTorch reads). */
function nchwOf(input: tf.Tensor4D): Float32Array {
  return tf.tidy(() => tf.transpose(input, [0, 3, 1, 2]).dataSync() as Float32Array);
}

interface Ours {
  timings: Partial<Record<Key, number>>;
  forwardAlongside: Partial<Record<Key, number>>;
  maps: Partial<Record<Key, Float32Array>>;
  notes: string[];
}

function measureOurs(loaded: LoadedModel, model: ModernModel, image: Awaited<ReturnType<typeof readImageFile>>, classIndex: number): Ours {
  const { adapter, summary, pixels, preprocess, input } = prepare(loaded, image, classIndex);
  const notes: string[] = [];
  const camLayer = onnxLayerFor(summary, model.layer);
  if (!camLayer) notes.push(`no layer of the ONNX file matches ${model.layer}: Grad-CAM at the default layer ${summary.defaultLayer}`);
  const forward = () => tf.tidy(() => adapter.scores(input).dataSync());
  const ours: Ours = { timings: { forward: time(forward, 2, 7) }, forwardAlongside: {}, maps: {}, notes };
  for (const [id, key] of model.techniques) {
    const found = technique(id);
    if (!found) {
      notes.push(`${id}: not in CNN Lens's technique registry yet (PyTorch only)`);
      continue;
    }
    const parameters = resolveParameters(id, found.info.parameters, {});
    const run = () =>
      found.run({
        model: adapter,
        input,
        pixels,
        preprocess,
        classIndex,
        layer: (key === 'gradcam' ? camLayer : null) ?? summary.defaultLayer!,
        parameters,
        checkCancelled: () => undefined,
        reportProgress: () => undefined,
      }).map;
    try {
      ours.maps[key] = tf.tidy(() => run().dataSync() as Float32Array);
      const { ms, referenceMs } = timeAlongside(() => tf.tidy(() => run().dataSync()), forward, 1, 5);
      ours.timings[key] = ms;
      ours.forwardAlongside[key] = referenceMs;
    } catch (e) {
      notes.push(`${id}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  tf.dispose([pixels, input]);
  return ours;
}

export async function compareModernPytorch(onnxDir: string, imagePath: string, acceleration: Acceleration): Promise<void> {
  const threads = Math.min(2, os.cpus().length);
  const rows: string[] = [];
  const notes: string[] = [];
  const disagreements: string[] = [];
  let blas = '';
  for (const model of MODELS) {
    const file = path.join(onnxDir, `${model.bench}_op17.onnx`);
    if (!existsSync(file)) runPython([model.bench, '--export', file, '--export-only']);
    let loaded: LoadedModel | null = null;
    try {
      loaded = await loadModel(file, {}, {}, acceleration);
    } catch (e) {
      notes.push(`${model.name}: CNN Lens cannot load ${path.basename(file)} yet (${(e as Error).message.split('\n')[0]}); PyTorch only`);
    }
    const image = await readImageFile(imagePath, DEFAULT_IMAGE_LIMITS);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cnn-lens-bench-'));
    let torch: TorchTimings;
    try {
      const args = [model.bench, '--threads', String(threads), '--layer', model.layer];
      if (loaded) {
        const { input, pixels } = prepare(loaded, image);
        const nchw = nchwOf(input);
        tf.dispose([input, pixels]);
        const inputFile = path.join(dir, 'input.f32');
        writeFileSync(inputFile, new Uint8Array(nchw.buffer, nchw.byteOffset, nchw.byteLength));
        args.push('--input', inputFile);
      } else args.push('--image', imagePath);
      const rollout = technique('attention-rollout');
      if (rollout) args.push(...rolloutArgs(resolveParameters('attention-rollout', rollout.info.parameters, {})));
      torch = JSON.parse(runPython(args)) as TorchTimings;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    blas = torch.blas;
    const ours = loaded ? measureOurs(loaded, model, image, torch.class) : null;
    loaded?.adapter.dispose();
    for (const note of ours?.notes ?? []) notes.push(`${model.name}: ${note}`);
    const labels: Record<Key, string> = {
      forward: 'forward, batch 1',
      gradcam: `Grad-CAM (${model.layer})`,
      saliency: 'saliency',
      rollout: 'attention rollout',
      attention_gradient: 'attention gradient (Chefer et al.)',
    };
    const ms = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : (a / b).toFixed(2));
    for (const key of ['forward', ...model.techniques.map(([, k]) => k)] as Key[]) {
      const a = ours?.timings[key];
      const t = torch[key];
      const own = key === 'forward' ? ratio(a, a) : ratio(a, ours?.forwardAlongside[key] ?? ours?.timings.forward);
      rows.push(`| ${model.name} | ${labels[key]} | ${ms(a)} | ${ms(t)} | ${ratio(a, t)} | ${own} |`);
    }
    for (const [id, key] of model.techniques) {
      const mine = ours?.maps[key];
      const theirs = torch[`${key}_map` as keyof TorchTimings] as number[] | undefined;
      if (!mine || !theirs) continue;
      if (mine.length !== theirs.length) {
        notes.push(`${model.name}: ${id}'s map has ${mine.length} cells here and ${theirs.length} in PyTorch; not compared`);
        continue;
      }
      // CNN Lens draws input-space maps clipped at their 99th percentile (attribution.ts); PyTorch's is clipped alike.
      const r = pearson(mine, key === 'saliency' ? clipAt(theirs, quantile(theirs, 0.99)) : theirs);
      const what = key === 'saliency' ? 'saliency maps (both clipped at the 99th percentile)' : `${labels[key]} maps`;
      rows.push(`| ${model.name} | ${what}, CNN Lens vs PyTorch (class ${torch.class}) | r = ${r.toFixed(6)} | | | |`);
      if (!(r > 0.99)) disagreements.push(`${model.name} ${id} (r = ${r})`);
    }
  }
  console.log('');
  console.log("Today's architectures (ONNX opset 17 on onnxruntime, as shipped) vs PyTorch; medians in ms.");
  console.log('| model | measure | CNN Lens ms | PyTorch ms | CNN Lens ÷ PyTorch | CNN Lens ÷ own forward |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  console.log(`(PyTorch on ${threads} threads, BLAS: ${blas}.)`);
  if (/reference BLAS/.test(blas))
    console.log(
      "(PyTorch ran on the reference BLAS, ~30× slower than OpenBLAS on Linear layers: set CNN_LENS_TORCH_BLAS_DIR to a directory holding OpenBLAS's libblas.so.3, e.g. /usr/lib/x86_64-linux-gnu/openblas-pthread after apt-get install libopenblas0-pthread, for a fair PyTorch.)",
    );
  for (const note of notes) console.log(`(${note})`);
  if (disagreements.length)
    throw new Error(`CNN Lens's and PyTorch's maps differ: ${disagreements.join(', ')}; the comparison is not like for like.`);
}
