/**
 * A 12 MP phone photo through the real engine worker (dist/engineWorker.js, driven by EngineClient as the
 * extension drives it): explain, a class change, the panel's display copy and the full-size export, with
 * every message the worker sends checked to carry nothing bigger than the panel's display size and every
 * export request checked to carry no pixels at all (the export names its run by job id); then a cancelled
 * explain and cancelled exports that must leave no file behind and the same worker serving the next request.
 *
 * Needs the bundle: when dist/engineWorker.js is missing or older than src/, `node build.mjs` (npm run build)
 * runs first. Runs with sharp and with CNN_LENS_IMAGE_CODEC=js (the worker inherits the environment).
 * Tensors live in the worker thread, out of this thread's tf.memory(); the engine-level leak checks are in
 * photo.test.ts.
 */
import * as assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { sharpCodec } from '../../src/engine/image';
import type { Explanation } from '../../src/engine/types';
import { RunCancelledError, type Kept } from '../../src/host/engineApi';
import { EngineClient, type EngineSettings } from '../../src/host/engineClient';
import { CancelSource } from '../../src/host/panel/cancelSource';
import { DISPLAY_MAX_SIDE } from '../../src/shared/display';
import type { WorkerReply } from '../../src/worker/workerProtocol';
import { fixture, requireFixtures } from './helpers/fixtures';
import { raw, upscaledRaw } from './helpers/photos';
import { tempDir } from './helpers/tinyModels';
import { DIST, ensureWorkerBuilt } from './helpers/workerBundle';

type Sharp = typeof import('sharp');

const CODEC = sharpCodec().sharp ? 'sharp' : 'js';
/** The most any one typed array in a worker message may hold: an RGBA copy at display size (Float32 maps: that many values). */
const MAX_BYTES = 4 * DISPLAY_MAX_SIDE ** 2;
const MAX_FLOATS = DISPLAY_MAX_SIDE ** 2;

/** The fixture photo upscaled to a phone photo's size with seeded grain, as a quality-90 JPEG. */
async function makePhoto(sharp: Sharp, file: string, width: number, height: number): Promise<void> {
  const data = await upscaledRaw(sharp, width, height, 8);
  writeFileSync(file, await sharp(data, raw(width, height)).jpeg({ quality: 90 }).toBuffer());
}

/** Width and height from a PNG's IHDR. */
function pngSize(file: string): [number, number] {
  const bytes = readFileSync(file);
  assert.equal(bytes.toString('latin1', 12, 16), 'IHDR', `${file} is a PNG`);
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

interface Payload {
  where: string;
  kind: string;
  length: number;
  bytes: number;
}

/** Every typed array (and bare ArrayBuffer) in a message, with where it sits. */
function payloads(value: unknown, where: string, found: Payload[] = [], seen = new Set<object>()): Payload[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return found;
  seen.add(value);
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value ? (value as unknown as { length: number }).length : value.byteLength;
    found.push({ where, kind: value.constructor.name, length, bytes: value.byteLength });
  } else if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    found.push({ where, kind: value.constructor.name, length: value.byteLength, bytes: value.byteLength });
  } else {
    for (const [key, inner] of Object.entries(value)) payloads(inner, `${where}.${key}`, found, seen);
  }
  return found;
}

