/** What the UI tests read off the panel and keep of it: its state, its caption, the overlay's colours, screenshots. */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { REPO_ROOT } from './harness';

export const RESULTS = path.join(REPO_ROOT, 'test-results');

/** A screenshot of the whole window into test-results/. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: path.join(RESULTS, name) });
}

/** Waits until the panel's body says `state` (ready, running, error…). */
export async function waitForState(frame: Frame, state: string, timeoutMs = 90_000): Promise<void> {
  await frame.waitForFunction((wanted) => document.body.dataset.state === wanted, state, { timeout: timeoutMs });
}

/** Distinct colours on the overlay canvas: a drawn heatmap has many, a blank one a handful. */
export async function overlayColours(frame: Frame): Promise<number> {
  return frame.evaluate(() => {
    const canvas = document.querySelector('[data-testid="overlay"]') as HTMLCanvasElement;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    const colours = new Set<number>();
    for (let i = 0; i < data.length; i += 4) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return colours.size;
  });
}
