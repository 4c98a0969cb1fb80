/**
 * Heatmap record and compare: proof that a refactor left the explanations unchanged.
 *
 *   npx tsx bench/heatmapRecord.ts record <outDir> [--models a,b] [--techniques x,y] [--runtimes off,auto] [--backend wasm]
 *   npx tsx bench/heatmapRecord.ts compare <beforeDir> <afterDir> [--tolerance 1e-6]
 *
 * `record` runs every technique of the registry (Engine.techniques()) through the engine's front door, as the
 * CLI does (Engine.create → engine.loadModel → engine.explain with default parameters, default layer and the
 * top class), on one real photo (../shared/fixtures snake.png, 224×224) and the test models:
 *   - the TF.js fixtures: MobileNet v1 0.25 (layers), the TF-Hub MobileNet v1 0.25 (graph), Darknet tiny (layers);
 *   - ONNX: the MobileNet v1 0.25 fixture rebuilt in PyTorch with its own weights, and torchvision's ResNet-18
 *     with random weights (fixed seed), exported by scripts/export-onnx-test-models.py through the tests'
 *     helper into test-results/onnx-models (needs /usr/bin/python3 with torch; the export is byte-stable);
 *   - Keras: the same fixture written as a legacy .h5 by the tests' Keras helper (into a temp folder).
 * Each runtime in `--runtimes` (default: off, then auto = onnxruntime-node where it loads) gets its own engine.
 * Written: `<outDir>/manifest.json` (per entry: model, technique, runtime, layer, class, top-5, parameters,
 * shape, sha256 / min / max of Explanation.heatmap.data and of rawMap.data) and the raw Float32Array bytes
 * (little-endian) of both maps as `.bin` files.
 * Randomness: every random draw in the techniques is seeded in the code (SmoothGrad's noise, Eigen-CAM's
 * power-iteration start, the noise baseline of integrated gradients), so defaults are deterministic.
 *
 * `compare` prints a table (identical bytes / max |diff| / missing / error) and exits 1 when any entry
 * is missing on either side, changed status, or its heatmap (or raw map, relative to its scale) differs by
 * more than the tolerance, or its layer, class or top-5 changed.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { PNG } from 'pngjs';
import { Engine } from '../src/engine/engine';
import type { Explanation, RgbaImage, ScalingPreset } from '../src/engine/types';
import { writeLegacyH5 } from '../test/unit/helpers/kerasFiles';
import { onnxTestModels } from '../test/unit/helpers/onnxModels';

const FORMAT = 'cnn-lens-heatmap-record/1';
const REPO = path.resolve(__dirname, '..');
const FIXTURES = process.env.CNN_LENS_FIXTURES ?? path.resolve(REPO, '../shared/fixtures');
const PHOTO = 'images/pytorch-cnn-visualizations/snake.png';
const RUNTIMES = ['off', 'auto'] as const;
type Runtime = (typeof RUNTIMES)[number];

/**
 * Model / technique pairs left out on purpose (`model id/technique id` → reason), recorded as `skipped`.
 * Empty: the whole record takes about 4 minutes on 2 cores (the slowest entries are integrated gradients
 * and SmoothGrad on the TF-Hub graph model without onnxruntime, ~35 s and ~17 s: graph-model gradients).
 */
const SKIPPED: Record<string, string> = {};

interface ModelSpec {
  id: string;
  /** Returns the model path, or a reason it cannot be made here. */
  make: (scratch: string) => Promise<string | { skip: string }>;
  overrides: { preprocess?: ScalingPreset; labelsPath?: string };
}

const fixture = (...parts: string[]) => path.join(FIXTURES, ...parts);
const IMAGENET_LABELS = fixture('labels/imagenet_classes.json');

