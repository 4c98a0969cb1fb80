/**
 * Issue 19 in the editor: a model folder that tries to make CNN Lens read /dev/zero fails with a message
 * naming the file, and the extension host stays responsive: the quick pick opens, another model is chosen,
 * the panel explains with it and the model view lists its layers.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CODE_SERVER_BIN,
  REPO_ROOT,
  explorerContextMenu,
  findWebviewFrame,
  hasSelector,
  notificationTexts,
  runCommand,
  treeViewRow,
  withWorkbench,
} from './harness';
import { waitForState } from './panelChecks';

const FIXTURES = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');

/** The example model's model.json with its weight shard a link to /dev/zero (endless zeros). */
function hostileModel(workspace: string): string {
  const dir = path.join(workspace, 'hostile-model');
  mkdirSync(dir);
  cpSync(path.join(REPO_ROOT, 'models', 'fashion-cam', 'model.json'), path.join(dir, 'model.json'));
  symlinkSync('/dev/zero', path.join(dir, 'group1-shard1of1.bin'));
  return dir;
}

describe('a hostile model folder in a real VS Code', function () {
  this.timeout(300_000);

  it('is refused by name, and the editor keeps working: another model is chosen, explains, and the model view lists it', async () => {
    if (!existsSync(CODE_SERVER_BIN))
      throw new Error(`code-server is not installed at ${CODE_SERVER_BIN}; run "bash scripts/setup-code-server.sh".`);
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-ui-hostile-'));
    const photo = 'cat_dog.png';
    cpSync(path.join(FIXTURES, 'images', 'pytorch-cnn-visualizations', photo), path.join(workspace, photo));
    const model = hostileModel(workspace);
    await withWorkbench({ workspace, extensionPath: REPO_ROOT, settings: { 'cnnLens.model': model } }, async ({ page }) => {
      const started = Date.now();
      await explorerContextMenu(page, photo, 'Explain with Grad-CAM');
      const frame = await findWebviewFrame(page, hasSelector('[data-testid="overlay"]'), 90_000);
      await waitForState(frame, 'error');
      const status = (await frame.textContent('[data-testid="status"]')) ?? '';
      assert.match(status, /group1-shard1of1\.bin/, `the message names the shard: ${status}`);
      assert.match(status, /outside the model's folder|not a regular file/, status);
      assert.ok(Date.now() - started < 60_000, 'refused without reading the endless file');
      const toasts = await notificationTexts(page);
      assert.ok(
        toasts.some((t) => /group1-shard1of1\.bin/.test(t)),
        `a notification names the file: ${toasts.join(' | ')}`,
      );

      await runCommand(page, 'CNN Lens: Select Model…', 60_000);
      const choice = page.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'the default' }).first();
      await choice.waitFor({ state: 'visible', timeout: 30_000 });
      await choice.click();
      await explorerContextMenu(page, photo, 'Explain with Grad-CAM');
      const next = await findWebviewFrame(
        page,
        async (f) => (await hasSelector('[data-testid="overlay"]')(f)) && (await f.evaluate(() => document.body.dataset.state)) === 'ready',
        120_000,
      );
      const top = await next.$$eval('[data-testid="prediction"]', (rows) => rows.map((r) => r.textContent ?? ''));
      assert.equal(top.length, 5, `the default model predicts: ${top.join(' | ')}`);

      await page.locator('.activitybar .action-item .action-label[aria-label^="CNN Lens"]').first().click();
      await treeViewRow(page, 'Model', 'Input').waitFor({ state: 'visible', timeout: 60_000 });
      mkdirSync(path.join(REPO_ROOT, 'test-results'), { recursive: true });
      await page.screenshot({ path: path.join(REPO_ROOT, 'test-results', 'hostile-model-recovered.png') });
    });
  });
});