describe(`a 12 MP photo through the engine worker (codec: ${CODEC})`, function () {
  let sharp: Sharp;
  let dir: string;
  let photoDir: string;
  let photo: string;
  let client: EngineClient;
  const logs: string[] = [];
  const received: WorkerReply[] = [];
  const tooBig: string[] = [];
  let largest: Payload | null = null;

  const settings = (): EngineSettings => ({
    backend: 'wasm',
    onnxRuntime: 'auto',
    modelPath: fixture('models/mobilenet_v1_0.75_224_layers/model.json'),
    modelProblem: null,
    defaults: {},
    limits: { maxPixels: 40e6, maxBytes: 100 * 2 ** 20 },
  });

  const job = (imagePath: string, classIndex: number | null = null) => ({
    imagePath,
    technique: 'gradcam',
    classIndex,
    layer: null,
    parameters: {},
  });
  const worker = () => (client as unknown as { worker: unknown }).worker;
  /** What the host sent for each export (checked to hold no typed arrays). */
  const exportRequests: { kind: string; payloads: Payload[] }[] = [];

  before(async function () {
    requireFixtures(this);
    ensureWorkerBuilt();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sharp = require('sharp') as Sharp;
    dir = tempDir('cnnlens-photo-worker-');
    photoDir = path.join(dir, 'photo');
    mkdirSync(photoDir);
    photo = path.join(photoDir, 'photo-12mp.jpg');
    await makePhoto(sharp, photo, 4032, 3024);

    client = new EngineClient(
      DIST,
      settings,
      (line) => logs.push(line),
      () => undefined,
    );
    // Every message from the worker passes through the client's receive (the worker's 'message' listener calls this.receive).
    const spied = client as unknown as { receive(message: WorkerReply): void };
    const receive = spied.receive.bind(client);
    spied.receive = (message: WorkerReply) => {
      received.push(message);
      for (const payload of payloads(message, message.kind)) {
        if (!largest || payload.bytes > largest.bytes) largest = payload;
        if (payload.bytes > MAX_BYTES || (payload.kind === 'Float32Array' && payload.length > MAX_FLOATS)) {
          tooBig.push(`${payload.where}: ${payload.kind} of ${payload.length} (${payload.bytes} bytes)`);
        }
      }
      receive(message);
    };
    const requester = client as unknown as { request(body: { kind: string }, ...rest: unknown[]): Promise<unknown> };
    const request = requester.request.bind(client);
    requester.request = (body, ...rest) => {
      if (/^(export|saveInspection)/.test(body.kind)) exportRequests.push({ kind: body.kind, payloads: payloads(body, body.kind) });
      return request(body, ...rest);
    };
  });

  after(() => {
    client?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`    worker log:\n      ${logs.join('\n      ')}`);
  });

  let first: Kept<Explanation>;
  /** The uncancelled export's time, which the cancels are placed in. */
  let exportMs = 0;

  it('explain: the map at the layer resolution (7×7), the whole photo as its region, the full size reported', async () => {
    first = await client.explain(job(photo), new CancelSource());
    assert.ok(Number.isInteger(first.jobId), 'the result names its job, for the exports');
    assert.equal(first.layer, 'conv_pw_13_relu');
    assert.deepEqual([first.heatmap.width, first.heatmap.height, first.heatmap.data.length], [7, 7, 49]);
    assert.deepEqual([first.rawMap.width, first.rawMap.height], [7, 7]);
    assert.deepEqual(first.region, { x: 0, y: 0, width: 1, height: 1 });
    assert.deepEqual(first.imageSize, { width: 4032, height: 3024 });
    assert.equal(first.predictions.length, 5);
    assert.equal(first.target.index, first.predictions[0].index);
  });

  it('explain again for another class: the target changes, the map stays 7×7', async () => {
    const other = first.predictions[1].index;
    const second = await client.explain(job(photo, other), new CancelSource());
    assert.equal(second.target.index, other);
    assert.deepEqual(
      second.predictions.map((p) => p.index),
      first.predictions.map((p) => p.index),
      'same photo, same top-5',
    );
    assert.deepEqual([second.heatmap.width, second.heatmap.height], [7, 7]);
    assert.deepEqual(second.imageSize, { width: 4032, height: 3024 });
    const differs = second.heatmap.data.some((v, i) => Math.abs(v - first.heatmap.data[i]) > 1e-3);
    assert.ok(differs, 'a different class gives a different map');
  });

  it('displayImage(1024): the panel copy is 1024×768 RGBA', async () => {
    const shown = await client.displayImage(photo, DISPLAY_MAX_SIDE);
    assert.deepEqual([shown.width, shown.height, shown.data.length], [1024, 768, 1024 * 768 * 4]);
  });

  it('exportOverlay: a full-size PNG next to the photo, written atomically (no temporary file left)', async () => {
    const outPath = path.join(photoDir, 'photo-12mp.gradcam.png');
    const started = performance.now();
    const written = await client.exportOverlay({ jobId: first.jobId, colormap: 'jet', opacity: 0.5, outPath, replace: false });
    exportMs = performance.now() - started;
    assert.equal(written, path.join(photoDir, 'photo-12mp.gradcam.png'));
    assert.deepEqual(pngSize(written), [4032, 3024], 'the overlay has the photo’s own size');
    assert.deepEqual(
      readdirSync(photoDir).sort(),
      ['photo-12mp.gradcam.png', 'photo-12mp.jpg'],
      'only the photo and the overlay are in the folder',
    );
    // The overlay is drawn: a thumbnail of it is far from the photo's.
    const thumb = async (file: string) => (await sharp(file).removeAlpha().resize(64, 48, { fit: 'fill' }).raw().toBuffer()) as Buffer;
    const [a, b] = [await thumb(written), await thumb(photo)];
    const mean = a.reduce((sum, v, i) => sum + Math.abs(v - b[i]), 0) / a.length;
    assert.ok(mean > 10, `the overlay differs from the photo (mean |difference| ${mean.toFixed(1)})`);
  });

  it('the raw map by job id: a 16-bit PNG and a .npy at the map’s 7×7', async () => {
    const [png, npy] = await client.exportRawMap({
      jobId: first.jobId,
      pngPath: path.join(dir, 'photo.map.png'),
      npyPath: path.join(dir, 'photo.map.npy'),
      replace: false,
    });
    assert.deepEqual(pngSize(png), [7, 7]);
    assert.equal(readFileSync(npy).subarray(1, 6).toString('latin1'), 'NUMPY');
  });

  it("Look inside's picture saved by job id: never replacing unless asked, named after what it shows", async () => {
    const request = {
      kind: 'featuremaps' as const,
      layer: null,
      filter: null,
      classIndex: null,
      steps: null,
      seed: 0,
      fourier: false,
      sort: 'mean' as const,
      page: 1,
      unit: null,
      fromImage: false,
      regularisers: {},
    };
    const result = await client.inspect({ imagePath: photo, request }, new CancelSource());
    assert.deepEqual(result.subject, { layer: 'conv_pw_13_relu', filter: null, classLabel: null }, 'the default layer, resolved');
    const outPath = path.join(dir, 'photo.featuremaps.png');
    await client.saveInspection({ jobId: result.jobId, outPath, replace: false });
    assert.deepEqual(pngSize(outPath), [result.image.width, result.image.height]);
    await assert.rejects(
      client.saveInspection({ jobId: result.jobId, outPath, replace: false }),
      (error: NodeJS.ErrnoException) => error.code === 'EEXIST',
    );
    await client.saveInspection({ jobId: result.jobId, outPath, replace: true });
    await assert.rejects(
      client.saveInspection({ jobId: first.jobId, outPath, replace: true }),
      /no longer kept; run the "Look inside" view again/,
      'an explain job has no picture',
    );
  });

  it('an export of a run the worker no longer keeps (or never ran) fails, asking to run it again', async () => {
    await assert.rejects(
      client.exportOverlay({ jobId: 999_999, colormap: 'jet', opacity: 0.5, outPath: path.join(dir, 'never.png'), replace: false }),
      /no longer kept; run the explanation again before exporting/,
    );
    await assert.rejects(
      client.exportCompare({
        jobId: first.jobId,
        colormap: 'jet',
        opacity: 0.5,
        pngPath: path.join(dir, 'never.png'),
        csvPath: path.join(dir, 'never.csv'),
        replace: false,
      }),
      /run the comparison again before exporting/,
      'an explain job is not a comparison',
    );
    assert.ok(!existsSync(path.join(dir, 'never.png')));
  });

  it('explain, class change, display and export: no worker message carried more than a display-size copy', () => {
    assert.ok(received.filter((m) => m.kind === 'reply').length >= 4, 'the spy saw the replies');
    assert.deepEqual(tooBig, [], 'worker messages larger than the display size');
    assert.ok(largest && largest.bytes <= MAX_BYTES, `largest payload: ${JSON.stringify(largest)}`);
    // The display copy (1024×768 RGBA) is the largest thing that may cross.
    assert.equal(largest?.bytes, 1024 * 768 * 4, `largest payload: ${JSON.stringify(largest)}`);
  });

  it('cancel an explain of a photo not yet decoded: it rejects, and the same worker serves the next request', async () => {
    const otherDir = path.join(dir, 'other');
    mkdirSync(otherDir);
    const other = path.join(otherDir, 'photo-b.jpg');
    copyFileSync(photo, other);
    const before = worker();
    assert.ok(before, 'the worker is running');

    const source = new CancelSource();
    const cancelled = client.explain(job(other), source);
    source.cancel();
    await assert.rejects(cancelled, (error: unknown) => error instanceof RunCancelledError);

    const next = await client.explain(job(other), new CancelSource());
    assert.deepEqual(next.imageSize, { width: 4032, height: 3024 });
    assert.deepEqual(
      next.predictions.map((p) => p.index),
      first.predictions.map((p) => p.index),
    );
    assert.equal(worker(), before, 'the same worker thread');
    assert.deepEqual(
      logs.filter((line) => /Restarting the engine|did not stop/.test(line)),
      [],
      'the engine was not restarted',
    );
  });

  it('a near-square photo (3073×3072): explain, then export at its own size', async () => {
    const squareDir = path.join(dir, 'square');
    mkdirSync(squareDir);
    const square = path.join(squareDir, 'square.jpg');
    writeFileSync(
      square,
      await sharp({ create: { width: 3073, height: 3072, channels: 3, background: { r: 90, g: 120, b: 150 } } })
        .jpeg()
        .toBuffer(),
    );
    const explanation = await client.explain(job(square), new CancelSource());
    const size = `${explanation.imageSize.width}×${explanation.imageSize.height}`;
    const written = await client
      .exportOverlay({
        jobId: explanation.jobId,
        colormap: 'jet',
        opacity: 0.5,
        outPath: path.join(squareDir, 'square.gradcam.png'),
        replace: false,
      })
      .catch((error: Error) => assert.fail(`export failed (explanation.imageSize ${size}): ${error.message}`));
    assert.deepEqual(pngSize(written), [3073, 3072]);
    assert.deepEqual(explanation.imageSize, { width: 3073, height: 3072 }, 'the explanation reports the file’s size');
  });

  it('cancel an export of the 12 MP photo mid-way: it rejects promptly, leaves no file (nor a temporary one), and the same worker serves on', async () => {
    assert.ok(exportMs > 0, 'the uncancelled export ran first');
    const before = worker();
    const listing = () => readdirSync(photoDir).sort();
    const files = listing();
    const outPath = path.join(photoDir, 'photo-12mp.cancelled.png');
    // 75 ms in (the photo's full-size decode), then through the drawing and the encoding; CANCEL_DELAYS=25,50
    // (ms) adds cancels at those times first.
    const delays = [
      ...(process.env.CANCEL_DELAYS ?? '').split(',').filter(Boolean).map(Number),
      75,
      0.4 * exportMs,
      0.6 * exportMs,
      0.8 * exportMs,
    ].map(Math.round);
    const measured: string[] = [];
    for (const delay of delays) {
      const source = new CancelSource();
      const exporting = client.exportOverlay({ jobId: first.jobId, colormap: 'viridis', opacity: 0.5, outPath, replace: false }, source);
      let settled = false;
      void exporting.then(
        () => (settled = true),
        () => (settled = true),
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (settled) {
        measured.push(`${delay} ms: finished before the cancel`);
        rmSync(outPath, { force: true });
        continue;
      }
      const cancelledAt = performance.now();
      source.cancel();
      await assert.rejects(exporting, (error: unknown) => error instanceof RunCancelledError);
      measured.push(`${delay} ms in: rejected ${(performance.now() - cancelledAt).toFixed(0)} ms after the cancel`);
      assert.deepEqual(listing(), files, 'no output and no temporary file left in the folder');
    }
    console.log(`      export of 12 MP (${CODEC}) takes ${exportMs.toFixed(0)} ms; cancel → rejection: ${measured.join('; ')}`);
    assert.ok(
      measured.some((line) => line.includes('rejected')),
      'at least one cancel landed mid-export',
    );

    const written = await client.exportOverlay({ jobId: first.jobId, colormap: 'viridis', opacity: 0.5, outPath, replace: false });
    assert.deepEqual(pngSize(written), [4032, 3024], 'the next export is served');
    rmSync(written);
    assert.equal(worker(), before, 'the same worker thread');
    assert.deepEqual(
      logs.filter((line) => /Restarting the engine|did not stop/.test(line)),
      [],
      'the engine was not restarted',
    );
  });

  it('cancel and the near-square photo too: no worker message carried more than a display-size copy, no export request any pixels', () => {
    assert.deepEqual(tooBig, [], 'worker messages larger than the display size');
    assert.ok(exportRequests.length >= 4, 'the spy saw the export requests');
    assert.deepEqual(
      exportRequests.filter((request) => request.payloads.length),
      [],
      'export requests name their run by job id and carry no maps',
    );
  });
});