const MODELS: ModelSpec[] = [
  {
    id: 'mobilenet-v1-0.25-layers',
    make: async () => fixture('models/mobilenet_v1_0.25_224_layers'),
    overrides: {},
  },
  {
    id: 'mobilenet-v1-0.25-graph',
    make: async () => fixture('models/mobilenet_v1_0.25_224_graph_tfhub'),
    overrides: { preprocess: 'zero-one', labelsPath: IMAGENET_LABELS },
  },
  {
    id: 'darknet-tiny',
    make: async () => fixture('models/darknet_tiny_layers'),
    overrides: { preprocess: 'zero-one', labelsPath: fixture('labels/imagenet_classes_darknet_order.json') },
  },
  {
    id: 'onnx-mobilenet-v1-0.25',
    make: async () => {
      const made = onnxTestModels(['fixture_mobilenet_v1_025']);
      return 'skip' in made ? made : made.paths.fixture_mobilenet_v1_025;
    },
    overrides: { preprocess: 'mobilenet', labelsPath: IMAGENET_LABELS },
  },
  {
    // Random weights (torchvision, fixed seed), 128×128: residual adds, max pooling and a GAP head, whose
    // input gradients onnxruntime computes (the MobileNet export's computed Pad keeps them on TF.js).
    id: 'onnx-resnet18-random',
    make: async () => {
      const made = onnxTestModels(['resnet18']);
      return 'skip' in made ? made : made.paths.resnet18;
    },
    overrides: { preprocess: 'imagenet', labelsPath: IMAGENET_LABELS },
  },
  {
    id: 'keras-h5-mobilenet-v1-0.25',
    make: async (scratch) => {
      const layers = await loadTfjsLayersModel(fixture('models/mobilenet_v1_0.25_224_layers'));
      try {
        return await writeLegacyH5(layers, path.join(scratch, 'mobilenet_v1_025.h5'));
      } finally {
        layers.dispose();
      }
    },
    overrides: { preprocess: 'mobilenet', labelsPath: IMAGENET_LABELS },
  },
];

/** A TF.js layers model from disk (model.json + its shards in manifest order), with tfjs's own loader. */
async function loadTfjsLayersModel(dir: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const shards = await Promise.all(json.weightsManifest.flatMap((group) => group.paths.map((p) => fs.readFile(path.join(dir, p)))));
  const weights = Buffer.concat(shards);
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength);
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData,
    }),
  );
}

interface MapRecord {
  shape: [number, number];
  sha256: string;
  min: number;
  max: number;
  file: string;
}

interface Entry {
  key: string;
  model: string;
  technique: string;
  runtime: Runtime;
  status: 'ok' | 'error' | 'skipped';
  /** error / skipped: why. */
  reason?: string;
  backend?: string;
  layer?: string;
  class?: { index: number; label: string; score: number };
  predictions?: { index: number; label: string; score: number }[];
  parameters?: Record<string, number | string>;
  signed?: boolean;
  heatmap?: MapRecord;
  rawMap?: MapRecord;
  notes?: string[];
  ms?: number;
}

interface ModelRecord {
  id: string;
  path?: string;
  format?: string;
  defaultLayer?: string | null;
  fileSha256?: string;
  skipped?: string;
}

