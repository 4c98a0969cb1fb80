/**
 * `cnn-lens explain IMAGE|DIR|GLOB...` as a user runs it: the bundled CLI (dist/cli.js, `npm run build`) in a
 * child process, on the Fashion-MNIST example model and its 64×64 samples; plus the file-name and glob
 * helpers in-process.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { expandGlob, expandInputs } from '../../src/cli/inputs';
import { outputStems } from '../../src/cli/explainBatch';
import { sanitizeNamePart } from '../../src/files/outputNames';
import { tempDir } from './helpers/tinyModels';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'cnn-lens.js');
const MODEL = path.join(ROOT, 'models', 'fashion-cam');
const SAMPLES = path.join(ROOT, 'models', 'samples');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** The CLI in a child process (stdout and stderr are pipes: no progress line). */
function cli(
  args: string[],
  options: { cwd?: string; onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      options.onStdout?.(out, child);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

const model = ['--model', MODEL, '--backend', 'wasm'];

async function copySample(name: string, to: string): Promise<string> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.copyFile(path.join(SAMPLES, name), to);
  return to;
}

describe('cnn-lens explain over many images (bundled CLI)', () => {
  let dir: string;
  let photos: string;
  before(async () => {
    dir = tempDir();
    photos = path.join(dir, 'photos');
    await copySample('bag.png', path.join(photos, 'bag.png'));
    await copySample('dress.png', path.join(photos, 'dress.png'));
    await copySample('sandal.png', path.join(photos, 'sandal.png'));
    await fs.writeFile(path.join(photos, 'broken.jpg'), 'this is not a JPEG\n');
    await fs.writeFile(path.join(photos, 'notes.txt'), 'not an image: skipped\n');
    await copySample('trouser_cluttered.png', path.join(photos, 'sub', 'trouser.png'));
  });

  it('a folder: every image explained with one model load, the failure listed, exit 1', async () => {
    const out = path.join(dir, 'out-folder');
    await fs.mkdir(out);
    const run = await cli(['explain', photos, '--out-dir', out, '--heatmaps', ...model]);
    assert.equal(run.code, 1, run.err);
    const written = (await fs.readdir(out)).sort();
    assert.deepEqual(written, [
      'bag.gradcam.Bag.block4_relu2.heatmap.png',
      'bag.gradcam.Bag.block4_relu2.png',
      'dress.gradcam.Dress.block4_relu2.heatmap.png',
      'dress.gradcam.Dress.block4_relu2.png',
      'sandal.gradcam.Sandal.block4_relu2.heatmap.png',
      'sandal.gradcam.Sandal.block4_relu2.png',
    ]);
    assert.equal(PNG.sync.read(readFileSync(path.join(out, 'bag.gradcam.Bag.block4_relu2.png'))).width, 64);
    // One line per image, in path order; the subfolder only with --recursive; notes.txt is no image.
    const lines = run.out.trim().split('\n');
    assert.equal(lines.length, 4);
    assert.match(
      lines[0],
      /^\[1\/4\] .*bag\.png: gradcam of "Bag" \(class 8, p=0\.\d{4}\) at block4_relu2 → .*bag\.gradcam\.Bag\.block4_relu2\.png$/,
    );
    assert.match(lines[1], /^\[2\/4\] .*broken\.jpg: failed: "broken\.jpg" is not a readable image/);
    assert.match(run.err, /^cnn-lens: 4 images: 3 explained, 1 failed in [\d.]+ s \([\d.]+ s per image\)$/m);
    assert.match(run.err, /^failed:\n {2}.*broken\.jpg: "broken\.jpg" is not a readable image/m);
    assert.doesNotMatch(run.err, /\r|\x1b\[/, 'no progress line when stderr is not a terminal');
  });

  it('--recursive takes the subfolders; --json-lines - prints one JSON object per image and nothing else', async () => {
    const run = await cli(['explain', photos, '--recursive', '--json-lines', '-', ...model]);
    assert.equal(run.code, 1, run.err);
    // The lines a person reads go to stderr, so stdout stays JSON lines.
    assert.match(run.err, /^\[1\/5\] .*bag\.png: gradcam of "Bag" \(class 8, p=0\.\d{4}\) at block4_relu2$/m);
    assert.match(run.err, /^\[2\/5\] .*broken\.jpg: failed: /m);
    assert.match(run.err, /^cnn-lens: 5 images: 4 explained, 1 failed in /m);
    const records = run.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      records.map((r) => path.relative(photos, r.file as string)),
      ['bag.png', 'broken.jpg', 'dress.png', 'sandal.png', path.join('sub', 'trouser.png')],
    );
    const bag = records[0] as {
      ok: boolean;
      class: { label: string };
      layer: string;
      technique: string;
      predictions: unknown[];
      timings: Record<string, number>;
      outputs: object;
    };
    assert.equal(bag.ok, true);
    assert.equal(bag.class.label, 'Bag');
    assert.equal(bag.layer, 'block4_relu2');
    assert.equal(bag.technique, 'gradcam');
    assert.equal(bag.predictions.length, 5);
    assert.ok(bag.timings.forwardMs >= 0 && bag.timings.wallMs >= 0);
    assert.deepEqual(bag.outputs, {}, 'no --out-dir: results only');
    assert.equal(records[1].ok, false);
    assert.match(records[1].error as string, /not a readable image/);
    assert.equal(records[4].ok, true);
  });

  it('--json-lines FILE writes the lines to the file; the same name in two folders gives two outputs', async () => {
    const twins = path.join(dir, 'twins');
    await copySample('bag.png', path.join(twins, 'a', 'x.png'));
    await copySample('dress.png', path.join(twins, 'b', 'x.png'));
    const out = path.join(dir, 'out-twins');
    await fs.mkdir(out);
    const jsonl = path.join(dir, 'twins.jsonl');
    const run = await cli([
      'explain',
      path.join(twins, 'a', 'x.png'),
      path.join(twins, 'b', 'x.png'),
      '--out-dir',
      out,
      '--json-lines',
      jsonl,
      ...model,
    ]);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual((await fs.readdir(out)).sort(), ['a_x.gradcam.Bag.block4_relu2.png', 'b_x.gradcam.Dress.block4_relu2.png']);
    const records = (await fs.readFile(jsonl, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { outputs: { overlay: string } });
    assert.deepEqual(
      records.map((r) => path.basename(r.outputs.overlay)),
      ['a_x.gradcam.Bag.block4_relu2.png', 'b_x.gradcam.Dress.block4_relu2.png'],
    );
  });

  it('an existing output is not replaced without --overwrite', async () => {
    const out = path.join(dir, 'out-existing');
    await fs.mkdir(out);
    const existing = path.join(out, 'sandal.gradcam.Sandal.block4_relu2.png');
    await fs.writeFile(existing, 'mine');
    const refused = await cli(['explain', path.join(photos, 'sandal.png'), path.join(photos, 'bag.png'), '--out-dir', out, ...model]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /sandal\.png: .*sandal\.gradcam\.Sandal\.block4_relu2\.png exists \(--overwrite replaces it\)/);
    assert.equal(await fs.readFile(existing, 'utf8'), 'mine');
    assert.ok((await fs.readdir(out)).includes('bag.gradcam.Bag.block4_relu2.png'), 'the other image still ran');
    const replaced = await cli(['explain', path.join(photos, 'sandal.png'), '--out-dir', out, '--overwrite', ...model]);
    assert.equal(replaced.code, 0, replaced.err);
    assert.equal(PNG.sync.read(readFileSync(existing)).width, 64);
  });

  it('a glob is expanded by the CLI itself (as on Windows, where the shell does not)', async () => {
    const run = await cli(['explain', 'photos/*a*.png', 'photos/**/trouser.png', '--json-lines', '-', ...model], { cwd: dir });
    assert.equal(run.code, 0, run.err);
    const files = run.out
      .trim()
      .split('\n')
      .map((line) => path.relative(photos, (JSON.parse(line) as { file: string }).file));
    assert.deepEqual(files, ['bag.png', 'sandal.png', path.join('sub', 'trouser.png')]);
    const none = await cli(['explain', 'photos/*.gif', '--json-lines', '-', ...model], { cwd: dir });
    assert.equal(none.code, 2);
    assert.match(none.err, /No image matches photos\/\*\.gif/);
  });

  it('single-image flags with several images, and arguments a command does not take, are refused before the model loads', async () => {
    const noModel = ['--model', path.join(dir, 'no-such-model')];
    const cases: [string[], RegExp][] = [
      [
        ['explain', path.join(photos, 'bag.png'), path.join(photos, 'dress.png'), '--out', path.join(dir, 'o.png')],
        /--out writes one image's overlay; .* use --out-dir FOLDER/,
      ],
      [['explain', photos, '--heatmap', path.join(dir, 'h.png'), '--out-dir', dir], /--heatmap writes one image's heatmap; .* --heatmaps/],
      [['explain', photos, '--json', '-'], /--json writes one image's JSON result; .* --json-lines/],
      [['explain', photos], /give --out-dir FOLDER \(or --json-lines FILE\|- for the results alone\)/],
      [['explain', photos, '--out-dir', path.join(dir, 'missing')], /--out-dir .*missing is not a folder/],
      [['explain', photos, '--frobnicate'], /frobnicate/],
      [['layers', 'extra'], /layers takes no positional argument; got "extra"/],
      [['layers', '--technique', 'gradcam'], /layers does not take --technique/],
      [['featuremaps', 'a.png', 'b.png', '--layer', 'x', '--out', 'o.png'], /featuremaps takes one IMAGE; got also "b\.png"/],
      [['evaluate', 'a.png', '--out', 'o.png'], /evaluate does not take --out/],
    ];
    for (const [args, message] of cases) {
      const run = await cli([...args, ...(args[0] === 'layers' ? [] : noModel)]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.err}`);
      assert.match(run.err, message);
      assert.doesNotMatch(run.err, /no-such-model/, 'refused before the model loads');
    }
  });

  it('evaluate over many images: means per technique, boxes from --boxes, the failure listed', async () => {
    const boxes = path.join(dir, 'my-boxes.json');
    await fs.writeFile(boxes, JSON.stringify({ 'bag.png': { box: [19, 10, 58, 37] }, 'photos/dress.png': [38, 13, 53, 48] }));
    const json = path.join(dir, 'means.json');
    const args = ['evaluate', photos, '--techniques', 'gradcam,eigencam', '--steps', '5', '--boxes', boxes, '--json', json, ...model];
    const run = await cli(args);
    assert.equal(run.code, 1, run.err);
    assert.match(
      run.out,
      /^\[1\/4\] .*bag\.png: class "Bag" \(#8\), box \[19, 10, 58, 37\]; deletion\/insertion AUC: gradcam 0\.\d{3}\/0\.\d{3}/m,
    );
    assert.match(run.out, /dress\.png: class "Dress" \(#3\), box \[38, 13, 53, 48\]/);
    assert.match(run.out, /^fashion-cam: means over 3 of 4 images, 5 deletion\/insertion steps$/m);
    assert.match(
      run.out,
      /^technique\s+images\s+time ÷ fwd\s+deletion AUC ↓\s+insertion AUC ↑\s+avg drop ↓\s+increase\s+img×map Δ ↑\s+pointing$/m,
    );
    assert.match(run.out, /^gradcam\s+3\s+[\d.]+\s+0\.\d{3}\s+0\.\d{3}\s+[\d.]+ %\s+\d+ %\s+[+-]\d\.\d{3}\s+\d\/2$/m);
    assert.match(run.err, /4 images: 3 evaluated, 1 failed/);
    assert.match(run.err, /broken\.jpg: "broken\.jpg" is not a readable image/);
    const means = JSON.parse(await fs.readFile(json, 'utf8')) as {
      images: number;
      evaluated: number;
      rows: { technique: string; images: number; deletionAuc: number; imageTimesMapChange: number; pointing: { boxed: number } }[];
    };
    assert.equal(means.images, 4);
    assert.equal(means.evaluated, 3);
    assert.deepEqual(
      means.rows.map((r) => [r.technique, r.images, r.pointing.boxed]),
      [
        ['gradcam', 3, 2],
        ['eigencam', 3, 2],
      ],
    );
    assert.ok(means.rows[0].deletionAuc > 0 && means.rows[0].deletionAuc < 1);
    assert.ok(Math.abs(means.rows[0].imageTimesMapChange) <= 1, "the image × map change's mean");
    const refused = await cli(['evaluate', photos, '--box', '1,2,3,4', '--model', path.join(dir, 'no-such-model')]);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /--box is one image's box; for several images use --boxes FILE/);
  });

  it('evaluate over many images with --json -: stdout is the JSON alone, the lines a person reads go to stderr', async () => {
    const images = [path.join(photos, 'bag.png'), path.join(photos, 'dress.png')];
    const run = await cli(['evaluate', ...images, '--techniques', 'gradcam', '--steps', '4', '--json', '-', ...model]);
    assert.equal(run.code, 0, run.err);
    const means = JSON.parse(run.out) as {
      model: string;
      images: number;
      evaluated: number;
      rows: { technique: string; images: number }[];
    };
    assert.deepEqual([means.model, means.images, means.evaluated], ['fashion-cam', 2, 2]);
    assert.deepEqual(
      means.rows.map((r) => [r.technique, r.images]),
      [['gradcam', 2]],
    );
    assert.match(run.err, /^\[1\/2\] .*bag\.png: class "Bag" \(#8\)/m);
    assert.match(run.err, /^\[2\/2\] .*dress\.png: class "Dress" \(#3\)/m);
    assert.match(run.err, /^fashion-cam: means over 2 of 2 images, 4 deletion\/insertion steps$/m);
    assert.match(run.err, /^gradcam\s+2\s+/m);
    assert.match(run.err, /^cnn-lens: 2 images: 2 evaluated, 0 failed/m);

    const lines = await cli(['evaluate', ...images, '--techniques', 'gradcam', '--steps', '4', '--json-lines', '-', ...model]);
    assert.equal(lines.code, 0, lines.err);
    const records = lines.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { file: string; ok: boolean; class: { label: string } });
    assert.deepEqual(
      records.map((r) => [path.basename(r.file), r.ok, r.class.label]),
      [
        ['bag.png', true, 'Bag'],
        ['dress.png', true, 'Dress'],
      ],
    );
    assert.match(lines.err, /^\[2\/2\] .*dress\.png: class "Dress"/m);
    assert.match(lines.err, /^fashion-cam: means over 2 of 2 images/m);
  });

  it('Ctrl-C stops after the current image, prints the summary so far and exits 130', async () => {
    const many = path.join(dir, 'many');
    await fs.mkdir(many);
    for (let i = 0; i < 30; i++) await fs.copyFile(path.join(SAMPLES, 'bag.png'), path.join(many, `bag${String(i).padStart(2, '0')}.png`));
    let sent = false;
    const run = await cli(['explain', many, '--json-lines', '-', '--technique', 'smoothgrad', '--samples', '20', ...model], {
      onStdout: (text, child) => {
        if (!sent && text.includes('\n')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    });
    assert.equal(run.code, 130, run.err);
    const done = run.out.trim().split('\n').length;
    assert.ok(done >= 1 && done < 30, `stopped early (${done} of 30)`);
    assert.match(run.err, /stopping after the current image/);
    assert.match(run.err, new RegExp(`stopped by Ctrl-C after ${done} of 30 images; 30 images: ${done} explained, 0 failed`));
  });
});

describe('batch file names and globs', () => {
  it('sanitises name parts for every file system', () => {
    assert.equal(sanitizeNamePart('bull mastiff'), 'bull_mastiff');
    assert.equal(sanitizeNamePart('model/conv2d_1/Conv2D'), 'model_conv2d_1_Conv2D');
    assert.equal(sanitizeNamePart('T-shirt/top'), 'T-shirt_top');
    assert.equal(sanitizeNamePart('a:b*c?"<>|'), 'a_b_c_');
    assert.equal(sanitizeNamePart('block1.conv'), 'block1_conv');
    assert.equal(sanitizeNamePart('photo.v2', 100, true), 'photo.v2');
    assert.equal(sanitizeNamePart('CON'), '_CON');
    assert.equal(sanitizeNamePart('???'), '', 'nothing left: the caller names it (class<index>, image)');
    assert.equal(sanitizeNamePart('x'.repeat(200)).length, 60);
  });

  it('tells the same name in two folders (or two endings in one) apart', () => {
    const sep = path.sep;
    assert.deepEqual(outputStems([`${sep}p${sep}a${sep}cat.jpg`, `${sep}p${sep}b${sep}cat.jpg`, `${sep}p${sep}dog.png`]), [
      'a_cat',
      'b_cat',
      'dog',
    ]);
    assert.deepEqual(outputStems([`${sep}p${sep}cat.jpg`, `${sep}p${sep}cat.png`]), ['cat_jpg', 'cat_png']);
    assert.deepEqual(outputStems([`${sep}p${sep}Cat.jpg`, `${sep}q${sep}cat.jpg`]), ['p_Cat', 'q_cat']);
    assert.deepEqual(outputStems([`${sep}p${sep}a b.jpg`, `${sep}p${sep}a_b.jpg`]), ['a_b', 'a_b-2']);
  });

  it('expands *, ? and ** and keeps only images, sorted, each once', async () => {
    const dir = tempDir();
    for (const file of ['a1.png', 'a2.JPG', 'b1.png', '.hidden.png', 'x.txt', 'sub/a3.webp', 'sub/deep/a4.png']) {
      await fs.mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await fs.writeFile(path.join(dir, file), '');
    }
    const rel = (files: string[]) => files.map((f) => path.relative(dir, f).split(path.sep).join('/'));
    assert.deepEqual(rel(await expandGlob(path.join(dir, 'a?.*'))), ['a1.png', 'a2.JPG']);
    assert.deepEqual(rel(await expandGlob(path.join(dir, '**', 'a*'))), ['a1.png', 'a2.JPG', 'sub/a3.webp', 'sub/deep/a4.png']);
    assert.deepEqual(rel(await expandGlob(path.join(dir, 'sub', '**'))), ['sub/a3.webp', 'sub/deep/a4.png']);
    assert.deepEqual(rel(await expandGlob(path.join(dir, '*'))), ['a1.png', 'a2.JPG', 'b1.png']);
    assert.deepEqual(rel(await expandInputs([dir, path.join(dir, 'a1.png')], { recursive: false })), ['a1.png', 'a2.JPG', 'b1.png']);
    assert.deepEqual(rel(await expandInputs([dir], { recursive: true, skip: [path.join(dir, 'sub', 'deep')] })), [
      'a1.png',
      'a2.JPG',
      'b1.png',
      'sub/a3.webp',
    ]);
  });
});
