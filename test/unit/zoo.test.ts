/**
 * The model zoo's download path against a local server serving copies of the shared fixture models:
 * every outcome leaves either a complete, loadable model at <storage>/<id> or nothing at all.
 */
import { IMAGENET_CLASSES } from '@tensorflow-models/mobilenet/dist/imagenet_classes';
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { probabilities, topK } from '../../src/engine/postprocess';
import { toModelInput } from '../../src/engine/preprocess';
import { tf } from '../../src/engine/tfjs/tf';
import type { Prediction, RgbaImage } from '../../src/engine/types';
import { findZooEntry, type ZooEntry } from '../../src/files/zoo/catalog';
import {
  cleanStale,
  DownloadCancelledError,
  DownloadError,
  downloadModel,
  listDownloaded,
  removeDownloaded,
  type DownloadOptions,
} from '../../src/files/zoo/download';
import { fixture, requireFixtures } from './helpers/fixtures';
import { closedPort, copyFolder, serveFolder, type Fault, type ModelServer } from './helpers/modelServer';
import { loadModel } from './helpers/suiteAcceleration';

const LABELS = Object.keys(IMAGENET_CLASSES).map((i) => IMAGENET_CLASSES[Number(i)]);
const ID = 'mobilenet_v1_0.25_224';
const BIG_SHARD = 'group29-shard1of1'; // 1,028,000 bytes
const WEIGHT_BYTES = 1_902_176; // ../shared/fixtures/README.md

async function top1(modelJson: string, image: RgbaImage): Promise<Prediction> {
  const model = await loadModel(modelJson);
  try {
    const { inputShape, preprocessing } = model.summary;
    const probs = tf.tidy(() =>
      probabilities(model.adapter.scores(toModelInput(image, inputShape, preprocessing.preset)), model.adapter.hasLogits),
    );
    return topK(probs, model.labels, 1)[0];
  } finally {
    model.adapter.dispose();
  }
}

/** No model folder, no temporary or set-aside folder. */
async function assertNothingLeft(storage: string, id = ID): Promise<void> {
  const left = (await fs.readdir(storage)).filter((name) => name === id || name.includes('.partial-') || name.includes('.old-'));
  assert.deepEqual(left, [], `left behind in ${storage}`);
}

