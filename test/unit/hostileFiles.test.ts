/**
 * Model archives and command lines that try to cost time, leave files behind or write half an output:
 * - a .keras zip whose header lies about an entry's size is refused within one inflate step;
 * - a cancelled (AbortSignal) or interrupted (SIGINT to the CLI) .keras load leaves no temporary file;
 * - Ctrl-C while the CLI writes its outputs leaves no `.tmp` file and none of the set; a kill during a
 *   batch leaves the --json-lines file as it was; a set whose later file cannot be written leaves none;
 * - the CLI refuses, before any model work, outputs into a missing or read-only folder, outputs naming a
 *   folder or the same file twice, a --box outside the image, and an image over the caps (naming
 *   --max-megapixels / --max-file-mb, which raise them).
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { runCli as run } from './helpers/cli';
import { OutputStage, writeFileAtomic } from '../../src/files/atomicWrite';
import { encodePng } from '../../src/engine/image';
import { readKerasFile } from '../../src/engine/models/keras/kerasFile';
import { writeOverlayFiles } from '../../src/engine/photoFiles';
import { liveTempFiles, liveTempFolders } from '../../src/files/tempFiles';
import { keras3Config } from './helpers/kerasFiles';
import { deflatedZeros, HDF5_HEAD, writePaddedKeras, zipOf } from './helpers/largeKeras';
import { CancelledError, Engine } from '../../src/engine/engine';
import { noiseImage, saveModel, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const ROOT = path.resolve(__dirname, '../..');

function cnnlensTemps(dir = os.tmpdir()): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('cnnlens-keras-'));
}

/** The hidden `.NAME.PID.RANDOM.tmp` files outputs are written to before their rename. */
function outputTemps(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.tmp'));
}