interface Manifest {
  format: string;
  created: string;
  git: { commit: string; dirty: boolean } | null;
  node: string;
  platform: string;
  cpus: number;
  backendChoice: string;
  image: { path: string; width: number; height: number; rgbaSha256: string };
  runtimes: Record<string, { engine: string; log: string[] }>;
  models: ModelRecord[];
  entries: Entry[];
  totalSeconds: number;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const bytesOf = (data: Float32Array) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
const fileName = (key: string) => key.replace(/[^A-Za-z0-9._-]+/g, '_');

function extremes(data: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

async function writeMap(outDir: string, name: string, map: Explanation['heatmap']): Promise<MapRecord> {
  const bytes = bytesOf(map.data);
  await fs.writeFile(path.join(outDir, name), bytes);
  return { shape: [map.height, map.width], sha256: sha256(bytes), ...extremes(map.data), file: name };
}

/** The photo as the engine's RGBA image; decoded with pngjs so the record does not depend on engine internals. */
async function readPhoto(file: string): Promise<RgbaImage> {
  const png = PNG.sync.read(await fs.readFile(file));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

/** The commit the record was made at (and whether tracked files had changes). */
function gitState(): Manifest['git'] {
  try {
    const commit = execFileSync('git', ['-C', REPO, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return null;
  }
}

/** Where a model came from, without machine-specific prefixes. */
function displayPath(file: string, scratch: string): string {
  if (file.startsWith(scratch + path.sep)) return `(temporary)/${path.relative(scratch, file)}`;
  if (file.startsWith(FIXTURES + path.sep)) return `(fixtures)/${path.relative(FIXTURES, file)}`;
  return path.relative(REPO, file);
}

const list = (value: string | undefined) => (value ? value.split(',').filter(Boolean) : undefined);

async function record(outDir: string, options: { models?: string[]; techniques?: string[]; runtimes: Runtime[]; backend: string }) {
  const started = performance.now();
  await fs.mkdir(outDir, { recursive: true });
  const photoPath = fixture(PHOTO);
  const image = await readPhoto(photoPath);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'cnnlens-record-'));
  const manifest: Manifest = {
    format: FORMAT,
    created: new Date().toISOString(),
    git: gitState(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    backendChoice: options.backend,
    image: { path: PHOTO, width: image.width, height: image.height, rgbaSha256: sha256(image.data) },
    runtimes: {},
    models: [],
    entries: [],
    totalSeconds: 0,
  };
  const specs = MODELS.filter((m) => !options.models || options.models.includes(m.id));
  const modelPaths = new Map<string, string>();
  try {
    for (const runtime of options.runtimes) {
      const log: string[] = [];
      const engine = await Engine.create({
        backend: options.backend as Parameters<typeof Engine.create>[0]['backend'],
        onnxRuntime: runtime,
        log: (line) => log.push(line),
      });
      manifest.runtimes[runtime] = { engine: engine.backend.label, log };
      console.error(`[${runtime}] engine: ${engine.backend.label}`);
      if (runtime === 'auto' && !engine.backend.label.includes('onnxruntime')) {
        console.error(`[${runtime}] WARNING: onnxruntime did not load; this pass runs on TF.js only (${log.join(' | ')})`);
      }
      const techniques = engine.techniques().filter((t) => !options.techniques || options.techniques.includes(t.id));
      try {
        for (const spec of specs) {
          if (!modelPaths.has(spec.id) && !manifest.models.some((m) => m.id === spec.id)) {
            // Made once (the first engine has set up the backend tfjs needs), shared by every runtime.
            const made = await spec.make(scratch);
            if (typeof made === 'string') {
              modelPaths.set(spec.id, made);
              const stat = await fs.stat(made);
              manifest.models.push({
                id: spec.id,
                path: displayPath(made, scratch),
                // Not for files written here (the .h5): HDF5 stores write times, so their bytes change every run.
                fileSha256: stat.isFile() && !made.startsWith(scratch + path.sep) ? sha256(await fs.readFile(made)) : undefined,
              });
            } else {
              manifest.models.push({ id: spec.id, skipped: made.skip });
              console.error(`[${runtime}] ${spec.id}: skipped (${made.skip})`);
            }
          }
          const modelPath = modelPaths.get(spec.id);
          if (!modelPath) continue;
          const model = await engine.loadModel(modelPath, spec.overrides);
          const info = manifest.models.find((m) => m.id === spec.id)!;
          info.format = model.summary.format;
          info.defaultLayer = model.summary.defaultLayer;
          for (const technique of techniques) {
            const key = `${spec.id}/${runtime}/${technique.id}`;
            const base = { key, model: spec.id, technique: technique.id, runtime };
            const skip = SKIPPED[`${spec.id}/${technique.id}`];
            if (skip) {
              manifest.entries.push({ ...base, status: 'skipped', reason: skip });
              continue;
            }
            const t0 = performance.now();
            let entry: Entry;
            try {
              const result = await engine.explain(model, image, { technique: technique.id });
              const name = fileName(key);
              entry = {
                ...base,
                status: 'ok',
                backend: result.backend,
                layer: result.layer,
                class: result.target,
                predictions: result.predictions,
                parameters: result.parameters,
                signed: result.signed,
                heatmap: await writeMap(outDir, `${name}.heatmap.bin`, result.heatmap),
                rawMap: await writeMap(outDir, `${name}.raw.bin`, result.rawMap),
                notes: result.notes,
              };
            } catch (error) {
              entry = { ...base, status: 'error', reason: error instanceof Error ? error.message : String(error) };
            }
            entry.ms = Math.round(performance.now() - t0);
            manifest.entries.push(entry);
            const what = entry.status === 'ok' ? `${entry.heatmap!.shape.join('×')} ${entry.heatmap!.sha256.slice(0, 12)}` : entry.reason;
            console.error(`[${runtime}] ${spec.id} ${technique.id}: ${entry.status} ${(entry.ms / 1000).toFixed(1)} s  ${what}`);
          }
        }
      } finally {
        engine.dispose();
      }
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  manifest.totalSeconds = Math.round((performance.now() - started) / 100) / 10;
  await fs.writeFile(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const count = (status: Entry['status']) => manifest.entries.filter((e) => e.status === status).length;
  console.log(
    `Recorded ${manifest.entries.length} entries (${count('ok')} ok, ${count('error')} error, ${count('skipped')} skipped) ` +
      `in ${manifest.totalSeconds} s to ${outDir}`,
  );
}

async function readManifest(dir: string): Promise<Manifest> {
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  if (manifest.format !== FORMAT) throw new Error(`${dir}/manifest.json is not a ${FORMAT} record (format ${manifest.format}).`);
  return manifest;
}

async function readMap(dir: string, map: MapRecord): Promise<Float32Array> {
  const bytes = await fs.readFile(path.join(dir, map.file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    // NaN on one side only is a difference.
    if (d > worst || (Number.isNaN(d) && !(Number.isNaN(a[i]) && Number.isNaN(b[i])))) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

/** How one map compares: identical bytes, or the largest difference (absolute, and relative to b's scale). */
async function compareMap(
  beforeDir: string,
  afterDir: string,
  a: MapRecord,
  b: MapRecord,
): Promise<{ identical: boolean; abs: number; rel: number }> {
  if (a.shape.join() !== b.shape.join()) return { identical: false, abs: Infinity, rel: Infinity };
  if (a.sha256 === b.sha256) return { identical: true, abs: 0, rel: 0 };
  const [x, y] = await Promise.all([readMap(beforeDir, a), readMap(afterDir, b)]);
  const abs = maxAbsDiff(x, y);
  const scale = Math.max(Math.abs(a.min), Math.abs(a.max), 1e-30);
  return { identical: false, abs, rel: abs / scale };
}

async function compare(beforeDir: string, afterDir: string, tolerance: number): Promise<number> {
  const [before, after] = await Promise.all([readManifest(beforeDir), readManifest(afterDir)]);
  const byKey = (m: Manifest) => new Map(m.entries.map((e) => [e.key, e]));
  const [a, b] = [byKey(before), byKey(after)];
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  console.log(`before: ${beforeDir} (${before.git?.commit.slice(0, 10) ?? '?'}${before.git?.dirty ? ' dirty' : ''}, ${before.created})`);
  console.log(`after:  ${afterDir} (${after.git?.commit.slice(0, 10) ?? '?'}${after.git?.dirty ? ' dirty' : ''}, ${after.created})`);
  const warnings: string[] = [];
  if (before.image.rgbaSha256 !== after.image.rgbaSha256) warnings.push('the input photo differs');
  if (before.backendChoice !== after.backendChoice) warnings.push(`backend ${before.backendChoice} vs ${after.backendChoice}`);
  for (const [runtime, info] of Object.entries(before.runtimes)) {
    const other = after.runtimes[runtime];
    if (other && other.engine !== info.engine) warnings.push(`runtime ${runtime}: engine "${info.engine}" vs "${other.engine}"`);
  }
  for (const model of before.models) {
    const other = after.models.find((m) => m.id === model.id);
    if (other && model.fileSha256 !== other.fileSha256)
      warnings.push(`model ${model.id}: file bytes differ (${model.fileSha256} vs ${other.fileSha256})`);
    if (other && model.defaultLayer !== other.defaultLayer)
      warnings.push(`model ${model.id}: default layer ${model.defaultLayer} vs ${other.defaultLayer}`);
  }
  for (const warning of warnings) console.log(`note: ${warning}`);

  const rows: string[][] = [];
  let failures = 0;
  let identical = 0;
  let withinTolerance = 0;
  for (const key of keys) {
    const x = a.get(key);
    const y = b.get(key);
    let verdict: string;
    let detail = '';
    let fail = false;
    if (!x || !y) {
      verdict = `MISSING ${x ? 'after' : 'before'}`;
      fail = true;
    } else if (x.status !== y.status) {
      verdict = `STATUS ${x.status} -> ${y.status}`;
      detail = (y.reason ?? x.reason ?? '').slice(0, 80);
      fail = true;
    } else if (x.status !== 'ok') {
      fail = x.reason !== y.reason;
      verdict = fail ? `${x.status.toUpperCase()} TEXT CHANGED` : `same ${x.status}`;
      detail = (fail ? `${x.reason} -> ${y.reason}` : (x.reason ?? '')).slice(0, 80);
    } else {
      const heat = await compareMap(beforeDir, afterDir, x.heatmap!, y.heatmap!);
      const raw = await compareMap(beforeDir, afterDir, x.rawMap!, y.rawMap!);
      const changes: string[] = [];
      if (x.layer !== y.layer) changes.push(`layer ${x.layer} -> ${y.layer}`);
      if (x.class?.index !== y.class?.index) changes.push(`class ${x.class?.index} -> ${y.class?.index}`);
      if (x.heatmap!.shape.join() !== y.heatmap!.shape.join())
        changes.push(`shape ${x.heatmap!.shape.join('x')} -> ${y.heatmap!.shape.join('x')}`);
      if (x.signed !== y.signed) changes.push('signedness');
      if (JSON.stringify(x.parameters) !== JSON.stringify(y.parameters)) changes.push('parameters');
      const topA = x.predictions!.map((p) => p.index).join();
      const topB = y.predictions!.map((p) => p.index).join();
      if (topA !== topB) changes.push(`top-5 ${topA} -> ${topB}`);
      const scoreDiff = Math.max(...x.predictions!.map((p, i) => Math.abs(p.score - (y.predictions![i]?.score ?? NaN))));
      if (!(scoreDiff <= tolerance)) changes.push(`top-5 scores differ by ${scoreDiff.toExponential(2)}`);
      if (!(heat.abs <= tolerance)) changes.push(`heatmap max |diff| ${heat.abs.toExponential(2)}`);
      if (!(raw.rel <= tolerance)) changes.push(`raw map max |diff| ${raw.rel.toExponential(2)} of its scale`);
      fail = changes.length > 0;
      if (fail) verdict = 'DIFFERS';
      else if (heat.identical && raw.identical) verdict = 'identical';
      else verdict = `within tolerance`;
      detail = fail
        ? changes.join('; ')
        : heat.identical && raw.identical
          ? ''
          : `heatmap ${heat.abs.toExponential(2)}, raw ${raw.rel.toExponential(2)} rel`;
      if (!fail && heat.identical && raw.identical) identical++;
      else if (!fail) withinTolerance++;
    }
    if (fail) failures++;
    rows.push([key, verdict, detail]);
  }
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length), i === 0 ? 5 : 7));
  console.log(`\n${'entry'.padEnd(widths[0])}  ${'verdict'.padEnd(widths[1])}  detail`);
  console.log(`${'-'.repeat(widths[0])}  ${'-'.repeat(widths[1])}  ------`);
  for (const [key, verdict, detail] of rows) console.log(`${key.padEnd(widths[0])}  ${verdict.padEnd(widths[1])}  ${detail}`);
  console.log(
    `\n${keys.length} entries: ${identical} identical, ${withinTolerance} within ${tolerance.toExponential(0)}, ` +
      `${keys.length - identical - withinTolerance - failures} same error/skip, ${failures} failing.`,
  );
  return failures > 0 ? 1 : 0;
}

const USAGE = `Usage:
  npx tsx bench/heatmapRecord.ts record <outDir> [--models a,b] [--techniques x,y] [--runtimes off,auto] [--backend wasm]
  npx tsx bench/heatmapRecord.ts compare <beforeDir> <afterDir> [--tolerance 1e-6]
Models: ${MODELS.map((m) => m.id).join(', ')}`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      models: { type: 'string' },
      techniques: { type: 'string' },
      runtimes: { type: 'string', default: RUNTIMES.join(',') },
      // What 'auto' picks on a machine without tfjs-node; pinned so that records compare across machines.
      backend: { type: 'string', default: 'wasm' },
      tolerance: { type: 'string', default: '1e-6' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...dirs] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (command === 'record' && dirs.length === 1) {
    const runtimes = list(values.runtimes) ?? [];
    const unknown = runtimes.filter((r) => !(RUNTIMES as readonly string[]).includes(r));
    if (unknown.length || !runtimes.length) throw new Error(`--runtimes takes ${RUNTIMES.join(', ')}; got "${values.runtimes}".`);
    if (!existsSync(FIXTURES)) throw new Error(`The shared fixtures are not at ${FIXTURES} (set CNN_LENS_FIXTURES).`);
    await record(path.resolve(dirs[0]), {
      models: list(values.models),
      techniques: list(values.techniques),
      runtimes: runtimes as Runtime[],
      backend: values.backend!,
    });
    return 0;
  }
  if (command === 'compare' && dirs.length === 2) {
    const tolerance = Number(values.tolerance);
    if (!(tolerance >= 0)) throw new Error(`--tolerance must be a number ≥ 0; got "${values.tolerance}".`);
    return compare(path.resolve(dirs[0]), path.resolve(dirs[1]), tolerance);
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  },
);