describe('model zoo downloads (local server)', function () {
  let source: string;
  let server: ModelServer;
  let storage: string;
  let snake: RgbaImage;
  let entry: ZooEntry;

  before(async function () {
    requireFixtures(this);
    source = await copyFolder(fixture('models/mobilenet_v1_0.25_224_layers'));
    snake = await readImageFile(fixture('images/pytorch-cnn-visualizations/snake.png'), DEFAULT_IMAGE_LIMITS);
  });
  after(async () => source && fs.rm(source, { recursive: true, force: true }));
  beforeEach(async () => {
    server = await serveFolder(source);
    storage = await fs.mkdtemp(path.join(os.tmpdir(), 'cnn-lens-zoo-'));
    entry = { ...findZooEntry(ID)!, url: server.url('model.json') };
  });
  afterEach(async () => {
    await server?.close();
    await fs.rm(storage, { recursive: true, force: true });
  });

  const download = (options: Partial<DownloadOptions> = {}, which = entry) =>
    downloadModel(which, storage, { labels: LABELS, idleTimeoutMs: 5000, ...options });

  it('downloads a complete layers model with labels and sidecar, loadable, top-1 king snake', async () => {
    const progress: [number, number][] = [];
    const modelJson = await download({ onProgress: (done, total) => progress.push([done, total]) });
    assert.equal(modelJson, path.join(storage, ID, 'model.json'));
    assert.deepEqual(
      (await fs.readdir(storage)).filter((n) => n.startsWith('.')),
      [],
      'no temporary folder',
    );
    assert.deepEqual(progress.at(-1), [WEIGHT_BYTES, WEIGHT_BYTES]);
    assert.ok(
      progress.every(([done], i) => i === 0 || done >= progress[i - 1][0]),
      'progress never goes back',
    );
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(storage, ID, 'cnnlens.json'), 'utf8')), {
      preprocess: 'mobilenet',
      labels: 'labels.json',
      name: entry.title,
    });
    const top = await top1(modelJson, snake);
    assert.equal(top.index, 56);
    assert.equal(top.label, 'king snake, kingsnake');
    assert.deepEqual(await listDownloaded(storage), [
      { id: ID, name: entry.title, modelJsonPath: modelJson, bytes: await dirBytes(path.join(storage, ID)) },
    ]);
  });

  it('follows redirects, decodes gzip and keeps the TF Hub query for shards (graph model, 1001 outputs)', async () => {
    await server.close();
    const graphSource = await copyFolder(fixture('models/mobilenet_v1_0.25_224_graph_tfhub'));
    server = await serveFolder(graphSource);
    try {
      server.gzip = true;
      // A TF Hub-style entry (graph, inputs in [0, 1], background class) pointed at the TF Hub v1 fixture.
      const hub = {
        ...findZooEntry('mobilenet_v2_0.50_224_tfhub')!,
        id: 'tfhub_v1_025',
        url: server.url('redirect/model.json?tfjs-format=file'),
      };
      const modelJson = await download({}, hub);
      assert.ok(server.requests.includes('/redirect/group1-shard1of1?tfjs-format=file'), server.requests.join(' '));
      const labels = JSON.parse(await fs.readFile(path.join(storage, hub.id, 'labels.json'), 'utf8')) as string[];
      assert.equal(labels.length, 1001);
      assert.equal(labels[0], '(background)');
      const top = await top1(modelJson, snake);
      assert.deepEqual([top.index, top.label], [57, 'king snake, kingsnake']);
    } finally {
      await fs.rm(graphSource, { recursive: true, force: true });
    }
  });

  const faults: [string, Fault, string, Partial<DownloadOptions>, DownloadError['kind'], RegExp][] = [
    ['the connection dropped mid-shard', 'drop', BIG_SHARD, {}, 'interrupted', /broke off during group29-shard1of1.*try again/s],
    [
      'a truncated shard with an honest Content-Length',
      'short-honest',
      BIG_SHARD,
      {},
      'integrity',
      /group29-shard1of1: 514000 bytes arrived but .* need 1028000/,
    ],
    ['a Content-Length claiming more than is sent', 'short-lying', BIG_SHARD, {}, 'interrupted', /group29-shard1of1/],
    [
      'a stalled shard (idle timeout)',
      'stall',
      BIG_SHARD,
      { idleTimeoutMs: 300 },
      'interrupted',
      /sent nothing for 0.3 s during group29-shard1of1; the connection stalled/,
    ],
    [
      'a server that never answers for model.json',
      'silent',
      'model.json',
      { idleTimeoutMs: 300 },
      'offline',
      /127\.0\.0\.1:\d+ did not answer within 0.3 s: this computer seems to be offline.*Select Model/s,
    ],
    ['a 404 on a shard', '404', 'group5-shard1of1', {}, 'http', /group5-shard1of1 answered HTTP 404 Not Found.*Select Model/s],
  ];
  for (const [what, fault, file, options, kind, message] of faults) {
    it(`leaves nothing after ${what}`, async () => {
      server.faults.set(file, fault);
      await assert.rejects(download(options), (error: DownloadError) => {
        assert.ok(error instanceof DownloadError, String(error));
        assert.equal(error.kind, kind, error.message);
        assert.match(error.message, message);
        return true;
      });
      await assertNothingLeft(storage);
    });
  }

  it('refuses a shard whose SHA-256 differs from the pinned one', async () => {
    const pinned = { ...entry, sha256: { [BIG_SHARD]: 'ab'.repeat(32) } };
    await assert.rejects(download({}, pinned), /group29-shard1of1: SHA-256 [0-9a-f]{64} differs from the pinned abab/);
    await assertNothingLeft(storage);
  });

  it('cancels mid-download through the AbortSignal, leaving nothing', async () => {
    const controller = new AbortController();
    const onProgress = (done: number, total: number) => done > total / 2 && controller.abort();
    await assert.rejects(download({ signal: controller.signal, onProgress }), DownloadCancelledError);
    await assertNothingLeft(storage);
  });

  it('explains an unreachable host (ECONNREFUSED) as offline, with the manual alternative', async () => {
    const offline = { ...entry, url: `http://127.0.0.1:${await closedPort()}/model.json` };
    await assert.rejects(download({}, offline), (error: DownloadError) => {
      assert.equal(error.kind, 'offline');
      assert.match(error.message, /Could not reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\): this computer seems to be offline, or a proxy/);
      assert.match(
        error.message,
        /download http:\/\/127\.0\.0\.1:\d+\/model\.json and the weight files its weightsManifest lists \(from the same folder\) into one folder.* "CNN Lens: Select Model…"/,
      );
      return true;
    });
    await assertNothingLeft(storage);
  });

  for (const [what, shard] of [
    ['".."', '../evil.bin'],
    ['an absolute path', '/etc/passwd'],
    ['a URL', 'http://127.0.0.1:1/evil.bin'],
    ['backslashes', 'sub\\..\\..\\evil.bin'],
  ]) {
    it(`refuses a manifest path leaving the model's folder: ${what}`, async () => {
      const json = JSON.parse(await fs.readFile(path.join(source, 'model.json'), 'utf8'));
      json.weightsManifest[3].paths = [shard];
      server.overrides.set('model.json', Buffer.from(JSON.stringify(json)));
      // Served from /redirect/ so that a path climbing out of the folder is still on the same server.
      await assert.rejects(
        download({}, { ...entry, url: server.url('redirect/model.json') }),
        /outside the model's folder|relative path inside/,
      );
      assert.deepEqual(server.requests, ['/redirect/model.json', '/model.json'], 'no shard was requested');
      await assertNothingLeft(storage);
    });
  }

  it('refuses a model.json that is not JSON (a login page answering instead)', async () => {
    server.overrides.set('model.json', Buffer.from('<html>Sign in to the network</html>'));
    await assert.rejects(download(), /not a TF\.js model\.json .*login page/);
    await assertNothingLeft(storage);
  });

  it('keeps an installed copy when a new download fails, replaces it when one succeeds', async () => {
    await download();
    const marker = path.join(storage, ID, 'marker');
    await fs.writeFile(marker, 'old copy');
    server.faults.set(BIG_SHARD, 'drop');
    await assert.rejects(download(), DownloadError);
    assert.equal(await fs.readFile(marker, 'utf8'), 'old copy', 'the old copy is intact');
    server.faults.clear();
    await download();
    await assert.rejects(fs.access(marker), 'the new copy replaced the old one');
    assert.deepEqual((await fs.readdir(storage)).sort(), [ID]);
  });

  it('removes stale temporary folders but not one another window is still writing', async () => {
    const stale = path.join(storage, `.${ID}.partial-stale1`);
    const fresh = path.join(storage, `.${ID}.partial-fresh1`);
    const oldAside = path.join(storage, `.${ID}.old-0badf00d`);
    for (const dir of [stale, fresh, oldAside]) {
      await fs.mkdir(dir);
      await fs.writeFile(path.join(dir, 'group1-shard1of1'), 'x');
    }
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const dir of [stale, oldAside]) {
      await fs.utimes(path.join(dir, 'group1-shard1of1'), hourAgo, hourAgo);
      await fs.utimes(dir, hourAgo, hourAgo);
    }
    await cleanStale(storage);
    assert.deepEqual(await fs.readdir(storage), [path.basename(fresh)]);
    assert.deepEqual(await listDownloaded(storage), [], 'temporary folders are never listed');
  });

  it('lists and removes downloaded models', async () => {
    assert.deepEqual(await listDownloaded(path.join(storage, 'missing')), []);
    await download();
    assert.deepEqual(
      (await listDownloaded(storage)).map((m) => m.id),
      [ID],
    );
    assert.equal(await removeDownloaded(storage, ID), true);
    assert.equal(await removeDownloaded(storage, ID), false);
    assert.deepEqual(await listDownloaded(storage), []);
    await assertNothingLeft(storage);
    await assert.rejects(removeDownloaded(storage, '../escape'), /not a valid model id/);
  });
});

async function dirBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await fs.readdir(dir)) bytes += (await fs.stat(path.join(dir, name))).size;
  return bytes;
}
