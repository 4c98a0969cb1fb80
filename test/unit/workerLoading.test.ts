/**
 * Large model loads through the real engine worker (dist/engineWorker.js, driven by EngineClient as the
 * extension drives it): a panel's cancel stops a `.keras` load part-way, removes its temporary weights and
 * keeps the worker; and a worker that ends mid-load — restarted after the cancel grace, disposed, or gone on
 * its own as in a crash — leaves no temporary folder, although a terminated worker runs no exit handler.
 * The host gives each worker one folder for its temporary files and removes it when the worker ends; the
 * test points TMPDIR at an empty folder of its own so that everything made there can be checked.
 */
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { encodePng } from '../../src/engine/image';
import { RunCancelledError } from '../../src/host/engineApi';
import { EngineClient, type EngineSettings } from '../../src/host/engineClient';
import { CancelSource } from '../../src/host/panel/cancelSource';
import { WORKER_TEMP_PREFIX } from '../../src/host/workerTemp';
import { writePaddedKeras } from './helpers/largeKeras';
import { noiseImage, tempDir } from './helpers/tinyModels';
import { DIST, ensureWorkerBuilt } from './helpers/workerBundle';

/** Everything under `dir`, as relative paths. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/** Resolves once a `.keras` load's temporary weights under `tmp` have passed 16 MB; returns the weights file. */
async function weightsGrowing(tmp: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const entry of tree(tmp)) {
      const file = path.join(tmp, entry);
      if (/cnnlens-keras-[^/]+\/model\.weights\.h5$/.test(entry) && existsSync(file) && statSync(file).size > 16 * 2 ** 20) return file;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no temporary weights appeared under ${tmp}: ${tree(tmp).join(', ')}`);
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('large model loads through the engine worker', function () {
  this.timeout(240_000);
  let dir: string;
  let tmp: string;
  let savedTmp: string | undefined;
  let image: string;
  let modelPath: string;
  const logs: string[] = [];
  let client: EngineClient;

  const settings = (): EngineSettings => ({
    backend: 'cpu',
    onnxRuntime: 'off',
    modelPath,
    modelProblem: null,
    defaults: {},
    limits: { maxPixels: 40e6, maxBytes: 100 * 2 ** 20 },
  });
  const job = () => ({ imagePath: image, technique: 'gradcam', classIndex: null, layer: null, parameters: {} });
  const workerOf = (c: EngineClient) => (c as unknown as { worker: { terminate(): Promise<number> } | null }).worker;
  const cnnlensEntries = () => readdirSync(tmp).filter((name) => name.startsWith('cnnlens-'));

  before(async () => {
    ensureWorkerBuilt();
    dir = tempDir('cnnlens-worker-loading-');
    image = path.join(dir, 'image.png');
    writeFileSync(image, encodePng(noiseImage(12, 12, 3)));
    modelPath = await writePaddedKeras(path.join(dir, 'a.keras'), 128);
    // The host makes the worker's folder under os.tmpdir(), which reads TMPDIR.
    tmp = tempDir('cnnlens-worker-tmp-');
    savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    client = new EngineClient(
      DIST,
      settings,
      (line) => logs.push(line),
      () => undefined,
    );
  });

  after(() => {
    client?.dispose();
    for (const folder of [dir, tmp]) if (folder) rmSync(folder, { recursive: true, force: true });
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(`    worker log:\n      ${logs.join('\n      ')}`);
  });

  it('a cancel during a .keras load stops it within a second, removes its temporary weights, keeps the worker; the next explain loads it', async () => {
    const source = new CancelSource();
    const running = client.explain(job(), source);
    const weights = await weightsGrowing(tmp);
    const worker = workerOf(client);
    assert.ok(worker, 'the worker is running');
    const [root] = cnnlensEntries();
    assert.match(root, new RegExp(`^${WORKER_TEMP_PREFIX}${process.pid}-`), 'the temporary weights are in the worker’s own folder');
    const cancelled = performance.now();
    source.cancel();
    await assert.rejects(running, (error: unknown) => error instanceof RunCancelledError);
    const ms = performance.now() - cancelled;
    assert.ok(ms < 1000, `rejected ${ms.toFixed(0)} ms after the cancel (the restart grace is 3000 ms)`);
    await until(() => !existsSync(path.dirname(weights)), 'the temporary weights to be removed');
    assert.deepEqual(tree(tmp), [root], 'only the worker’s (empty) folder is left while it runs');
    assert.equal(workerOf(client), worker, 'the same worker');

    const explained = await client.explain(job(), new CancelSource());
    assert.equal(explained.predictions.length, 4);
    assert.equal(workerOf(client), worker, 'still the same worker');
    assert.deepEqual(
      logs.filter((line) => /Restarting the engine|did not stop/.test(line)),
      [],
      'the engine was not restarted',
    );
  });

  it('a worker restarted mid-load (as after the cancel grace) leaves no temporary folder', async () => {
    modelPath = await writePaddedKeras(path.join(dir, 'b.keras'), 128, 8);
    const running = client.explain(job(), new CancelSource());
    await weightsGrowing(tmp);
    (client as unknown as { restart(reason: string): void }).restart('a test restarted it');
    await assert.rejects(running, /The engine was restarted/);
    assert.deepEqual(cnnlensEntries(), [], 'removed as the worker is terminated');
  });

  it('a worker that ends on its own mid-load (as in a crash) leaves no temporary folder', async () => {
    modelPath = await writePaddedKeras(path.join(dir, 'c.keras'), 128, 9);
    const running = client.explain(job(), new CancelSource());
    await weightsGrowing(tmp);
    // Terminated behind the client's back: the client sees only the worker's exit.
    await workerOf(client)!.terminate();
    await assert.rejects(running, /The CNN Lens engine exited/);
    await until(() => cnnlensEntries().length === 0, 'the worker folder to be removed on exit');
  });

  it('dispose mid-load leaves no temporary folder', async () => {
    modelPath = await writePaddedKeras(path.join(dir, 'd.keras'), 128, 10);
    const running = client.explain(job(), new CancelSource());
    await weightsGrowing(tmp);
    client.dispose();
    await assert.rejects(running, /shutting down/);
    assert.deepEqual(cnnlensEntries(), [], 'removed at dispose');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(cnnlensEntries(), [], 'and nothing made after it');
  });

  it('a folder left by a host process that is gone is removed when the next client starts its first worker', async () => {
    // A process id that is not running: the largest possible pid is far above any live one here.
    const stale = path.join(tmp, `${WORKER_TEMP_PREFIX}4194303-abcdef`);
    const live = path.join(tmp, `${WORKER_TEMP_PREFIX}${process.pid}-ghijkl`);
    for (const folder of [stale, live]) mkdirSync(folder);
    const other = new EngineClient(
      DIST,
      settings,
      () => undefined,
      () => undefined,
    );
    assert.ok(existsSync(stale), 'nothing is swept at activation (the client is made there)');
    // The sweep runs when the first worker starts, whatever that job then does.
    await other.displayImage(path.join(tmp, 'no-such-image.png'), 64).catch(() => undefined);
    other.dispose();
    assert.ok(!existsSync(stale), 'the dead host’s folder is removed');
    assert.ok(existsSync(live), 'a running host’s folder is kept');
    rmSync(live, { recursive: true });
  });
});
