/**
 * Runs the integration suites (test/integration) inside a real VS Code's extension host: code-server
 * loads the extension under development plus the tests module; the module writes its outcome to a
 * file, which decides this test's result. One session trusted, one in Restricted Mode.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CODE_SERVER_BIN, REPO_ROOT, waitForFile, withWorkbench } from './harness';

const TESTS_MODULE = path.join(REPO_ROOT, 'dist', 'test', 'integration', 'index.js');

function makeWorkspace(restricted: boolean): string {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-it-ws-'));
  const samples = path.join(REPO_ROOT, 'models', 'samples');
  for (const file of readdirSync(samples).filter((f) => f.endsWith('.png'))) cpSync(path.join(samples, file), path.join(workspace, file));
  writeFileSync(path.join(workspace, 'broken.png'), Buffer.from('definitely not a PNG'));
  // A model whose only shard is missing.
  const brokenModel = path.join(workspace, 'broken-model');
  mkdirSync(brokenModel);
  cpSync(path.join(REPO_ROOT, 'models', 'fashion-cam', 'model.json'), path.join(brokenModel, 'model.json'));
  if (restricted) {
    mkdirSync(path.join(workspace, '.vscode'));
    // A model that does not load, an output it does not have and a budget no model fits: all withheld.
    writeFileSync(
      path.join(workspace, '.vscode', 'settings.json'),
      JSON.stringify({
        'cnnLens.model': 'broken-model',
        'cnnLens.modelOutput': 'no-such-output',
        'cnnLens.modelLimits': { maxWeightBytes: 1 },
      }),
    );
  }
  return workspace;
}

interface Outcome {
  passed: string[];
  failed: { title: string; error: string }[];
}

for (const suite of ['trusted', 'restricted'] as const) {
  describe(`integration suite "${suite}" inside VS Code's extension host`, function () {
    this.timeout(300_000);
    it('passes', async () => {
      if (!existsSync(CODE_SERVER_BIN))
        throw new Error(`code-server is not installed at ${CODE_SERVER_BIN}; run "bash scripts/setup-code-server.sh".`);
      if (!existsSync(TESTS_MODULE)) throw new Error(`${TESTS_MODULE} is missing; run "npm run build".`);
      const resultsFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'cnnlens-it-')), 'results.json');
      const restricted = suite === 'restricted';
      const outcome = await withWorkbench(
        {
          workspace: makeWorkspace(restricted),
          extensionPath: REPO_ROOT,
          extensionTestsPath: TESTS_MODULE,
          trust: !restricted,
          // The trusted suite explains the Fashion-MNIST samples with the example model (a user setting); the
          // restricted one sets nothing for the user, so the default model stands in for the ignored workspace setting.
          settings: restricted ? {} : { 'cnnLens.model': path.join(REPO_ROOT, 'models', 'fashion-cam', 'model.json') },
          trustDialog: 'restricted',
          env: { CNN_LENS_SUITE: suite, CNN_LENS_TEST_RESULTS: resultsFile },
        },
        async () => JSON.parse(await waitForFile(resultsFile, 240_000)) as Outcome,
      );
      for (const title of outcome.passed) console.log(`      ✔ ${title}`);
      for (const { title, error } of outcome.failed) console.log(`      ✘ ${title}\n${error}`);
      assert.ok(outcome.passed.length > 0, 'some integration tests ran');
      assert.deepEqual(
        outcome.failed.map((f) => f.title),
        [],
        'no integration test failed',
      );
    });
  });
}
