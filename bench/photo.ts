/**
 * `npm run bench:photo` (= `npm run build && node dist/bench.js photo`): the whole job on a phone photo,
 * CNN Lens against a PyTorch + OpenCV script doing the same (bench/photo_reference.py: same network and
 * weights, Grad-CAM at conv_pw_13_relu, the map upscaled to the photo, JET, 50 % blend, PNG), one run,
 * ours and Python alternating so the machine's drift hits both:
 *   - the CLI as a process (`node bin/cnn-lens.js explain PHOTO --model … --out OUT.png`) against the
 *     script as a process (torch import included) and against its warm in-process job (file open to PNG
 *     written); wall time and peak RSS from /usr/bin/time, median of the runs;
 *   - peak RSS on a 12 MP and a 39.9 MP photo;
 *   - a class change on the open 12 MP photo through the real engine worker (EngineClient, as the
 *     extension runs it) against Grad-CAM for another class on the script's open photo.
 * The photos are made once (seeded) in the temp folder: ../shared/fixtures cat_dog.png upscaled with sharp
 * and given per-pixel grain, so the JPEG (quality 90) weighs what a real one does. Not a test: it prints a
 * table for the README.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine, onnxRuntimeFromEnvironment } from '../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS } from '../src/engine/image';
import { explainImageFile } from '../src/engine/photoFiles';
import type { Explanation } from '../src/engine/types';
import { EngineClient, type EngineSettings } from '../src/host/engineClient';
import { CancelSource } from '../src/host/panel/cancelSource';
import { DISPLAY_MAX_SIDE } from '../src/shared/display';
import { median, PYTHON, pythonMissing } from './measure';

const ROOT = path.resolve(__dirname, '..');
const TIME = '/usr/bin/time';
const REFERENCE = path.join(ROOT, 'bench/photo_reference.py');
const CLI = path.join(ROOT, 'bin/cnn-lens.js');
const TIMEOUT_MS = 120_000;
const ROUNDS = 3;
const CLASS_CHANGES = 5;
/** Warm in-process jobs per Python round (after its first job). */
const PYTHON_REPEAT = 3;
const LAYER = 'conv_pw_13_relu';
/** A step starts when the machine is busy under this fraction of its CPUs (or after QUIET_WAIT_MS). */
const QUIET = 0.1;
const QUIET_WAIT_MS = 120_000;
/** Other work (in CPUs) above which a step is done again, at most ATTEMPTS times in all. */
const OTHER_LIMIT = 0.15;
const ATTEMPTS = 3;

/** Bump when the photos' recipe changes, so stale copies in the temp folder are not reused. */
const PHOTO_RECIPE = 'v1';
const PHOTOS = [
  { name: '12 MP', width: 4032, height: 3024 },
  { name: '40 MP', width: 7296, height: 5472 },
] as const;
/** Film-like grain (standard deviations, 0–255): shared by the channels, and per channel. */
const LUMA_GRAIN = 8;
const CHROMA_GRAIN = 3;

type Sharp = typeof import('sharp');

interface Photo {
  name: string;
  path: string;
  width: number;
  height: number;
  bytes: number;
}

interface ProcessRun {
  ok: boolean;
  seconds: number;
  peakMb: number;
  /** User + system CPU seconds of the command. */
  cpuSeconds: number;
  stdout: string;
  failure?: string;
}

interface PythonResult {
  torch: string;
  opencv: string;
  threads: number;
  class: number;
  top5: [number, number][];
  import_ms: number;
  model_ms: number;
  job_ms: number;
  warm_jobs: number[];
  class_changes: number[];
  class_change_cams: number[];
}

/** sharp is an optional dependency and native: loaded at run time, never bundled. */
function loadSharp(): Sharp | null {
  try {
    return createRequire(__filename)('sharp') as Sharp;
  } catch {
    return null;
  }
}

