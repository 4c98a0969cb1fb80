/**
 * The peers' newer methods in the panel of a real VS Code (code-server + Chromium): picked from the technique
 * list with their own parameters, drawn over the photo, captioned with what ran. Screenshots at 1400 and
 * 900 px go to test-results/.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { CODE_SERVER_BIN, REPO_ROOT, explorerContextMenu, findWebviewFrame, hasSelector, withWorkbench } from './harness';
import { shot, waitForState, overlayColours } from './panelChecks';

const FIXTURES = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');

async function waitForCaption(frame: Frame, pattern: RegExp): Promise<string> {
  await frame.waitForFunction(
    (source) => new RegExp(source).test(document.querySelector('[data-testid="caption"]')?.textContent ?? ''),
    pattern.source,
    {
      timeout: 90_000,
    },
  );
  await waitForState(frame, 'ready');
  return (await frame.textContent('[data-testid="caption"]')) ?? '';
}

describe("The peers' newer methods in a real VS Code", function () {
  this.timeout(300_000);

  before(function () {
    if (!existsSync(CODE_SERVER_BIN))
      throw new Error(`code-server is not installed at ${CODE_SERVER_BIN}; run "bash scripts/setup-code-server.sh".`);
    if (!existsSync(FIXTURES)) throw new Error(`the shared fixtures are not at ${FIXTURES}`);
  });

  it('Finer-CAM with its parameters, FullGrad without a layer, LIME over outlined superpixels, on the default model (1400 and 900 px)', async () => {
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-ui-newer-'));
    cpSync(path.join(FIXTURES, 'images', 'pytorch-cnn-visualizations', 'cat_dog.png'), path.join(workspace, 'dog_and_cat.png'));
    await withWorkbench({ workspace, extensionPath: REPO_ROOT }, async ({ page }) => {
      await explorerContextMenu(page, 'dog_and_cat.png', 'Explain with Grad-CAM');
      const frame = await findWebviewFrame(page, hasSelector('[data-testid="overlay"]'), 90_000);
      await waitForState(frame, 'ready');

      await frame.selectOption('[data-testid="technique"]', 'finercam');
      await frame.waitForSelector('[data-testid="param-alpha"]', { state: 'visible' });
      assert.equal(await frame.inputValue('[data-testid="param-alpha"]'), '1');
      assert.equal(await frame.inputValue('[data-testid="param-comparisons"]'), '3');
      let caption = await waitForCaption(frame, /Finer-CAM/);
      assert.match(caption, /bull mastiff/, caption);
      assert.ok((await overlayColours(frame)) > 50, 'a Finer-CAM map is drawn');
      await frame.fill('[data-testid="param-comparisons"]', '5');
      caption = await waitForCaption(frame, /comparisons 5/);
      await shot(page, 'panel-finercam-1400.png');

      await frame.selectOption('[data-testid="technique"]', 'fullgrad');
      caption = await waitForCaption(frame, /FullGrad/);
      assert.equal(await frame.isDisabled('[data-testid="layer"]'), true, 'FullGrad takes no layer');
      assert.ok((await overlayColours(frame)) > 50, 'a FullGrad map is drawn');
      await shot(page, 'panel-fullgrad-1400.png');
      await page.setViewportSize({ width: 900, height: 900 });
      await page.waitForTimeout(500);
      await shot(page, 'panel-fullgrad-900.png');
      await page.setViewportSize({ width: 1400, height: 900 });

      // A superpixel technique: the map is signed and the SLIC segments it was measured on are outlined over it.
      await frame.selectOption('[data-testid="technique"]', 'lime');
      await frame.waitForSelector('[data-testid="param-segments"]', { state: 'visible' });
      await frame.fill('[data-testid="param-samples"]', '120');
      caption = await waitForCaption(frame, /LIME.*samples 120/);
      assert.ok((await overlayColours(frame)) > 50, 'a LIME map is drawn');
      await shot(page, 'panel-lime-1400.png');
      await page.setViewportSize({ width: 900, height: 900 });
      await page.waitForTimeout(500);
      await shot(page, 'panel-lime-900.png');
    });
  });
});
