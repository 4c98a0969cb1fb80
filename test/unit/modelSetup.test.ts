import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { resolveModelConfig, writeSidecar } from '../../src/files/modelConfig';
import { checkScalings } from '../../src/engine/preprocessCheck';
import { scalerFor } from '../../src/engine/preprocess';
import { tf } from '../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../src/engine/types';
import { fixture, requireFixtures } from './helpers/fixtures';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const quiet = () => undefined;

const copies: string[] = [];

function copyOfMobileNet(): string {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-setup-'));
  copies.push(parent);
  const dir = path.join(parent, 'mobilenet');
  cpSync(fixture('models', 'mobilenet_v1_0.25_224_layers'), dir, { recursive: true });
  return dir;
}

function mobilenet0(checks: { preset: string; resize?: unknown; predictions: { score: number }[] }[]) {
  return checks.find((c) => c.preset === 'mobilenet' && !c.resize)!;
}

describe('model setup: cnnlens.json and Check preprocessing', () => {
  let engine: Engine;
  let snake: RgbaImage;

  before(async function () {
    requireFixtures(this);
    engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: quiet });
    snake = await readImageFile(fixture('images/pytorch-cnn-visualizations/snake.png'), DEFAULT_IMAGE_LIMITS);
  });
  after(() => {
    engine?.dispose();
    for (const dir of copies.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('writes cnnlens.json that reads back the same, keeping keys it does not set', async () => {
    const dir = copyOfMobileNet();
    writeFileSync(path.join(dir, 'cnnlens.json'), JSON.stringify({ layer: 'conv_pw_12_relu', name: 'My MobileNet', labels: ['stale'] }));
    writeFileSync(path.join(dir, 'classes.txt'), 'a\nb\nc\n');
    await writeSidecar(dir, { preprocess: 'imagenet', channelOrder: 'bgr', labels: 'classes.txt' });
    let config = await resolveModelConfig(dir, {}, {});
    assert.deepEqual(config.preprocessing, { preset: 'imagenet', source: 'cnnlens.json', channelOrder: 'bgr' });
    assert.deepEqual(config.labels, ['a', 'b', 'c']);
    assert.equal(config.layer, 'conv_pw_12_relu');
    assert.equal(config.displayName, 'My MobileNet');

    // Labels given inline, RGB (the default, so not written), labels kept when not named.
    await writeSidecar(dir, { preprocess: 'zero-one', channelOrder: 'rgb', labels: ['x', 'y'] });
    await writeSidecar(dir, { preprocess: 'caffe', channelOrder: 'bgr' });
    const written = JSON.parse(readFileSync(path.join(dir, 'cnnlens.json'), 'utf8'));
    assert.deepEqual(
      written,
      { layer: 'conv_pw_12_relu', name: 'My MobileNet', labels: ['x', 'y'], preprocess: 'caffe' },
      'caffe is BGR by definition: no channelOrder key',
    );
    config = await resolveModelConfig(dir, {}, {});
    assert.deepEqual(config.preprocessing, { preset: 'caffe', source: 'cnnlens.json' });

    await writeSidecar(dir, { preprocess: 'raw', channelOrder: 'rgb', labels: null });
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'cnnlens.json'), 'utf8')).labels, undefined);
    await assert.rejects(
      writeSidecar(dir, { preprocess: 'raw', channelOrder: 'rgb', labels: '../elsewhere.txt' }),
      /outside the model's folder/,
    );

    // A broken cnnlens.json: merging refuses, naming the file; replacing writes a fresh one.
    writeFileSync(path.join(dir, 'cnnlens.json'), '{ "preprocess": ');
    await assert.rejects(writeSidecar(dir, { preprocess: 'raw', channelOrder: 'rgb' }), /cnnlens\.json is not valid JSON/);
    await writeSidecar(dir, { preprocess: 'zero-one', channelOrder: 'rgb', labels: null }, true);
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'cnnlens.json'), 'utf8')), { preprocess: 'zero-one' });
  });

  it('a changed labels file reloads the model with the new labels', async () => {
    const dir = copyOfMobileNet();
    writeFileSync(path.join(dir, 'names.txt'), Array.from({ length: 1000 }, (_, i) => `old ${i}`).join('\n'));
    await writeSidecar(dir, { preprocess: 'mobilenet', channelOrder: 'rgb', labels: 'names.txt' });
    assert.equal((await engine.loadModel(dir)).labels[56], 'old 56');
    // A later modification time, as an editor's save gives.
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(path.join(dir, 'names.txt'), Array.from({ length: 1000 }, (_, i) => `new ${i}`).join('\n'));
    assert.equal((await engine.loadModel(dir)).labels[56], 'new 56');
  });

  it('refuses a channelOrder that is not rgb or bgr, naming the file', async () => {
    const dir = copyOfMobileNet();
    writeFileSync(path.join(dir, 'cnnlens.json'), JSON.stringify({ channelOrder: 'grb' }));
    await assert.rejects(resolveModelConfig(dir, {}, {}), /cnnlens\.json: "channelOrder" must be one of rgb, bgr/);
  });

  it('BGR reverses the channels after scaling; caffe stays as it is', () => {
    const pixels = tf.tensor4d([10, 20, 30, 200, 100, 0], [1, 1, 2, 3]);
    const rgb = scalerFor(3, 'zero-one')(pixels);
    const bgr = scalerFor(3, 'zero-one', 'bgr')(pixels);
    assert.deepEqual(Array.from(bgr.dataSync()), Array.from(tf.reverse(rgb, -1).dataSync()));
    const caffe = scalerFor(3, 'caffe')(pixels);
    const caffeBgr = scalerFor(3, 'caffe', 'bgr')(pixels);
    assert.deepEqual(Array.from(caffeBgr.dataSync()), Array.from(caffe.dataSync()));
    tf.dispose([pixels, rgb, bgr, caffe, caffeBgr]);
  });

  it('Check preprocessing: the right scaling gives the verified top-1; each candidate is fed its own range', async () => {
    const dir = copyOfMobileNet();
    const model = await engine.loadModel(dir);
    const before = tf.memory().numTensors;
    const checks = checkScalings(model, snake);
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    const scalings = checks.filter((c) => !c.resize);
    assert.deepEqual(
      scalings.map((c) => `${c.preset}/${c.channelOrder}`),
      ['mobilenet/rgb', 'zero-one/rgb', 'imagenet/rgb', 'caffe/bgr', 'raw/rgb'],
    );
    // Then the scaling in use under the other resize choices (the default, stretched + antialiased, is the row above).
    const resizes = checks.filter((c) => c.resize);
    assert.deepEqual(
      resizes.map((c) => `${c.preset}/${c.resize!.mode}/${c.resize!.antialias}`),
      ['mobilenet/stretch/false', 'mobilenet/center-crop/true'],
    );
    assert.ok(resizes.every((c) => !c.inUse && c.predictions.length === 5));
    assert.equal(resizes[0].predictions[0].index, 56, 'a 224-px photo needs no antialiasing: same top-1');
    assert.notEqual(resizes[1].predictions[0].score, mobilenet0(checks).predictions[0].score, 'the centre crop feeds other pixels');
    const byPreset = new Map(scalings.map((c) => [c.preset, c]));
    const mobilenet = byPreset.get('mobilenet')!;
    assert.equal(mobilenet.inUse, true, 'the default scaling is in use');
    // fixtures/README.md: 56 king snake 0.9033 under x/127.5 − 1.
    assert.equal(mobilenet.predictions[0].index, 56);
    assert.ok(Math.abs(mobilenet.predictions[0].score - 0.9033) < 2e-3, `p = ${mobilenet.predictions[0].score}`);
    assert.ok(mobilenet.inputRange[0] >= -1 && mobilenet.inputRange[1] <= 1 && mobilenet.inputRange[1] - mobilenet.inputRange[0] > 1.5);
    assert.ok(byPreset.get('zero-one')!.inputRange[0] >= 0 && byPreset.get('zero-one')!.inputRange[1] <= 1);
    assert.ok(byPreset.get('raw')!.inputRange[1] > 200);
    assert.notEqual(byPreset.get('raw')!.predictions[0].index, 56, 'unscaled 0–255 input confuses the model');
    assert.ok(checks.every((c) => c.predictions.length === 5));

    // The same check after choosing BGR in cnnlens.json: the loaded model is reloaded, and its scaling is listed.
    await writeSidecar(dir, { preprocess: 'mobilenet', channelOrder: 'bgr' });
    const reloaded = await engine.loadModel(dir);
    assert.notEqual(reloaded, model, 'a changed cnnlens.json reloads the model');
    assert.equal(reloaded.summary.preprocessing.channelOrder, 'bgr');
    const again = checkScalings(reloaded, snake);
    const inUse = again.filter((c) => c.inUse);
    assert.ok(
      again.filter((c) => c.resize).every((c) => c.preset === 'mobilenet' && c.channelOrder === 'bgr'),
      'resize choices use the scaling in use',
    );
    assert.deepEqual(
      inUse.map((c) => `${c.preset}/${c.channelOrder}`),
      ['mobilenet/bgr'],
    );
    assert.ok(again.some((c) => c.preset === 'mobilenet' && c.channelOrder === 'rgb' && !c.inUse));
  });

  it('cnnlens.json "resize": read into the summary, saved by writeSidecar, and every mistake named', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-resize-'));
    try {
      writeFileSync(
        path.join(dir, 'cnnlens.json'),
        JSON.stringify({ resize: { mode: 'center-crop', shorterSide: 288, interpolation: 'bicubic' } }),
      );
      const config = await resolveModelConfig(dir, {}, {});
      assert.deepEqual(config.preprocessing.resize, { mode: 'center-crop', shorterSide: 288, interpolation: 'bicubic', antialias: true });
      await writeSidecar(dir, {
        preprocess: 'imagenet',
        channelOrder: 'rgb',
        resize: { mode: 'stretch', interpolation: 'bilinear', antialias: false },
      });
      assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'cnnlens.json'), 'utf8')).resize, {
        mode: 'stretch',
        interpolation: 'bilinear',
        antialias: false,
      });
      const bad: [unknown, RegExp][] = [
        ['crop', /"resize" must be an object/],
        [{ mode: 'fit' }, /"resize.mode" must be one of stretch, center-crop/],
        [{ interpolation: 'lanczos' }, /"resize.interpolation" must be one of bilinear, bicubic, nearest, area/],
        [{ antialias: 'yes' }, /"resize.antialias" must be true or false/],
        [{ mode: 'center-crop', shorterSide: 0 }, /"resize.shorterSide" must be a whole number/],
        [{ shorterSide: 256 }, /only applies with "mode": "center-crop"/],
        [{ mode: 'center-crop', crop: 224 }, /"resize" has no setting "crop"/],
      ];
      for (const [resize, message] of bad) {
        writeFileSync(path.join(dir, 'cnnlens.json'), JSON.stringify({ resize }));
        await assert.rejects(resolveModelConfig(dir, {}, {}), message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
