/** The panel's files: Export (the overlay at the photo's full size) and Save (the Look-inside picture), both written by the worker. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { HostToWebview, ViewSettings } from '../../shared/protocol';
import { errorText, type RunContext, type Shown } from './panelRuns';

export interface SaveContext extends RunContext {
  log(line: string): void;
}

export async function exportOverlay(ctx: SaveContext, shown: Shown['result'], view: ViewSettings): Promise<void> {
  if (!shown) {
    ctx.post({ type: 'error', message: 'Nothing to export yet: wait for an explanation to finish.' });
    return;
  }
  try {
    const written = await ctx.engine.exportOverlay(ctx.imagePath, shown.explanation, view.colormap, view.opacity);
    ctx.post({ type: 'exported', path: written });
    void vscode.window.showInformationMessage(`CNN Lens: saved ${path.basename(written)}`, 'Open').then(
      (choice) => {
        if (choice === 'Open') {
          void vscode.commands
            .executeCommand('vscode.open', vscode.Uri.file(written))
            .then(undefined, (err: unknown) => ctx.log(`CNN Lens panel: could not open ${written}: ${errorText(err)}`));
        }
      },
      (err: unknown) => ctx.log(`CNN Lens panel: ${errorText(err)}`),
    );
  } catch (err) {
    const message = `Export failed: ${errorText(err)}`;
    ctx.log(`CNN Lens panel: ${message}`);
    ctx.post({ type: 'error', message });
    void vscode.window.showErrorMessage(`CNN Lens: ${message}`);
  }
}

/** Writes the last Look-inside picture next to the image; its pixels stay in the worker (asked for by job id). */
export async function saveInspection(ctx: SaveContext, shown: Shown['inspect']): Promise<void> {
  if (!shown) {
    ctx.post({ type: 'error', message: 'Nothing to save yet: run a "Look inside" view first.' });
    return;
  }
  const parsed = path.parse(ctx.imagePath);
  const written = path.join(parsed.dir, `${parsed.name}.${shown.message.kind}.png`);
  try {
    await ctx.engine.saveInspection(shown.jobId, written);
    ctx.post({ type: 'exported', path: written });
  } catch (err) {
    ctx.runs.postError(`Could not save ${written}: ${errorText(err)}`);
  }
}
