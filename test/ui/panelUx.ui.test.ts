/**
 * The first five minutes (issue 20): the image stays in view while the controls scroll and results arrive,
 * class search as the CLI matches, captions that describe what is drawn, state that survives a hidden
 * tab, panels in the active group, and no silent user-settings writes. Screenshots at 1400 and 900 px,
 * dark and light, go to test-results/panel-ux-*.png.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { REPO_ROOT, explorerContextMenu, explorerRow, findWebviewFrame, hasSelector, runCommand, withWorkbench } from './harness';
import { shot, waitForState } from './panelChecks';

const FIXTURES = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');
const PHOTO = 'cat_dog.png';
const MODEL = path.join(FIXTURES, 'models', 'mobilenet_v1_0.25_224_layers');

async function waitForCaption(frame: Frame, pattern: RegExp, timeoutMs = 90_000): Promise<void> {
  await frame.waitForFunction(
    (source) => new RegExp(source).test((document.querySelector('[data-testid="caption"]')?.textContent ?? '').replace(/\s*·\s*/g, ' · ')),
    pattern.source,
    { timeout: timeoutMs },
  );
}

/** The overlay canvas's box inside the webview's window: wholly visible? */
async function imageInView(frame: Frame): Promise<{ top: number; bottom: number; height: number; viewport: number; visible: boolean }> {
  return frame.evaluate(() => {
    const box = document.querySelector('[data-testid="overlay"]')!.getBoundingClientRect();
    const viewport = window.innerHeight;
    return {
      top: box.top,
      bottom: box.bottom,
      height: box.height,
      viewport,
      visible: box.height > 50 && box.top >= -1 && box.bottom <= viewport + 1,
    };
  });
}

async function openPanel(page: Page): Promise<Frame> {
  await explorerContextMenu(page, PHOTO, 'Explain with Grad-CAM');
  const frame = await findWebviewFrame(page, hasSelector('[data-testid="overlay"]'), 90_000);
  await waitForState(frame, 'ready');
  return frame;
}

async function compare(frame: Frame): Promise<void> {
  await frame.waitForSelector('[data-testid="compare"]:not([disabled])');
  // Mark the comparison shown now, so only a new one counts.
  await frame.evaluate(() => document.querySelectorAll('.compare-grid').forEach((grid) => grid.setAttribute('data-old', '')));
  await frame.click('[data-testid="compare"]');
  await frame.waitForFunction(
    () => document.querySelectorAll('.compare-grid:not([data-old]) [data-testid="compare-card"]').length === 3,
    undefined,
    { timeout: 120_000 },
  );
  await waitForState(frame, 'ready');
}

