/**
 * A seeded fuzz run over what users and attackers hand CNN Lens: mutated TF.js model.json files and weight
 * manifests, ONNX protobufs, .keras zips and image headers, each loaded (or decoded) as the engine does.
 * Every case must end in a load or an Error whose message names the file; the parent (test/unit/fuzz.test.ts)
 * watches for hangs (no line for too long) and reads peak memory from the summary.
 *
 *   tsx test/fuzz/fuzzInputs.ts [--seconds 45] [--seed 1] [--cases N] [--show]
 *   [--keep DIR]
 *   (--cases: stop after N cases, to replay a run's case numbers; --show: each case's outcome; --keep: copy each
 *   failing case's files to DIR/case-N)
 *
 * Prints one JSON line per case as it starts ({"case": …}) and ends ({"done": …}), then a summary line.
 * Each case's folder is removed after it; the seeds' folders at exit (tinyModels.ts's tempDir), unless
 * CNN_LENS_KEEP_TEST_TEMP is set.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { Acceleration } from '../../src/engine/accel/ortRuntime';
import { readImageFile } from '../../src/engine/image/decode';
import { loadModel } from '../../src/engine/models/loadModel';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { tf } from '../../src/engine/tfjs/tf';
import { writeKeras3 } from '../unit/helpers/kerasFiles';
import { encodeModel, pseudoRandom } from '../unit/helpers/onnxBuilder';
import { writeTinyGraphModel } from '../unit/helpers/tinyGraphModel';
import { saveModel, tempDir, twoConvGapModel } from '../unit/helpers/tinyModels';

type Rng = () => number;

/** mulberry32: small, fast, seeded. */
function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: Rng, items: readonly T[]): T => items[Math.floor(r() * items.length)];

/** Byte-level damage: flips, a 32-bit field set to all ones or zero, a cut, an insertion. */
function mutateBytes(r: Rng, source: Uint8Array, keepHead = 0): Uint8Array {
  const bytes = Uint8Array.from(source);
  const at = () => keepHead + Math.floor(r() * Math.max(1, bytes.length - keepHead));
  switch (Math.floor(r() * 5)) {
    case 0:
      for (let i = 1 + Math.floor(r() * 8); i > 0; i--) bytes[at()] ^= 1 << Math.floor(r() * 8);
      return bytes;
    case 1: {
      const i = at();
      bytes.fill(r() < 0.5 ? 0xff : 0x00, i, Math.min(bytes.length, i + 4));
      return bytes;
    }
    case 2:
      return bytes.subarray(0, at());
    case 3: {
      const i = at();
      const extra = Uint8Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256));
      return Uint8Array.from([...bytes.subarray(0, i), ...extra, ...bytes.subarray(i)]);
    }
    default: {
      const i = at();
      bytes[i] = pick(r, [0x00, 0x7f, 0x80, 0xff]);
      return bytes;
    }
  }
}

const HOSTILE_VALUES: unknown[] = [null, -1, 0, 1, 2 ** 31, 1e12, -1e12, 'x', '', '../../etc/passwd', [], {}, [-1], [1e9, 1e9], true];

/** Structural damage to JSON: a value replaced, a key deleted, an array emptied or grown. */
function mutateJson(r: Rng, value: unknown): unknown {
  const json = JSON.parse(JSON.stringify(value)) as unknown;
  const containers: { holder: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach((child, i) => (containers.push({ holder: node, key: i }), walk(child)));
    else if (node && typeof node === 'object')
      for (const [key, child] of Object.entries(node)) (containers.push({ holder: node as Record<string, unknown>, key }), walk(child));
  };
  walk(json);
  for (let edits = 1 + Math.floor(r() * 3); edits > 0 && containers.length; edits--) {
    const { holder, key } = pick(r, containers);
    const roll = r();
    if (roll < 0.6) (holder as Record<string | number, unknown>)[key] = pick(r, HOSTILE_VALUES);
    else if (roll < 0.85 && !Array.isArray(holder)) delete holder[key as string];
    else if (Array.isArray(holder)) holder.push(...holder.slice(0, 1 + Math.floor(r() * 3)));
  }
  return json;
}

interface Seed {
  kind: string;
  /** The files of a clean example, by name relative to its folder; `entry` is what is loaded. */
  files: Map<string, Uint8Array>;
  entry: string;
  /** Which files to damage, and how. */
  targets: { name: string; as: 'json' | 'bytes'; keepHead?: number }[];
  run: (entry: string) => Promise<void>;
}

async function readFolder(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of await fs.readdir(dir)) files.set(name, new Uint8Array(await fs.readFile(path.join(dir, name))));
  return files;
}

const acceleration = new Acceleration('off');

async function loadAndScore(entry: string): Promise<void> {
  const { adapter } = await loadModel(entry, {}, {}, acceleration);
  try {
    tf.tidy(() => adapter.scores(tf.zeros([1, ...adapter.inputShape])).dataSync());
  } finally {
    adapter.dispose();
  }
}

