import { strict as assert } from 'node:assert';
import { promises as fs, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { runCli as run } from './helpers/cli';
import { saveModel, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { encodePng } from '../../src/engine/image';
import { noiseImage } from './helpers/tinyModels';
import { fixture, requireFixtures } from './helpers/fixtures';

describe('cnn-lens CLI', () => {
  let dir: string;
  let modelDir: string;
  let imagePath: string;
  before(async () => {
    dir = tempDir();
    modelDir = path.join(dir, 'model');
    await fs.mkdir(modelDir);
    const model = twoConvGapModel(5);
    await saveModel(model, modelDir, { preprocess: 'zero-one', labels: ['ant', 'bee', 'cat', 'dog'] });
    model.dispose();
    imagePath = path.join(dir, 'photo.png');
    await fs.writeFile(imagePath, encodePng(noiseImage(30, 20, 9)));
  });

  it('explain writes the overlay, an 8-bit heatmap at image size and the JSON result', async () => {
    const overlay = path.join(dir, 'o.png');
    const heat = path.join(dir, 'h.png');
    const json = path.join(dir, 'r.json');
    const { code, out } = await run([
      'explain',
      imagePath,
      '--model',
      modelDir,
      '--backend',
      'cpu',
      '--class',
      'cat',
      '--out',
      overlay,
      '--heatmap',
      heat,
      '--json',
      json,
    ]);
    assert.equal(code, 0);
    assert.match(out, /gradcam of "cat" \(class 2/);
    const overlayPng = PNG.sync.read(await fs.readFile(overlay));
    assert.deepEqual([overlayPng.width, overlayPng.height], [30, 20]);
    const heatPng = PNG.sync.read(await fs.readFile(heat));
    assert.deepEqual([heatPng.width, heatPng.height], [30, 20]);
    assert.equal(heatPng.colorType, 0, 'grayscale');
    const values = Array.from({ length: 600 }, (_, i) => heatPng.data[i * 4]);
    assert.equal(Math.max(...values), 255, '255 = strongest');
    const result = JSON.parse(await fs.readFile(json, 'utf8'));
    assert.equal(result.technique, 'gradcam');
    assert.equal(result.layer, 'conv_b');
    assert.equal(result.backend, 'cpu');
    assert.deepEqual(Object.keys(result.class).sort(), ['index', 'label', 'score']);
    assert.equal(result.class.label, 'cat');
    assert.equal(result.predictions.length, 4);
    assert.ok(result.timings.forwardMs >= 0 && result.timings.techniqueMs >= 0);
  });

  it('explain without --out names the overlay <image>.<technique>.<class>.<layer>.png and never replaces it unless --overwrite; --out FILE replaces', async () => {
    const folder = path.join(dir, 'default-names');
    await fs.mkdir(folder);
    const photo = path.join(folder, 'photo.png');
    await fs.copyFile(imagePath, photo);
    const explainAs = (...extra: string[]) => run(['explain', photo, '--model', modelDir, '--backend', 'cpu', ...extra]);
    const files = async () => (await fs.readdir(folder)).sort();

    const first = await explainAs('--class', 'cat');
    assert.equal(first.code, 0, first.err);
    const cat = path.join(folder, 'photo.gradcam.cat.conv_b.png');
    assert.ok(first.out.includes(`overlay: ${cat}`), first.out);
    assert.deepEqual(await files(), ['photo.gradcam.cat.conv_b.png', 'photo.png'], 'named as the batch names it');
    const catBytes = await fs.readFile(cat);

    const dog = await explainAs('--class', 'dog', '--opacity', '0.9');
    assert.equal(dog.code, 0, dog.err);
    assert.deepEqual(
      await files(),
      ['photo.gradcam.cat.conv_b.png', 'photo.gradcam.dog.conv_b.png', 'photo.png'],
      'another class: another file',
    );
    assert.ok((await fs.readFile(cat)).equals(catBytes), 'the first class’s overlay is untouched');

    const again = await explainAs('--class', 'cat', '--opacity', '0.9');
    assert.equal(again.code, 1, 'the same class again: refused');
    assert.match(again.err, /^cnn-lens: .*photo\.gradcam\.cat\.conv_b\.png exists \(--overwrite replaces it\)/);
    assert.ok((await fs.readFile(cat)).equals(catBytes), 'and the file is kept');
    assert.deepEqual(
      await files(),
      ['photo.gradcam.cat.conv_b.png', 'photo.gradcam.dog.conv_b.png', 'photo.png'],
      'no temporary file either',
    );

    const overwritten = await explainAs('--class', 'cat', '--opacity', '0.9', '--overwrite');
    assert.equal(overwritten.code, 0, overwritten.err);
    assert.ok(!(await fs.readFile(cat)).equals(catBytes), '--overwrite replaces it (one image: not a batch)');

    const named = path.join(folder, 'mine.png');
    await fs.writeFile(named, 'an old file');
    const out = await explainAs('--class', 'cat', '--out', named);
    assert.equal(out.code, 0, out.err);
    assert.equal(PNG.sync.read(await fs.readFile(named)).width, 30, 'a file named with --out is replaced');
  });

  it('explain with --json - prints the result as JSON only', async () => {
    const { code, out } = await run([
      'explain',
      imagePath,
      '--model',
      modelDir,
      '--backend',
      'cpu',
      '--technique',
      'cam',
      '--out',
      path.join(dir, 'c.png'),
      '--json',
      '-',
    ]);
    assert.equal(code, 0);
    assert.equal(JSON.parse(out).technique, 'cam');
  });

  it('explain --view signed writes a signed map (128 = zero) and the colour view an RGB heatmap', async () => {
    const heat = path.join(dir, 'signed.png');
    const json = path.join(dir, 'signed.json');
    assert.equal(
      (
        await run([
          'explain',
          imagePath,
          '--model',
          modelDir,
          '--backend',
          'cpu',
          '--technique',
          'saliency',
          '--view',
          'signed',
          '--heatmap',
          heat,
          '--json',
          json,
          '--out',
          path.join(dir, 's.png'),
        ])
      ).code,
      0,
    );
    assert.equal(JSON.parse(await fs.readFile(json, 'utf8')).signed, true);
    const values = Array.from({ length: 600 }, (_, i) => PNG.sync.read(readFileSync(heat)).data[i * 4]);
    assert.ok(Math.min(...values) < 128 && Math.max(...values) > 128, 'both signs present');
    assert.ok(Math.min(...values) === 0 || Math.max(...values) === 255, 'the largest magnitude reaches an end');
    const colour = path.join(dir, 'colour.png');
    assert.equal(
      (
        await run([
          'explain',
          imagePath,
          '--model',
          modelDir,
          '--backend',
          'cpu',
          '--technique',
          'guided-backprop',
          '--view',
          'colour',
          '--heatmap',
          colour,
          '--out',
          path.join(dir, 'c.png'),
        ])
      ).code,
      0,
    );
    assert.equal(PNG.sync.read(readFileSync(colour)).colorType, 6, 'RGBA');
  });

  it('evaluate prints the faithfulness table, reads the box from boxes.json, and --json gives the rows', async () => {
    await fs.writeFile(path.join(dir, 'boxes.json'), JSON.stringify({ 'photo.png': { box: [0, 0, 15, 10] } }));
    const table = await run([
      'evaluate',
      imagePath,
      '--model',
      modelDir,
      '--backend',
      'cpu',
      '--techniques',
      'gradcam,eigencam,nope',
      '--steps',
      '5',
    ]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /technique\s+time ÷ fwd\s+deletion AUC ↓\s+insertion AUC ↑\s+avg drop ↓\s+increase\s+img×map Δ ↑\s+pointing/);
    assert.match(table.out, /^gradcam\s+[\d.]+\s+0\.\d{3}\s+0\.\d{3}\s+[\d.]+ %\s+(yes|no)\s+[+-]\d\.\d{3}\s+(hit|miss)$/m);
    assert.match(table.out, /^nope\s+error: Unknown technique "nope"/m);
    const { code, out } = await run([
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
      '1,2,3,4',
      '--json',
      '-',
    ]);
    assert.equal(code, 0);
    const result = JSON.parse(out);
    assert.deepEqual(result.box, [1, 2, 3, 4]);
    assert.equal(result.rows[0].deletion.probabilities.length, 5);
    assert.equal(typeof result.rows[0].pointing.hit, 'boolean');
    assert.equal((await run(['evaluate', imagePath, '--box', '1,2'])).code, 2);
    const road = await run([
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
      '--road',
      '--road-percentiles',
      '25,75',
      '--seed',
      '3',
    ]);
    assert.equal(road.code, 0, road.err);
    assert.match(road.out, /img×map Δ ↑\s+ROAD ↑\s+MoRF ↓\s+LeRF ↑/);
    assert.match(road.out, /^gradcam(\s+\S+){6}(\s+[+-]\d\.\d{3}){4}/m);
    const refused = await run(['evaluate', imagePath, '--road-noise', '0.1']);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /--road-noise sets up ROAD; add --road/);
    assert.equal((await run(['evaluate', imagePath, '--road', '--road-percentiles', '0,50'])).code, 2);
  });

  it('featuremaps, filters, maximize, classimage, dream and invert write their PNGs', async () => {
    const out = (name: string) => path.join(dir, `${name}.png`);
    const common = ['--model', modelDir, '--backend', 'cpu'];
    const runs: [string, string[]][] = [
      ['featuremaps', [imagePath, '--layer', 'conv_a', '--page-size', '2', '--page', '2']],
      ['filters', ['--layer', 'conv_a']],
      ['maximize', ['--layer', 'conv_b', '--filter', '1', '--steps', '5', '--jitter', '1', '--tv', '0.1']],
      ['classimage', ['--class', 'bee', '--steps', '5', '--fourier']],
      ['dream', [imagePath, '--layer', 'conv_a', '--steps', '3', '--octaves', '2']],
      ['invert', [imagePath, '--layer', 'conv_a', '--steps', '5']],
    ];
    for (const [command, args] of runs) {
      const { code, out: printed, err } = await run([command, ...args, ...common, '--out', out(command)]);
      assert.equal(code, 0, `${command}: ${err}`);
      const png = PNG.sync.read(readFileSync(out(command)));
      assert.ok(png.width > 0 && png.height > 0, `${command} wrote an image`);
      if (command === 'featuremaps') assert.match(printed, /conv_a: 4 channels of 6×6, page 2 of 2/);
      if (command === 'classimage') assert.match(printed, /class 1 \(bee\): objective .* in 5 steps/);
    }
    assert.equal((await run(['maximize', '--layer', 'conv_b', ...common])).code, 2, '--out is required');
    assert.equal((await run(['dream', '--layer', 'conv_b', '--out', out('x'), ...common])).code, 2, 'dream needs an image');
    assert.equal((await run(['maximize', '--layer', 'conv_b', '--clip-norm', '3', '--out', out('x'), ...common])).code, 2);
  });

  it('layers lists the layer table and --json gives it as data', async () => {
    const text = await run(['layers', '--model', modelDir, '--backend', 'cpu']);
    assert.equal(text.code, 0);
    assert.match(text.out, />\s+conv_b\s+Conv2D/);
    const json = await run(['layers', '--model', modelDir, '--backend', 'cpu', '--json']);
    assert.equal(JSON.parse(json.out).layers.length, 4);
  });

  const failures: [string, string[], number, RegExp][] = [
    ['a missing image', ['explain', '/no/such/image.png'], 1, /no\/such\/image\.png/],
    ['an unknown technique', ['explain', 'IMAGE', '--technique', 'magic'], 1, /Unknown technique "magic"/],
    ['an unknown class', ['explain', 'IMAGE', '--class', 'zebra'], 1, /No class is labelled "zebra"/],
    ['a bad colormap', ['explain', 'IMAGE', '--colormap', 'rainbow'], 2, /--colormap must be one of/],
    ['an unknown flag', ['explain', 'IMAGE', '--frobnicate'], 2, /frobnicate/],
    ['an unknown command', ['fly'], 2, /Unknown command "fly"/],
  ];
  for (const [what, args, exitCode, message] of failures) {
    it(`exits ${exitCode} with a one-line reason on ${what}`, async () => {
      const withPaths = args
        .map((a) => (a === 'IMAGE' ? imagePath : a))
        .concat(args[0] === 'explain' ? ['--model', modelDir, '--backend', 'cpu', '--out', path.join(dir, 'x.png')] : []);
      const { code, err } = await run(withPaths);
      assert.equal(code, exitCode);
      assert.match(err.split('\n')[0], /^cnn-lens: /);
      assert.match(err, message);
    });
  }

  for (const backend of ['wasm', 'cpu']) {
    it(`the bundled CLI (dist/) runs the default model (Darknet tiny, ImageNet) on the ${backend} backend`, function () {
      requireFixtures(this);
      const root = path.resolve(__dirname, '../..');
      const bin = path.join(root, 'bin', 'cnn-lens.js');
      const photo = fixture('images', 'pytorch-cnn-visualizations', 'cat_dog.png');
      const out = path.join(dir, `bundled-${backend}.png`);
      const run = spawnSync(process.execPath, [bin, 'explain', photo, '--backend', backend, '--out', out, '--json', '-'], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      const result = JSON.parse(run.stdout);
      assert.equal(result.backend, backend);
      assert.equal(result.model, 'Darknet tiny (ImageNet)');
      assert.equal(result.class.label, 'bull mastiff');
      assert.ok(PNG.sync.read(readFileSync(out)).width === 224);
    });
  }

  it('the bundled CLI (dist/) runs the Fashion-MNIST example with --model models/fashion-cam', () => {
    const root = path.resolve(__dirname, '../..');
    const bin = path.join(root, 'bin', 'cnn-lens.js');
    const sample = path.join(root, 'models', 'samples', 'bag.png');
    const out = path.join(dir, 'bundled-fashion.png');
    const args = [
      bin,
      'explain',
      sample,
      '--model',
      path.join(root, 'models', 'fashion-cam'),
      '--backend',
      'wasm',
      '--out',
      out,
      '--json',
      '-',
    ];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).class.label, 'Bag');
    assert.ok(PNG.sync.read(readFileSync(out)).width === 64);
  });
});
