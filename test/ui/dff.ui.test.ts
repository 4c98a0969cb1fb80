/**
 * Deep Feature Factorization's own view in the real panel: the concept picture drawn over the image (same
 * size and place as any overlay), no colour bar, and the legend of concepts with their classes; another
 * technique takes the legend away. Screenshots at 1400 and 900 px go to test-results/dff-*.png.
 */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { REPO_ROOT, explorerContextMenu, findWebviewFrame, hasSelector, withWorkbench } from './harness';
import { shot, waitForState } from './panelChecks';

const FIXTURES = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');
const PHOTO = 'cat_dog.png';
const MODEL = path.join(FIXTURES, 'models', 'mobilenet_v1_0.25_224_layers');

/** The overlay's drawn size and mode, and the legend's rows. */
function overlayState(frame: Frame): Promise<{ mode?: string; width: number; height: number; legend: string[]; legendHidden: boolean }> {
  return frame.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="overlay"]')!;
    const legend = document.querySelector<HTMLElement>('[data-testid="concept-legend"]')!;
    const box = canvas.getBoundingClientRect();
    return {
      mode: canvas.dataset.mode,
      width: Math.round(box.width),
      height: Math.round(box.height),
      legend: [...legend.querySelectorAll('[data-testid="concept"]')].map((row) => row.textContent ?? ''),
      legendHidden: legend.hidden,
    };
  });
}

describe('CNN Lens panel: Deep Feature Factorization', function () {
  this.timeout(300_000);
  let workspace: string;

  before(function () {
    if (!existsSync(MODEL)) throw new Error(`the shared fixtures are not at ${FIXTURES}`);
    workspace = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-dff-ws-'));
    cpSync(path.join(FIXTURES, 'images', 'pytorch-cnn-visualizations', PHOTO), path.join(workspace, PHOTO));
  });

  it('draws the concepts with their legend, the image as big as Grad-CAM’s (1400 and 900 px)', async () => {
    const settings = { 'cnnLens.model': MODEL };
    await withWorkbench({ workspace, extensionPath: REPO_ROOT, settings }, async ({ page }) => {
      await explorerContextMenu(page, PHOTO, 'Explain with Grad-CAM');
      const frame = await findWebviewFrame(page, hasSelector('[data-testid="overlay"]'), 90_000);
      await waitForState(frame, 'ready');
      const gradcam = await overlayState(frame);
      assert.ok(gradcam.legendHidden, 'no legend for Grad-CAM');

      await frame.selectOption('[data-testid="technique"]', 'dff');
      await frame.waitForFunction(
        () => document.querySelector<HTMLCanvasElement>('[data-testid="overlay"]')?.dataset.mode === 'concepts',
        undefined,
        {
          timeout: 120_000,
        },
      );
      await waitForState(frame, 'ready');
      const dff = await overlayState(frame);
      assert.equal(dff.legend.length, 5, `five concepts: ${JSON.stringify(dff.legend)}`);
      assert.ok(!dff.legendHidden);
      assert.ok(
        dff.legend.some((row) => /boxer/.test(row)) && dff.legend.some((row) => /cat/.test(row)),
        `a dog concept and a cat concept: ${JSON.stringify(dff.legend)}`,
      );
      assert.deepEqual([dff.width, dff.height], [gradcam.width, gradcam.height], 'the image keeps its size');
      await shot(page, 'dff-1400-dark.png');

      await page.setViewportSize({ width: 900, height: 900 });
      await page.waitForTimeout(500);
      await shot(page, 'dff-900-dark.png');

      await frame.selectOption('[data-testid="technique"]', 'gradcam');
      await frame.waitForFunction(
        () => document.querySelector<HTMLCanvasElement>('[data-testid="overlay"]')?.dataset.mode === 'map',
        undefined,
        {
          timeout: 120_000,
        },
      );
      assert.ok((await overlayState(frame)).legendHidden, 'the legend goes with DFF');
    });
  });
});