describe('CNN Lens panel: the first five minutes (issue 20)', function () {
  this.timeout(300_000);
  let workspace: string;

  before(function () {
    if (!existsSync(MODEL)) throw new Error(`the shared fixtures are not at ${FIXTURES}`);
    workspace = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-ux-ws-'));
    cpSync(path.join(FIXTURES, 'images', 'pytorch-cnn-visualizations', PHOTO), path.join(workspace, PHOTO));
    cpSync(path.join(FIXTURES, 'images', 'pytorch-cnn-visualizations', 'snake.png'), path.join(workspace, 'snake.png'));
  });

  it('class search, captions, the image in view after Compare, state after hiding, no settings write (dark, 1400 and 900 px)', async () => {
    const settings = { 'cnnLens.model': MODEL };
    await withWorkbench({ workspace, extensionPath: REPO_ROOT, settings }, async ({ page, server }) => {
      let frame = await openPanel(page);
      await waitForCaption(frame, /Grad-CAM · class .* · layer conv_pw_13_relu/);

      // Class search: a synonym, keyboard first.
      await frame.fill('[data-testid="class-input"]', 'pickup');
      await frame.waitForSelector('[data-testid="class-option"]');
      const first = await frame.textContent('[data-testid="class-option"]');
      assert.match(first ?? '', /^pickup, pickup truck#717$/, `the first suggestion: ${first}`);
      await shot(page, 'panel-ux-class-search.png');
      await frame.press('[data-testid="class-input"]', 'Enter');
      await waitForCaption(frame, /class pickup, pickup truck #717/);
      await waitForState(frame, 'ready');
      // A part of a name: the arrows pick from the list.
      await frame.fill('[data-testid="class-input"]', 'tabb');
      await frame.press('[data-testid="class-input"]', 'ArrowDown');
      await frame.press('[data-testid="class-input"]', 'Enter');
      await waitForCaption(frame, /class tabby, tabby cat #281/);
      await waitForState(frame, 'ready');

      // Eigen-CAM does not depend on the class: its caption says so.
      await frame.selectOption('[data-testid="technique"]', 'eigencam');
      await waitForCaption(frame, /^Eigen-CAM · class-agnostic · layer conv_pw_13_relu/);
      await waitForState(frame, 'ready');

      // SmoothGrad's previews are captioned by SmoothGrad's run, never by the last result.
      await frame.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { previewCaptions: string[] }).previewCaptions = seen;
        const caption = document.querySelector('[data-testid="caption"]')!;
        new MutationObserver(() => {
          if (caption.querySelector('[data-testid="caption-preview"]')) seen.push((caption.textContent ?? '').replace(/\s*·\s*/g, ' · '));
        }).observe(caption, { childList: true, subtree: true });
      });
      await frame.selectOption('[data-testid="technique"]', 'smoothgrad');
      await waitForCaption(frame, /^SmoothGrad · class tabby, tabby cat #281/);
      await waitForState(frame, 'ready');
      const previews = await frame.evaluate(() => (window as unknown as { previewCaptions: string[] }).previewCaptions);
      for (const caption of previews) assert.match(caption, /^SmoothGrad · preview, \d+ % done · class tabby, tabby cat #281/);
      await frame.selectOption('[data-testid="technique"]', 'gradcam');
      await waitForCaption(frame, /^Grad-CAM · class tabby/);
      await waitForState(frame, 'ready');

      // Compare: the image stays in view, the results come into view under it.
      await frame.uncheck('[data-testid="compare-scorecam"]');
      await frame.check('[data-testid="compare-eigencam"]');
      await frame.$eval('[data-testid="compare"]', (el) => el.scrollIntoView());
      await compare(frame);
      let view = await imageInView(frame);
      assert.ok(view.visible, `the image is in view after Compare: ${JSON.stringify(view)}`);
      const results = await frame.evaluate(() => {
        const box = document.querySelector('[data-testid="compare-results"]')!.getBoundingClientRect();
        return { top: box.top, viewport: window.innerHeight };
      });
      assert.ok(results.top < results.viewport, `the comparison is in view: ${JSON.stringify(results)}`);
      const title = await frame.textContent('[data-testid="compare-title"]');
      assert.match(title ?? '', /tabby, tabby cat.*at layer conv_pw_13_relu/);
      assert.ok((await frame.$$('.curve-chart .chart-tick')).length > 0, 'the curves have labelled axes');
      await shot(page, 'panel-ux-compare-1400-dark.png');

      // Look inside: feature maps; the tiles are buttons, one tab stop, arrows and Enter.
      await frame.selectOption('[data-testid="inspect-kind"]', 'featuremaps');
      await frame.click('[data-testid="inspect-run"]');
      await frame.waitForFunction(
        () => /channels ranked 1–64 of \d+/.test(document.querySelector('[data-testid="inspect-caption"]')?.textContent ?? ''),
        undefined,
        {
          timeout: 90_000,
        },
      );
      await waitForState(frame, 'ready');
      view = await imageInView(frame);
      assert.ok(view.visible, `the image is in view after Look inside: ${JSON.stringify(view)}`);
      const tiles = await frame.$$eval('[data-testid="tile"]', (els) =>
        els.map((el) => [el.getAttribute('tabindex'), el.getAttribute('title')]),
      );
      assert.ok(tiles.length > 8, 'one button per tile');
      assert.equal(tiles.filter(([tabindex]) => tabindex === '0').length, 1, 'one tab stop');
      assert.match(tiles[1][1] ?? '', /^Channel \d+/);
      const second = await frame.getAttribute('[data-testid="tile"]:nth-child(2)', 'data-channel');
      await frame.focus('[data-testid="tile"][tabindex="0"]');
      await page.keyboard.press('ArrowRight');
      await page.keyboard.press('Enter');
      await frame.waitForFunction(
        (channel) =>
          new RegExp(`^Channel ${channel} of`).test(document.querySelector('[data-testid="inspect-caption"]')?.textContent ?? ''),
        second,
        { timeout: 90_000 },
      );
      await waitForState(frame, 'ready');
      await shot(page, 'panel-ux-inspect-1400-dark.png');

      // Moving the opacity slider writes no setting anywhere.
      const userSettings = path.join(server.userDataDir, 'User', 'settings.json');
      await frame.$eval('[data-testid="opacity"]', (input) => {
        const slider = input as HTMLInputElement;
        slider.value = '80';
        slider.dispatchEvent(new Event('input', { bubbles: true }));
        slider.dispatchEvent(new Event('change', { bubbles: true }));
      });
      await frame.selectOption('[data-testid="colormap"]', 'viridis');
      await page.waitForTimeout(1500);
      assert.doesNotMatch(readFileSync(userSettings, 'utf8'), /cnnLens\.(opacity|colormap)/, 'no user-settings write');
      assert.ok(!existsSync(path.join(workspace, '.vscode', 'settings.json')), 'no workspace-settings write');

      // Hide the panel behind another tab and come back: ticks, Look inside, comparison and view are there.
      await (await explorerRow(page, 'snake.png')).click();
      await page.locator('.tab.active', { hasText: 'snake.png' }).waitFor({ timeout: 30_000 });
      await page.locator('.tab', { hasText: `CNN Lens: ${PHOTO}` }).click();
      frame = await findWebviewFrame(page, hasSelector('[data-testid="compare-card"]'), 60_000);
      await frame.waitForFunction(
        () => /^Channel \d+ of/.test(document.querySelector('[data-testid="inspect-caption"]')?.textContent ?? ''),
        undefined,
        {
          timeout: 30_000,
        },
      );
      const ticks = await frame.$$eval('[data-testid="compare-list"] input:checked', (els) =>
        els.map((el) => (el as HTMLInputElement).value),
      );
      assert.deepEqual(ticks.sort(), ['eigencam', 'gradcam', 'saliency'], 'Compare ticks kept');
      assert.equal(await frame.$$eval('[data-testid="compare-card"]', (els) => els.length), 3, 'the comparison is back');
      assert.equal(await frame.inputValue('[data-testid="opacity"]'), '80', 'opacity kept');
      assert.equal(await frame.inputValue('[data-testid="colormap"]'), 'viridis', 'colormap kept');
      assert.equal(await frame.inputValue('[data-testid="inspect-kind"]'), 'featuremaps', 'Look-inside choice kept');
      await waitForCaption(frame, /^Grad-CAM · class tabby, tabby cat #281 · layer conv_pw_13_relu/, 30_000);

      // 900 px: one column, the image sticky on top.
      await page.setViewportSize({ width: 900, height: 900 });
      await page.waitForTimeout(800);
      await frame.$eval('[data-testid="compare"]', (el) => el.scrollIntoView());
      await compare(frame);
      view = await imageInView(frame);
      assert.ok(view.visible, `900 px: the image is in view after Compare: ${JSON.stringify(view)}`);
      await shot(page, 'panel-ux-compare-900-dark.png');
      await frame.$eval('[data-testid="results-tray"]', (el) => el.scrollIntoView());
      await page.waitForTimeout(300);
      await shot(page, 'panel-ux-results-900-dark.png');
    });
  });

  it('explaining from group 2 opens no third group; the open panel is revealed, not duplicated', async () => {
    const settings = { 'cnnLens.model': MODEL, 'workbench.colorTheme': 'Default Light Modern' };
    await withWorkbench({ workspace, extensionPath: REPO_ROOT, settings }, async ({ page }) => {
      await (await explorerRow(page, PHOTO)).click();
      await page.locator('.tab.active', { hasText: PHOTO }).waitFor({ timeout: 30_000 });
      await runCommand(page, 'View: Split Editor Right');
      await page.waitForFunction(() => document.querySelectorAll('.editor-group-container').length === 2, undefined, { timeout: 30_000 });
      // Group 2 is active (the image preview keeps the keyboard, so explain from the Explorer, as a user would).
      await explorerContextMenu(page, PHOTO, 'Explain with Grad-CAM');
      const frame = await findWebviewFrame(page, hasSelector('[data-testid="overlay"]'), 90_000);
      await waitForState(frame, 'ready');
      assert.equal(await page.locator('.editor-group-container').count(), 2, 'still two editor groups');
      // Explaining the same image again reveals its panel.
      await explorerContextMenu(page, PHOTO, 'Explain with Grad-CAM');
      await page.waitForTimeout(1500);
      assert.equal(await page.locator('.tab', { hasText: `CNN Lens: ${PHOTO}` }).count(), 1, 'one panel for the image');
      assert.equal(await page.locator('.editor-group-container').count(), 2, 'still two editor groups');
      await waitForState(frame, 'ready');
    });
  });

  it('light theme: the panel at 1400 and 900 px, the image in view after Compare', async () => {
    const settings = { 'cnnLens.model': MODEL, 'workbench.colorTheme': 'Default Light Modern' };
    await withWorkbench({ workspace, extensionPath: REPO_ROOT, settings }, async ({ page }) => {
      await explorerContextMenu(page, PHOTO, 'Explain with Grad-CAM');
      const panel = await findWebviewFrame(page, hasSelector('[data-testid="overlay"]'), 90_000);
      await waitForState(panel, 'ready');
      await shot(page, 'panel-ux-1400-light.png');
      await panel.uncheck('[data-testid="compare-scorecam"]');
      await panel.check('[data-testid="compare-eigencam"]');
      await compare(panel);
      await shot(page, 'panel-ux-compare-1400-light.png');
      await page.setViewportSize({ width: 900, height: 900 });
      await page.waitForTimeout(800);
      const view = await imageInView(panel);
      assert.ok(view.visible, `900 px: the image is in view: ${JSON.stringify(view)}`);
      await shot(page, 'panel-ux-900-light.png');
    });
  });
});