/** `cnn-lens ARGS` in a child process (through tsx, with the signal handlers bin/cnn-lens.js installs). */
function spawnCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src/cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, TSX_DISABLE_CACHE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** Polls until `found()` is true (then runs `act`), or the deadline; says whether it was. */
async function when(found: () => boolean, act: () => void, ms = 60_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (found()) {
      act();
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

/** A smooth 20 MP photo (fast to write, slow enough to draw and encode at full size to interrupt). */
function bigPhoto(): Buffer {
  const [width, height] = [5000, 4000];
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = (x * 255) / width;
      data[i + 1] = (y * 255) / height;
      data[i + 2] = 128;
      data[i + 3] = 255;
    }
  return encodePng({ width, height, data });
}

describe('hostile model files and command lines', function () {
  this.timeout(120_000);
  let dir: string;
  let config: Buffer;
  let bigKeras: string;

  before(async () => {
    dir = tempDir('cnnlens-hostile-');
    const model = twoConvGapModel(5);
    config = Buffer.from(JSON.stringify(keras3Config(model)));
    model.dispose();
    // An honest archive whose weights inflate to 768 MB (of zeros after the HDF5 signature).
    const weights = deflatedZeros(768, HDF5_HEAD);
    bigKeras = path.join(dir, 'big.keras');
    await fs.writeFile(
      bigKeras,
      zipOf([
        { name: 'config.json', deflated: deflateRawSync(config), size: config.length },
        { name: 'model.weights.h5', ...weights },
      ]),
    );
  });

  it('refuses a .keras entry that inflates past the size its header declares, at once', async () => {
    const lying = deflatedZeros(1024);
    for (const [name, entries] of [
      ['config.keras', [{ name: 'config.json', deflated: lying.deflated, size: 100 }]],
      [
        'weights.keras',
        [
          { name: 'config.json', deflated: deflateRawSync(config), size: config.length },
          { name: 'model.weights.h5', deflated: deflatedZeros(1024, HDF5_HEAD).deflated, size: 4096 },
        ],
      ],
    ] as const) {
      const file = path.join(dir, name);
      await fs.writeFile(file, zipOf([...entries]));
      const start = performance.now();
      await assert.rejects(
        readKerasFile(file),
        /inflates to more than the (100|4096) bytes its header declares; refusing a damaged or tampered \.keras file/,
      );
      const ms = performance.now() - start;
      assert.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`);
    }
    // A header declaring more than the cap is refused before anything is inflated.
    const huge = path.join(dir, 'huge.keras');
    await fs.writeFile(huge, zipOf([{ name: 'config.json', deflated: lying.deflated, size: 0xfffffff0 }]));
    await assert.rejects(readKerasFile(huge), /"config\.json" inflates to 4294967280 bytes; larger than the \d+ bytes CNN Lens reads/);
    assert.deepEqual(liveTempFolders(), []);
  });

  it('a cancelled .keras load stops between chunks and leaves no temporary file', async () => {
    const before = new Set(cnnlensTemps());
    const controller = new AbortController();
    // Abort once the weights' temporary file has grown past 16 MB.
    const watch = setInterval(() => {
      for (const folder of liveTempFolders()) {
        const file = path.join(folder, 'model.weights.h5');
        if (existsSync(file) && statSync(file).size > 16 * 2 ** 20) controller.abort();
      }
    }, 5);
    const start = performance.now();
    try {
      await assert.rejects(readKerasFile(bigKeras, { signal: controller.signal }), { name: 'AbortError' });
    } finally {
      clearInterval(watch);
    }
    assert.ok(controller.signal.aborted, 'the load was aborted mid-inflate');
    assert.ok(performance.now() - start < 20_000);
    assert.deepEqual(liveTempFolders(), []);
    assert.deepEqual(
      cnnlensTemps().filter((name) => !before.has(name)),
      [],
    );
  });

  it('an engine load of a large .keras cancelled part-way rejects as cancelled within a second, leaves no temporary folder, caches nothing; the next load succeeds', async () => {
    const file = await writePaddedKeras(path.join(dir, 'padded.keras'), 128);
    const before = new Set(cnnlensTemps());
    const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    let cancelledAt = 0;
    const checkCancelled = () => {
      if (cancelledAt) throw new CancelledError();
    };
    // Cancel once the weights' temporary file has grown past 16 MB (the panel's Cancel sets the flag the same way).
    const watch = setInterval(() => {
      for (const folder of liveTempFolders()) {
        const weights = path.join(folder, 'model.weights.h5');
        if (!cancelledAt && existsSync(weights) && statSync(weights).size > 16 * 2 ** 20) cancelledAt = performance.now();
      }
    }, 5);
    try {
      await assert.rejects(engine.loadModel(file, {}, {}, checkCancelled), (error: Error) => error instanceof CancelledError);
    } finally {
      clearInterval(watch);
    }
    assert.ok(cancelledAt > 0, 'the cancel came mid-inflate');
    const ms = performance.now() - cancelledAt;
    assert.ok(ms < 1000, `stopped ${ms.toFixed(0)} ms after the cancel`);
    assert.deepEqual(liveTempFolders(), []);
    assert.deepEqual(
      cnnlensTemps().filter((name) => !before.has(name)),
      [],
    );
    // Nothing was cached: the same engine loads the file afresh, in full.
    const loaded = await engine.loadModel(file, {}, {}, () => undefined);
    assert.equal(loaded.summary.numClasses, 4);
    assert.equal(loaded.summary.format, 'keras');
    assert.equal(await engine.loadModel(file), loaded, 'cached once complete');
    assert.deepEqual(liveTempFolders(), []);
    engine.dispose();
  });

  it('Ctrl-C (SIGINT) during a CLI .keras load removes the temporary file', async function () {
    if (process.platform === 'win32') this.skip();
    const tmp = tempDir('cnnlens-sigint-');
    const child = spawn(
      process.execPath,
      ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'src/cli.ts'), 'layers', '--model', bigKeras, '--backend', 'cpu'],
      {
        cwd: ROOT,
        env: { ...process.env, TMPDIR: tmp, TSX_DISABLE_CACHE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Wait for the temporary weights to pass 16 MB, then interrupt.
    const deadline = Date.now() + 60_000;
    let sent = false;
    while (!sent && Date.now() < deadline) {
      for (const folder of cnnlensTemps(tmp)) {
        const file = path.join(tmp, folder, 'model.weights.h5');
        if (existsSync(file) && statSync(file).size > 16 * 2 ** 20) {
          child.kill('SIGINT');
          sent = true;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(sent, `the load never got going: ${stderr}`);
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /stopped \(SIGINT\)/);
    assert.deepEqual(cnnlensTemps(tmp), []);
  });

  describe('outputs appear whole, as a set, or not at all', () => {
    let modelDir: string;
    let photos: string;
    before(async () => {
      modelDir = path.join(dir, 'set-model');
      mkdirSync(modelDir);
      const model = twoConvGapModel(5);
      await saveModel(model, modelDir, { preprocess: 'zero-one', labels: ['ant', 'bee', 'cat', 'dog'] });
      model.dispose();
      photos = path.join(dir, 'big');
      mkdirSync(photos);
      const big = bigPhoto();
      for (const name of ['a.png', 'b.png', 'c.png']) await fs.writeFile(path.join(photos, name), big);
    });

    it('Ctrl-C (SIGINT) while explain writes --out, --heatmap and --json leaves no .tmp and none of them', async function () {
      if (process.platform === 'win32') this.skip();
      const out = tempDir('cnnlens-sigint-out-');
      const cli = spawnCli([
        'explain',
        path.join(photos, 'a.png'),
        '--model',
        modelDir,
        '--backend',
        'cpu',
        '--out',
        path.join(out, 'o.png'),
        '--heatmap',
        path.join(out, 'h.png'),
        '--json',
        path.join(out, 'r.json'),
      ]);
      // The first temporary file appears while the overlay is written; the heatmap's follows.
      const sent = await when(
        () => outputTemps(out).length > 0,
        () => cli.child.kill('SIGINT'),
      );
      assert.ok(sent, `no temporary output appeared: ${cli.stderr()}`);
      assert.equal(await cli.exited, 130, cli.stderr());
      assert.match(cli.stderr(), /stopped \(SIGINT\)/);
      assert.deepEqual(readdirSync(out), [], 'no temporary file and no output of the set');
    });

    it('a kill during a batch leaves the --json-lines file as it was; a finished run replaces it whole', async function () {
      if (process.platform === 'win32') this.skip();
      const out = tempDir('cnnlens-lines-');
      const lines = path.join(out, 'runs.jsonl');
      await fs.writeFile(lines, 'the previous run\n');
      const cli = spawnCli(['explain', photos, '--model', modelDir, '--backend', 'cpu', '--json-lines', lines]);
      const sent = await when(
        () => outputTemps(out).length > 0,
        () => cli.child.kill('SIGTERM'),
      );
      assert.ok(sent, `the run never opened its lines: ${cli.stderr()}`);
      assert.equal(await cli.exited, 143, cli.stderr());
      assert.equal(await fs.readFile(lines, 'utf8'), 'the previous run\n');
      assert.deepEqual(readdirSync(out), ['runs.jsonl']);

      const small = path.join(out, 'small');
      mkdirSync(small);
      for (const name of ['x.png', 'y.png']) await fs.writeFile(path.join(small, name), encodePng(noiseImage(30, 20, 3)));
      const { code, err } = await run(['explain', small, '--model', modelDir, '--backend', 'cpu', '--json-lines', lines]);
      assert.equal(code, 0, err);
      const records = (await fs.readFile(lines, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      assert.deepEqual(
        records.map((r) => [path.basename(r.file), r.ok]),
        [
          ['x.png', true],
          ['y.png', true],
        ],
      );
      assert.deepEqual(readdirSync(out).sort(), ['runs.jsonl', 'small']);
      assert.deepEqual(liveTempFiles(), []);
    });

    it('a set whose later file cannot be written leaves none of it (engine and CLI)', async () => {
      const out = tempDir('cnnlens-set-');
      const layer = {
        heatmap: { width: 2, height: 2, data: Float32Array.from([0, 0.5, 1, 0.25]) },
        colour: null,
        region: { x: 0, y: 0, width: 1, height: 1 },
        signed: false,
        imageSize: { width: 30, height: 20 },
      };
      const photo = path.join(out, 'photo.png');
      await fs.writeFile(photo, encodePng(noiseImage(30, 20, 9)));
      const overlayPath = path.join(out, 'o.png');
      await assert.rejects(
        writeOverlayFiles(photo, { maxPixels: 1e6, maxBytes: 1e6 }, layer, {
          overlayPath,
          heatmapPath: path.join(out, 'missing', 'h.png'),
          colormap: 'jet',
          opacity: 0.5,
        }),
        /Could not write the heatmap .*missing.*h\.png/,
      );
      assert.deepEqual(readdirSync(out), ['photo.png'], 'the overlay was not placed without its heatmap');
      // A stage placing into a taken name without replacing places none of the set.
      await fs.writeFile(path.join(out, 'b.txt'), 'kept');
      const stage = new OutputStage();
      await writeFileAtomic(path.join(out, 'a.txt'), 'new', { stage, replace: false });
      await writeFileAtomic(path.join(out, 'b.txt'), 'new', { stage, replace: false });
      await assert.rejects(stage.commit(), { code: 'EEXIST' });
      assert.deepEqual(readdirSync(out).sort(), ['b.txt', 'photo.png']);
      assert.equal(await fs.readFile(path.join(out, 'b.txt'), 'utf8'), 'kept');
      assert.deepEqual(liveTempFiles(), []);
    });
  });

  describe('the CLI refuses before the run', () => {
    let modelDir: string;
    let imagePath: string;
    before(async () => {
      modelDir = path.join(dir, 'model');
      mkdirSync(modelDir);
      const model = twoConvGapModel(5);
      await saveModel(model, modelDir, { preprocess: 'zero-one', labels: ['ant', 'bee', 'cat', 'dog'] });
      model.dispose();
      imagePath = path.join(dir, 'photo.png');
      await fs.writeFile(imagePath, encodePng(noiseImage(30, 20, 9)));
    });

    it('--out, --heatmap, --json into a missing folder, for explain, evaluate and look-inside commands', async () => {
      const missing = path.join(dir, 'no-such-folder');
      for (const args of [
        ['explain', imagePath, '--out', path.join(missing, 'o.png')],
        ['explain', imagePath, '--out', path.join(dir, 'o.png'), '--heatmap', path.join(missing, 'h.png')],
        ['explain', imagePath, '--out', path.join(dir, 'o.png'), '--json', path.join(missing, 'r.json')],
        ['evaluate', imagePath, '--json', path.join(missing, 'r.json')],
        ['featuremaps', imagePath, '--out', path.join(missing, 'g.png')],
        ['maximize', '--layer', 'conv2', '--out', path.join(missing, 'm.png')],
      ]) {
        const start = performance.now();
        // A model that does not exist: the check must come first.
        const { code, err } = await run([...args, '--model', path.join(dir, 'not-loaded')]);
        assert.equal(code, 2, err);
        assert.match(err, new RegExp(`Cannot write .*: the folder ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist\\.`));
        assert.ok(performance.now() - start < 1000);
      }
    });

    it('--out, --heatmap or --json naming a folder, or two outputs naming the same file', async () => {
      const folder = path.join(dir, 'a-folder');
      mkdirSync(folder);
      const out = path.join(dir, 'o.png');
      for (const args of [
        ['explain', imagePath, '--out', folder],
        ['explain', imagePath, '--out', out, '--heatmap', folder],
        ['explain', imagePath, '--out', out, '--json', folder],
        ['explain', dir, '--json-lines', folder],
        ['evaluate', imagePath, '--json', folder],
        ['featuremaps', imagePath, '--out', folder],
      ]) {
        const { code, err } = await run([...args, '--model', path.join(dir, 'not-loaded')]);
        assert.equal(code, 2, `${args.join(' ')}: ${err}`);
        assert.match(err, /Cannot write .*a-folder: it is a folder; name a file\./);
      }
      const same = await run(['explain', imagePath, '--out', out, '--heatmap', out, '--model', path.join(dir, 'not-loaded')]);
      assert.equal(same.code, 2);
      assert.match(same.err, /Two outputs name the same file .*o\.png; give each its own\./);
      assert.ok(!existsSync(out));
    });

    it('--out into a read-only folder or through a file', async function () {
      const { code, err } = await run(['explain', imagePath, '--model', modelDir, '--out', path.join(imagePath, 'o.png')]);
      assert.equal(code, 2);
      assert.match(err, /Cannot write .*: the folder .*photo\.png is not a folder\./);
      let readOnly: string | null = null;
      if (process.platform !== 'win32' && process.getuid?.() !== 0) {
        readOnly = path.join(dir, 'read-only');
        mkdirSync(readOnly);
        await fs.chmod(readOnly, 0o555);
      } else if (process.platform === 'linux') readOnly = '/proc/sys'; // read-only even for root
      if (!readOnly) this.skip();
      const result = await run(['explain', imagePath, '--model', path.join(dir, 'not-loaded'), '--out', path.join(readOnly, 'o.png')]);
      assert.equal(result.code, 2);
      assert.match(result.err, /Cannot write .*: the folder .* is not writable\./);
    });

    it('a --box outside the image, or without an area', async () => {
      for (const box of ['0,0,31,10', '-1,0,10,10', '5,5,5,10', '10,0,5,10', '0,0,10,nope']) {
        const { code, err } = await run([
          'evaluate',
          imagePath,
          '--model',
          modelDir,
          '--backend',
          'cpu',
          '--techniques',
          'gradcam',
          `--box=${box}`,
        ]);
        assert.equal(code, 2, err);
        if (box.includes('nope')) assert.match(err, /--box takes X0,Y0,X1,Y1; got "0,0,10,nope"/);
        else
          assert.match(
            err,
            new RegExp(`--box ${box} is not a box inside the image \\(30×20 pixels\\): it needs 0 ≤ X0 < X1 ≤ 30 and 0 ≤ Y0 < Y1 ≤ 20\\.`),
          );
      }
      const inside = await run([
        'evaluate',
        imagePath,
        '--model',
        modelDir,
        '--backend',
        'cpu',
        '--techniques',
        'gradcam',
        '--steps',
        '4',
        '--box',
        '0,0,30,20',
      ]);
      assert.equal(inside.code, 0, inside.err);
    });

    it('an image over the caps names the flag that raises them, and the flag works', async () => {
      const out = path.join(dir, 'capped.png');
      const pixels = await run(['explain', imagePath, '--model', modelDir, '--backend', 'cpu', '--out', out, '--max-megapixels', '0.0001']);
      assert.equal(pixels.code, 1);
      assert.match(pixels.err, /too large to open: 30×20 pixels .* is over the .* limit; raise the limit with --max-megapixels N/);
      const bytes = await run(['explain', imagePath, '--model', modelDir, '--backend', 'cpu', '--out', out, '--max-file-mb', '0.0001']);
      assert.equal(bytes.code, 1);
      assert.match(bytes.err, /too large to open: .* is over the .* limit; raise the limit with --max-file-mb N/);
      const bad = await run(['explain', imagePath, '--model', modelDir, '--out', out, '--max-file-mb', 'lots']);
      assert.equal(bad.code, 2);
      assert.match(bad.err, /--max-file-mb must be a positive number; got "lots"/);
      assert.ok(!existsSync(out));
      const ok = await run([
        'explain',
        imagePath,
        '--model',
        modelDir,
        '--backend',
        'cpu',
        '--out',
        out,
        '--max-megapixels',
        '0.001',
        '--max-file-mb',
        '1',
      ]);
      assert.equal(ok.code, 0, ok.err);
      assert.ok(existsSync(out));
      const featureMaps = await run([
        'featuremaps',
        imagePath,
        '--model',
        modelDir,
        '--backend',
        'cpu',
        '--out',
        path.join(dir, 'g.png'),
        '--max-megapixels',
        '0.0001',
      ]);
      assert.match(featureMaps.err, /raise the limit with --max-megapixels N/);
    });
  });
});