async function seeds(): Promise<Seed[]> {
  const layersDir = tempDir('cnnlens-fuzz-seed-');
  const model = twoConvGapModel(3);
  await saveModel(model, layersDir, { preprocess: 'zero-one', labels: ['a', 'b', 'c', 'd'] });
  const graphDir = tempDir('cnnlens-fuzz-seed-');
  await writeTinyGraphModel(graphDir);
  const kerasDir = tempDir('cnnlens-fuzz-seed-');
  await writeKeras3(model, path.join(kerasDir, 'model.keras'));
  model.dispose();
  const onnx = encodeModel({
    nodes: [
      { op: 'Conv', name: 'conv', inputs: ['image', 'w', 'b'], outputs: ['feat'], attrs: { kernel_shape: [1, 1] } },
      { op: 'Relu', name: 'relu', inputs: ['feat'], outputs: ['act'] },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['act'], outputs: ['pooled'] },
      { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['flat'], attrs: { axis: 1 } },
      { op: 'Gemm', name: 'fc', inputs: ['flat', 'fc_w', 'fc_b'], outputs: ['logits'], attrs: { transB: 1 } },
    ],
    initializers: [
      { name: 'w', dims: [2, 3, 1, 1], data: pseudoRandom(6, 1) },
      { name: 'b', dims: [2], data: [0.1, -0.1] },
      { name: 'fc_w', dims: [3, 2], data: pseudoRandom(6, 2) },
      { name: 'fc_b', dims: [3], data: [0, 0, 0] },
    ],
    inputs: [{ name: 'image', dims: ['N', 3, 8, 8] }],
    outputs: [{ name: 'logits', dims: ['N', 3] }],
  });
  const png = new PNG({ width: 16, height: 12 });
  png.data.fill(128);
  const jpg = jpeg.encode({ data: Buffer.alloc(16 * 12 * 4, 128), width: 16, height: 12 }, 90).data;
  const decode = async (entry: string) => void (await readImageFile(entry));
  const layersFiles = await readFolder(layersDir);
  const shard = [...layersFiles.keys()].find((name) => name.endsWith('.bin'))!;
  return [
    {
      kind: 'layers model.json',
      files: layersFiles,
      entry: 'model.json',
      targets: [
        { name: 'model.json', as: 'json' },
        { name: 'model.json', as: 'bytes' },
        { name: 'cnnlens.json', as: 'json' },
        { name: shard, as: 'bytes' },
      ],
      run: loadAndScore,
    },
    {
      kind: 'graph model.json',
      files: await readFolder(graphDir),
      entry: 'model.json',
      targets: [{ name: 'model.json', as: 'json' }],
      run: loadAndScore,
    },
    {
      kind: 'onnx',
      files: new Map([['model.onnx', onnx]]),
      entry: 'model.onnx',
      targets: [{ name: 'model.onnx', as: 'bytes' }],
      run: loadAndScore,
    },
    {
      kind: 'keras zip',
      files: await readFolder(kerasDir),
      entry: 'model.keras',
      targets: [{ name: 'model.keras', as: 'bytes' }],
      run: loadAndScore,
    },
    {
      kind: 'png',
      files: new Map([['image.png', new Uint8Array(PNG.sync.write(png))]]),
      entry: 'image.png',
      targets: [{ name: 'image.png', as: 'bytes', keepHead: 8 }],
      run: decode,
    },
    {
      kind: 'jpeg',
      files: new Map([['image.jpg', new Uint8Array(jpg)]]),
      entry: 'image.jpg',
      targets: [{ name: 'image.jpg', as: 'bytes', keepHead: 2 }],
      run: decode,
    },
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '45' },
      seed: { type: 'string', default: '1' },
      show: { type: 'boolean', default: false },
      cases: { type: 'string' },
      keep: { type: 'string' },
    },
  });
  const r = rng(Number(values.seed));
  await selectBackend({ choice: 'cpu', log: () => undefined });
  const all = await seeds();
  const deadline = Date.now() + Number(values.seconds) * 1000;
  const tensorsBefore = tf.memory().numTensors;
  const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const failures: string[] = [];
  let cases = 0;
  let loaded = 0;
  /** Messages that name the file but pass on a JS error's own words (reported, not failed). */
  let raw = 0;
  const maxCases = values.cases === undefined ? Infinity : Number(values.cases);
  while (Date.now() < deadline && cases < maxCases) {
    const seed = all[cases % all.length];
    const target = pick(r, seed.targets);
    const dir = tempDir('cnnlens-fuzz-');
    const original = seed.files.get(target.name)!;
    const damaged =
      target.as === 'json'
        ? new TextEncoder().encode(JSON.stringify(mutateJson(r, JSON.parse(new TextDecoder().decode(original)))))
        : mutateBytes(r, original, target.keepHead);
    for (const [name, bytes] of seed.files) await fs.writeFile(path.join(dir, name), name === target.name ? damaged : bytes);
    const entry = path.join(dir, seed.entry);
    const label = `${seed.kind}: ${target.name} (${target.as}) #${cases}`;
    print({ case: label });
    const failuresBefore = failures.length;
    let outcome = 'loaded';
    try {
      await seed.run(entry);
      loaded++;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      outcome = message;
      // The message must say which file: the folder, the loaded file or the damaged one.
      const named = [dir, path.basename(dir), target.name, seed.entry].some((part) => message.includes(part));
      if (!(error instanceof Error) || !named) failures.push(`${label}: ${message.slice(0, 300)}`);
      if (/is not a function|Cannot read prop|Cannot create prop|is not iterable/.test(message)) raw++;
    }
    if (tf.memory().numTensors !== tensorsBefore) failures.push(`${label}: ${tf.memory().numTensors - tensorsBefore} tensors left behind`);
    if (values.keep && failures.length > failuresBefore) await fs.cp(dir, path.join(values.keep, `case-${cases}`), { recursive: true });
    await fs.rm(dir, { recursive: true, force: true });
    cases++;
    print(values.show ? { done: cases, outcome: outcome.slice(0, 200) } : { done: cases });
  }
  print({ summary: { cases, loaded, raw, failures, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) } });
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ crash: String((error as Error).stack ?? error) })}\n`);
  process.exit(1);
});