/** Small seeded generator (mulberry32): the same grain on every machine. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fixture upscaled to a phone photo's size with grain, as a quality-90 JPEG; reused when already made. */
async function makePhoto(sharp: Sharp, source: string, dir: string, spec: (typeof PHOTOS)[number]): Promise<Photo> {
  const file = path.join(dir, `photo-${spec.width}x${spec.height}-${PHOTO_RECIPE}.jpg`);
  if (!existsSync(file)) {
    const { data } = await sharp(source)
      .removeAlpha()
      .resize(spec.width, spec.height, { fit: 'cover', kernel: 'lanczos3' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const random = seeded(spec.width * spec.height);
    // Sum of three uniforms: close enough to a normal for grain, and cheap.
    const normal = () => (random() + random() + random() - 1.5) * 2;
    for (let i = 0; i < data.length; i += 3) {
      const luma = LUMA_GRAIN * normal();
      for (let c = 0; c < 3; c++) data[i + c] = Math.min(255, Math.max(0, Math.round(data[i + c] + luma + CHROMA_GRAIN * normal())));
    }
    const jpeg = await sharp(data, { raw: { width: spec.width, height: spec.height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    writeFileSync(`${file}.part`, jpeg);
    renameSync(`${file}.part`, file);
  }
  return { name: spec.name, path: file, width: spec.width, height: spec.height, bytes: statSync(file).size };
}

/** Busy and total CPU milliseconds of the whole machine so far (all CPUs). */
function machineCpu(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const { times } of os.cpus()) {
    const all = times.user + times.nice + times.sys + times.irq + times.idle;
    busy += all - times.idle;
    total += all;
  }
  return { busy, total };
}

/**
 * Waits (up to QUIET_WAIT_MS) for a second in which the machine, idle on our side, is busy under QUIET
 * of its CPUs: other work running meanwhile (tests, a build) slows both sides, Python's OpenMP threads most.
 * Returns the last reading.
 */
async function waitForQuiet(): Promise<number> {
  const deadline = Date.now() + QUIET_WAIT_MS;
  for (;;) {
    const before = machineCpu();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = machineCpu();
    const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    if (busy < QUIET || Date.now() > deadline) return busy;
  }
}

let timeFiles = 0;

/**
 * A command under /usr/bin/time (wall seconds, peak RSS), in its own process group so a timeout kills
 * the command and everything it started, not just time(1).
 */
function timedProcess(command: string, args: string[], work: string, env: NodeJS.ProcessEnv = process.env): Promise<ProcessRun> {
  const timeFile = path.join(work, `time-${timeFiles++}.txt`);
  return new Promise((resolve) => {
    const child = spawn(TIME, ['-f', '%e %M %U %S', '-o', timeFile, command, ...args], {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-200_000)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, seconds: NaN, peakMb: NaN, cpuSeconds: NaN, stdout, failure: error.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut)
        return resolve({
          ok: false,
          seconds: NaN,
          peakMb: NaN,
          cpuSeconds: NaN,
          stdout,
          failure: `timed out after ${TIMEOUT_MS / 1000} s`,
        });
      // time(1) writes "Command exited with non-zero status N" before the format line when the command fails.
      const lines = existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split('\n') : [];
      const [seconds, kb, user, system] = (lines.pop() ?? '').split(' ').map(Number);
      const lastError = stderr.trim().split('\n').filter(Boolean).pop() ?? '';
      const failure = code === 0 ? undefined : `exit ${code}${lastError ? `: ${lastError.slice(0, 300)}` : ''}`;
      resolve({ ok: code === 0 && Number.isFinite(seconds), seconds, peakMb: kb / 1024, cpuSeconds: user + system, stdout, failure });
    });
  });
}

/** A PNG's size from its IHDR chunk, or null when the file is missing or not a PNG. */
function pngSize(file: string): { width: number; height: number } | null {
  if (!existsSync(file)) return null;
  const head = readFileSync(file).subarray(0, 24);
  if (head.length < 24 || head.toString('latin1', 12, 16) !== 'IHDR') return null;
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

/** Checks the overlay was written at the photo's size, then removes it (they are large). */
function checkOverlay(run: ProcessRun, out: string, photo: Photo): ProcessRun {
  const size = pngSize(out);
  rmSync(out, { force: true });
  if (!run.ok) return run;
  if (!size) return { ...run, ok: false, failure: `no PNG written at ${out}` };
  if (size.width !== photo.width || size.height !== photo.height)
    return { ...run, ok: false, failure: `overlay is ${size.width}×${size.height}, not ${photo.width}×${photo.height}` };
  return run;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function comparePhoto(fixtures: string): Promise<void> {
  const sharp = loadSharp();
  const source = path.join(fixtures, 'images/pytorch-cnn-visualizations/cat_dog.png');
  const modelDir = path.join(fixtures, 'models/mobilenet_v1_0.75_224_layers');
  const missing = !sharp
    ? 'sharp (an optional dependency) is not installed'
    : !existsSync(source) || !existsSync(modelDir)
      ? `no ${source} or ${modelDir}`
      : !existsSync(TIME)
        ? `${TIME} is missing: apt-get install time`
        : pythonMissing(['torch', 'PIL', 'cv2'], ['python3-torch', 'python3-pil', 'python3-opencv']);
  if (missing || !sharp) {
    console.log(`(photo benchmark skipped: ${missing})`);
    return;
  }
  const labels = (JSON.parse(readFileSync(path.join(modelDir, 'metadata.json'), 'utf8')) as { labels?: string[] }).labels ?? [];
  const photoDir = path.join(os.tmpdir(), 'cnn-lens-bench-photos');
  mkdirSync(photoDir, { recursive: true });
  const [photo12, photo40] = [await makePhoto(sharp, source, photoDir, PHOTOS[0]), await makePhoto(sharp, source, photoDir, PHOTOS[1])];
  const work = mkdtempSync(path.join(os.tmpdir(), 'cnn-lens-bench-photo-'));
  const threads = os.cpus().length;
  const problems: string[] = [];

  const ours = (photo: Photo, env?: NodeJS.ProcessEnv) => {
    const out = path.join(work, `ours-${photo.width}.png`);
    return timedProcess(
      process.execPath,
      [CLI, 'explain', photo.path, '--model', modelDir, '--preprocess', 'mobilenet', '--out', out],
      work,
      env,
    ).then((run) => checkOverlay(run, out, photo));
  };
  // The same job warm in this process (model loaded, one job before timing), as the Python script's warm jobs.
  const engine = await Engine.create({ backend: 'auto', onnxRuntime: onnxRuntimeFromEnvironment(), log: () => undefined });
  const warmModel = await engine.loadModel(path.join(modelDir, 'model.json'));
  const warmJob = async () => {
    const start = performance.now();
    await explainImageFile(engine, warmModel, photo12.path, DEFAULT_IMAGE_LIMITS, {}, () => ({
      overlayPath: path.join(work, 'ours-warm.png'),
      colormap: 'jet',
      opacity: 0.5,
    }));
    return performance.now() - start;
  };
  const oursWarm: number[] = [];
  const jsCodec12: ProcessRun[] = [];
  const python = async (photo: Photo, extra: string[] = []) => {
    const out = path.join(work, `python-${photo.width}.png`);
    const run = checkOverlay(
      await timedProcess(
        PYTHON,
        [REFERENCE, path.join(modelDir, 'model.json'), photo.path, out, '--layer', LAYER, '--threads', String(threads), ...extra],
        work,
      ),
      out,
      photo,
    );
    let result: PythonResult | null = null;
    if (run.ok) {
      try {
        result = JSON.parse(run.stdout.trim().split('\n').pop()!) as PythonResult;
      } catch {
        run.ok = false;
        run.failure = `unreadable output: ${run.stdout.slice(-200)}`;
      }
    }
    return { run, result };
  };

  // The engine worker as the extension runs it, with the extension's default settings.
  const settings: EngineSettings = {
    backend: 'auto',
    onnxRuntime: onnxRuntimeFromEnvironment(),
    modelPath: path.join(modelDir, 'model.json'),
    modelProblem: null,
    defaults: {},
    limits: { maxPixels: 40e6, maxBytes: 100 * 1024 * 1024 },
  };
  const engineLog: string[] = [];
  let engineBackend = '';
  const client = new EngineClient(
    __dirname,
    () => settings,
    (line) => engineLog.push(line),
    (label) => (engineBackend = label),
  );
  const explain = (classIndex: number | null) =>
    withTimeout(
      client.explain({ imagePath: photo12.path, technique: 'gradcam', classIndex, layer: null, parameters: {} }, new CancelSource()),
      'explain',
    );
  let engineFailure: string | null = null;
  let coldMs = NaN;
  let first = null as Explanation | null;
  // Every request asks for a class not asked before (no cached result can answer it): the rest of the
  // top-5, then classes spread over the range (i·37 mod n: a permutation unless 37 divides n).
  let asked = 0;
  let numClasses = 1000;
  const nextClass = () => {
    const top = first!.predictions.map((p) => p.index);
    const spread = Array.from({ length: numClasses }, (_, i) => (i * 37) % numClasses);
    const classes = [...top.slice(1), ...spread.filter((c) => !top.includes(c))];
    return classes[asked++ % classes.length];
  };
  const changes: number[] = [];
  const panelChanges: number[] = [];

  const runs = { ours12: [] as ProcessRun[], ours40: [] as ProcessRun[], python12: [] as ProcessRun[], python40: [] as ProcessRun[] };
  const pythonWarm: number[] = [];
  const pythonFirstJob: number[] = [];
  const pythonChanges: number[] = [];
  const pythonCams: number[] = [];
  let pythonInfo: PythonResult | null = null;
  const cliClasses = new Set<string>();
  const note = (what: string, run: ProcessRun) => {
    if (!run.ok) problems.push(`${what}: ${run.failure}`);
  };

  // Each step waits for a quiet machine and is done again (up to ATTEMPTS times) when other work took
  // more than OTHER_LIMIT of a CPU while it ran: the machine's busy CPU time less ours (this process, the
  // engine worker included, and the commands' own CPU time from time(1)).
  const otherWork: number[] = [];
  const quietly = async <T>(
    what: string,
    step: () => Promise<T>,
    commands: (result: T) => ProcessRun[],
    attempts = ATTEMPTS,
  ): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const idle = await waitForQuiet();
      const start = { machine: machineCpu(), own: process.cpuUsage(), wall: performance.now() };
      const result = await step();
      const own = process.cpuUsage(start.own);
      const commandsMs = commands(result).reduce((sum, run) => sum + (Number.isFinite(run.cpuSeconds) ? run.cpuSeconds * 1000 : 0), 0);
      const other =
        (machineCpu().busy - start.machine.busy - (own.user + own.system) / 1000 - commandsMs) / (performance.now() - start.wall);
      if (other <= OTHER_LIMIT || attempt >= attempts) {
        otherWork.push(other);
        if (other > OTHER_LIMIT)
          problems.push(
            `${what}: other work used ${(other * 100).toFixed(0)} % of a CPU while it ran (${idle >= QUIET ? 'the machine never went quiet; ' : ''}kept after ${attempt} attempt${attempt > 1 ? 's' : ''})`,
          );
        return result;
      }
      process.stderr.write(`  ${what}: other work used ${(other * 100).toFixed(0)} % of a CPU meanwhile; again\n`);
    }
  };

  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
    const o12 = await quietly(
      `CLI on ${photo12.name}, round ${round + 1}`,
      () => ours(photo12),
      (run) => [run],
    );
    runs.ours12.push(o12);
    note(`CLI on ${photo12.name}, round ${round + 1}`, o12);
    const match = /of "(.*)" \(class (\d+)/.exec(o12.stdout);
    if (match)
      cliClasses.add(`${match[2]} "${match[1]}"${labels[Number(match[2])] === match[1] ? '' : ' (not the label in metadata.json!)'}`);

    const warmRuns = await quietly(
      `our warm jobs, round ${round + 1}`,
      async () => {
        if (round === 0) await warmJob();
        const times: number[] = [];
        for (let i = 0; i < PYTHON_REPEAT; i++) times.push(await warmJob());
        return times;
      },
      () => [],
    );
    oursWarm.push(...warmRuns);
    const js12 = await quietly(
      `CLI with the pure-JS codecs on ${photo12.name}, round ${round + 1}`,
      () => ours(photo12, { ...process.env, CNN_LENS_IMAGE_CODEC: 'js' }),
      (run) => [run],
    );
    jsCodec12.push(js12);
    note(`CLI with the pure-JS codecs on ${photo12.name}, round ${round + 1}`, js12);

    const p12 = await quietly(
      `Python on ${photo12.name}, round ${round + 1}`,
      () => python(photo12),
      ({ run }) => [run],
    );
    runs.python12.push(p12.run);
    note(`Python on ${photo12.name}, round ${round + 1}`, p12.run);
    if (p12.result) {
      pythonInfo = p12.result;
      pythonFirstJob.push(p12.result.job_ms);
    }

    const o40 = await quietly(
      `CLI on ${photo40.name}, round ${round + 1}`,
      () => ours(photo40),
      (run) => [run],
    );
    runs.ours40.push(o40);
    note(`CLI on ${photo40.name}, round ${round + 1}`, o40);
    const p40 = await quietly(
      `Python on ${photo40.name}, round ${round + 1}`,
      () => python(photo40),
      ({ run }) => [run],
    );
    runs.python40.push(p40.run);
    note(`Python on ${photo40.name}, round ${round + 1}`, p40.run);

    // Class changes through the engine worker: the first round opens the photo (a cold explain, once) first.
    if (!engineFailure) {
      try {
        if (!first) {
          numClasses = (await withTimeout(client.describeModel(), 'describeModel')).summary.numClasses;
          await quietly(
            'first explain in the worker',
            async () => {
              const start = performance.now();
              first = await explain(null);
              coldMs = performance.now() - start;
            },
            () => [],
            1,
          );
        }
        const block = await quietly(
          `class changes, round ${round + 1}`,
          async () => {
            const alone: number[] = [];
            const withDisplay: number[] = [];
            for (let i = 0; i < CLASS_CHANGES; i++) {
              let start = performance.now();
              await explain(nextClass());
              alone.push(performance.now() - start);
              // As the panel asks on a class change: the display image and the explanation, together.
              start = performance.now();
              await Promise.all([withTimeout(client.displayImage(photo12.path, DISPLAY_MAX_SIDE), 'displayImage'), explain(nextClass())]);
              withDisplay.push(performance.now() - start);
            }
            return { alone, withDisplay };
          },
          () => [],
        );
        changes.push(...block.alone);
        panelChanges.push(...block.withDisplay);
      } catch (error) {
        engineFailure = `${error instanceof Error ? error.message : String(error)}${engineLog.length ? ` (engine log: ${engineLog.slice(-3).join(' | ')})` : ''}`;
        problems.push(`engine worker: ${engineFailure}`);
      }
    }

    const warm = await quietly(
      `Python warm jobs, round ${round + 1}`,
      () => python(photo12, ['--repeat', String(PYTHON_REPEAT), '--class-changes', String(CLASS_CHANGES)]),
      ({ run }) => [run],
    );
    note(`Python warm jobs, round ${round + 1}`, warm.run);
    if (warm.result) {
      pythonWarm.push(...warm.result.warm_jobs);
      pythonChanges.push(...warm.result.class_changes);
      pythonCams.push(...(warm.result.class_change_cams ?? []));
    }
  }
  client.dispose();
  engine.dispose();
  rmSync(work, { recursive: true, force: true });

  const ok = (list: ProcessRun[]) => list.filter((r) => r.ok);
  const med = (values: number[]) => (values.length ? median(values) : NaN);
  const wall = (list: ProcessRun[]) => med(ok(list).map((r) => r.seconds));
  const peak = (list: ProcessRun[]) => med(ok(list).map((r) => r.peakMb));
  const fmt = (v: number, digits: number, unit: string) => (Number.isFinite(v) ? `${v.toFixed(digits)} ${unit}` : '—');
  const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}×` : '—');
  const mark = (pass: boolean | null) => (pass === null ? '' : pass ? ' ✓' : ' ✗');
  const check = (v: number, test: (v: number) => boolean) => (Number.isFinite(v) ? test(v) : null);
  const failed = (oursRuns: ProcessRun[], pythonRuns: ProcessRun[]) => {
    const count = (l: ProcessRun[]) => l.filter((r) => !r.ok).length;
    return count(oursRuns) + count(pythonRuns) ? ` (failed runs: ours ${count(oursRuns)}, Python ${count(pythonRuns)})` : '';
  };

  const ours12 = wall(runs.ours12);
  const python12 = wall(runs.python12);
  const warm12 = med(pythonWarm) / 1000;
  const oursWarm12 = med(oursWarm) / 1000;
  const rss12 = peak(runs.ours12);
  const rss40 = peak(runs.ours40);
  const change = med(changes);
  const pythonChange = med(pythonChanges);
  const rows: [string, string, string, string, string][] = [
    [
      `whole job, ${photo12.name}: CLI process ÷ Python process (incl. torch import)${failed(runs.ours12, runs.python12)}`,
      fmt(ours12, 2, 's'),
      fmt(python12, 2, 's'),
      ratio(ours12, python12),
      `≤ 1.0×${mark(check(ours12 / python12, (r) => r <= 1))}`,
    ],
    [
      `whole job, ${photo12.name}, warm in one process (file open → PNG written)`,
      fmt(oursWarm12, 2, 's'),
      fmt(warm12, 2, 's'),
      ratio(oursWarm12, warm12),
      `≤ 1.0×${mark(check(oursWarm12 / warm12, (r) => r <= 1))}`,
    ],
    [
      `whole job, ${photo12.name}: CLI process ÷ Python warm in-process job`,
      fmt(ours12, 2, 's'),
      fmt(warm12, 2, 's'),
      ratio(ours12, warm12),
      '',
    ],
    [
      `whole job, ${photo12.name}: CLI with the pure-JS codecs (no sharp) ÷ with sharp${failed(jsCodec12, [])}`,
      fmt(wall(jsCodec12), 2, 's'),
      fmt(ours12, 2, 's'),
      ratio(wall(jsCodec12), ours12),
      '',
    ],
    [
      `peak RSS, ${photo12.name}: pure-JS codecs ÷ sharp`,
      fmt(peak(jsCodec12), 0, 'MB'),
      fmt(rss12, 0, 'MB'),
      ratio(peak(jsCodec12), rss12),
      '',
    ],
    [
      `peak RSS, ${photo12.name}`,
      fmt(rss12, 0, 'MB'),
      fmt(peak(runs.python12), 0, 'MB'),
      ratio(rss12, peak(runs.python12)),
      `≤ 400 MB${mark(check(rss12, (v) => v <= 400))}`,
    ],
    [
      `peak RSS, ${photo40.name}${failed(runs.ours40, runs.python40)}`,
      fmt(rss40, 0, 'MB'),
      fmt(peak(runs.python40), 0, 'MB'),
      ratio(rss40, peak(runs.python40)),
      `< 1.5 GB${mark(check(rss40, (v) => v < 1536))}`,
    ],
    [
      `whole job, ${photo40.name}: process wall`,
      fmt(wall(runs.ours40), 2, 's'),
      fmt(wall(runs.python40), 2, 's'),
      ratio(wall(runs.ours40), wall(runs.python40)),
      '',
    ],
    [
      `class change, ${photo12.name} open: engine worker explain ÷ Python Grad-CAM + map upscaled`,
      fmt(change, 0, 'ms'),
      fmt(pythonChange, 0, 'ms'),
      ratio(change, pythonChange),
      `≤ 150 ms${mark(check(change, (v) => v <= 150))}`,
    ],
    [`class change as the panel asks (display image + explain)`, fmt(med(panelChanges), 0, 'ms'), '—', '—', ''],
    [`first explain of the photo in the worker (model loaded; decode + explain)`, fmt(coldMs, 0, 'ms'), '—', '—', ''],
    [`Python first in-process job (file open → PNG written, cold torch)`, '—', fmt(med(pythonFirstJob), 0, 'ms'), '—', ''],
  ];

  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  console.log(
    `Photos: ${photo12.width}×${photo12.height} JPEG q90, ${mb(photo12.bytes)} MB; ${photo40.width}×${photo40.height}, ${mb(photo40.bytes)} MB ` +
      `(cat_dog.png upscaled with grain, ${photoDir}). MobileNet v1 0.75, Grad-CAM at ${LAYER}. ${ROUNDS} rounds, ours and Python alternating; medians.`,
  );
  console.log('| row | ours | Python | ours ÷ Python | target |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  const list = (values: number[], digits: number) => values.map((v) => (Number.isFinite(v) ? v.toFixed(digits) : '✗')).join(', ');
  // Failed runs show what time(1) saw of them (✗ alone: killed, or no reading).
  const cell = (r: ProcessRun, v: number, digits: number) =>
    r.ok ? v.toFixed(digits) : Number.isFinite(v) ? `✗ ${v.toFixed(digits)}` : '✗';
  const secs = (l: ProcessRun[]) => l.map((r) => cell(r, r.seconds, 2)).join(', ');
  const mbs = (l: ProcessRun[]) => l.map((r) => cell(r, r.peakMb, 0)).join(', ');
  console.log();
  console.log(
    `Runs: CLI ${photo12.name} ${secs(runs.ours12)} s / ${mbs(runs.ours12)} MB; Python process ${secs(runs.python12)} s / ${mbs(runs.python12)} MB; Python warm jobs ${list(pythonWarm, 0)} ms.`,
  );
  console.log(
    `      CLI ${photo40.name} ${secs(runs.ours40)} s / ${mbs(runs.ours40)} MB; Python process ${secs(runs.python40)} s / ${mbs(runs.python40)} MB.`,
  );
  console.log(
    `      class changes: worker ${list(changes, 0)} ms; as the panel asks ${list(panelChanges, 0)} ms; Python ${list(pythonChanges, 0)} ms (of which Grad-CAM, before the upscale: median ${fmt(med(pythonCams), 0, 'ms')}).`,
  );
  const pyTop = pythonInfo ? `${pythonInfo.class} "${labels[pythonInfo.class] ?? '?'}"` : '—';
  console.log(
    `(Top class: CLI ${[...cliClasses].join(' / ') || 'not read from its output'}; worker ${first ? `${first.target.index} "${first.target.label}"` : '—'} on ${engineBackend || '—'}; ` +
      `Python ${pyTop}. Python: torch ${pythonInfo?.torch ?? '—'} on ${pythonInfo?.threads ?? '—'} threads, OpenCV ${pythonInfo?.opencv ?? '—'}, ` +
      `import ${fmt(pythonInfo?.import_ms ?? NaN, 0, 'ms')}, model built in ${fmt(pythonInfo?.model_ms ?? NaN, 0, 'ms')}; ${os.cpus().length} CPUs, Node ${process.version}. ` +
      `Wall and peak RSS from ${TIME}; a run over ${TIMEOUT_MS / 1000} s is killed and counts as failed. ` +
      `Class changes ask for classes not asked before: the rest of the top-5, then others; Python's keeps its 224×224 input tensor, ours is the whole explain request to the worker.)`,
  );
  console.log(
    `(Other work on the machine while the steps kept ran: median ${(med(otherWork) * 100).toFixed(0)} %, at most ${(Math.max(...otherWork) * 100).toFixed(0)} % of a CPU; ` +
      `each step waits for a quiet machine and is done again, up to ${ATTEMPTS} times, when other work took over ${OTHER_LIMIT * 100} % of a CPU.)`,
  );
  if (problems.length) {
    console.log('Problems:');
    for (const problem of problems) console.log(`- ${problem}`);
  }
}
