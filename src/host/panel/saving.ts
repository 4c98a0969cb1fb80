/**
 * The panel's files, all written by the worker: Export (the overlay at the photo's full size, or the map at
 * its own resolution; the Compare grid and metrics) and Save (the Look-inside picture). Each names the run
 * it writes by the worker's job id (the maps and pixels stay in the worker), asks before replacing a file,
 * and runs under a cancellable progress notification: a cancelled export leaves no file behind.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { classNamePart, explanationStem, imageStem, inspectionStem } from '../../files/outputNames';
import type { ResultMessage, ViewSettings } from '../../shared/protocol';
import { isClassAgnostic, type TechniqueInfo } from '../../shared/vocabulary';
import { RunCancelledError, type CancelSignal } from '../engineApi';
import { CancelSource } from './cancelSource';
import { fileExists, KEEP_BOTH, REPLACE, replaceQuestion, writeAsking, type TargetIo } from './exportTargets';
import { errorText, type RunContext, type Shown } from './panelRuns';

export interface SaveContext extends RunContext {
  log(line: string): void;
  /** The technique's description (for class-agnostic names), when the panel has it. */
  techniqueInfo(id: string): TechniqueInfo | undefined;
}

/** How the host asks before replacing a file: a modal warning with Replace and Keep Both (and Cancel). */
export const askBeforeReplacing: TargetIo = {
  exists: fileExists,
  ask: (existing) => Promise.resolve(vscode.window.showWarningMessage(replaceQuestion(existing), { modal: true }, REPLACE, KEEP_BOTH)),
};

/**
 * Runs `write` under a cancellable progress notification naming `files`; its Cancel reaches the worker's
 * job through the signal (the job then rejects with RunCancelledError, nothing written).
 */
export function withExportProgress<T>(files: readonly string[], write: (cancel: CancelSignal) => Promise<T>): Promise<T> {
  const names = files.map((file) => path.basename(file)).join(' and ');
  return Promise.resolve(
    vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `CNN Lens: exporting ${names}…`, cancellable: true },
      async (_progress, token) => {
        const cancel = new CancelSource();
        const subscription = token.onCancellationRequested(() => cancel.cancel());
        if (token.isCancellationRequested) cancel.cancel();
        try {
          return await write(cancel);
        } finally {
          subscription.dispose();
        }
      },
    ),
  );
}

/** `<image>.<technique>.<class>.<layer>` beside the image (no class for class-agnostic maps). */
function exportBase(ctx: SaveContext, result: ResultMessage): string {
  const info = ctx.techniqueInfo(result.technique);
  const stem = explanationStem(imageStem(ctx.imagePath), result, isClassAgnostic(info, result.parameters));
  return path.join(path.dirname(ctx.imagePath), stem);
}

/** The overlay at the photo's full size, `<base>.png`. */
export async function exportOverlay(ctx: SaveContext, shown: Shown['result'], view: ViewSettings): Promise<void> {
  if (!shown) {
    ctx.post({ type: 'error', message: 'Nothing to export yet: wait for an explanation to finish.' });
    return;
  }
  const { jobId } = shown;
  await exportFiles(ctx, [`${exportBase(ctx, shown.message)}.png`], async ([outPath], replace, cancel) => [
    await ctx.engine.exportOverlay({ jobId, colormap: view.colormap, opacity: view.opacity, outPath, replace }, cancel),
  ]);
}

/**
 * The map at its own resolution: `<base>.map.png` (16-bit grayscale, 0..65535 = the normalised map) and
 * `<base>.map.npy` (float32 [h, w], the raw values before normalisation).
 */
export async function exportRawMap(ctx: SaveContext, shown: Shown['result']): Promise<void> {
  if (!shown) {
    ctx.post({ type: 'error', message: 'Nothing to export yet: wait for an explanation to finish.' });
    return;
  }
  const { jobId } = shown;
  const base = exportBase(ctx, shown.message);
  await exportFiles(ctx, [`${base}.map.png`, `${base}.map.npy`], ([pngPath, npyPath], replace, cancel) =>
    ctx.engine.exportRawMap({ jobId, pngPath, npyPath, replace }, cancel),
  );
}

/**
 * The Compare view: `<image>.compare.<class>.png`, each technique's overlay tile in a grid (three to a
 * row, in the order compared), and `<image>.compare.<class>.csv`, the metrics per technique with its tile.
 */
export async function exportCompare(ctx: SaveContext, shown: Shown['compare'], view: ViewSettings): Promise<void> {
  if (!shown) {
    ctx.post({ type: 'error', message: 'Nothing to export yet: run a comparison first.' });
    return;
  }
  const { message, jobId } = shown;
  const label = classNamePart(message.classLabel, message.classIndex);
  const base = path.join(path.dirname(ctx.imagePath), `${imageStem(ctx.imagePath)}.compare.${label}`);
  await exportFiles(ctx, [`${base}.png`, `${base}.csv`], ([pngPath, csvPath], replace, cancel) =>
    ctx.engine.exportCompare({ jobId, colormap: view.colormap, opacity: view.opacity, pngPath, csvPath, replace }, cancel),
  );
}

/**
 * The last Look-inside picture next to the image, named after what it shows:
 * `<image>.<view>[.<layer>][.channel<N>|.filter<N>][.<class>][.page<N>].png`.
 */
export async function saveInspection(ctx: SaveContext, shown: Shown['inspect']): Promise<void> {
  if (!shown) {
    ctx.post({ type: 'error', message: 'Nothing to save yet: run a "Look inside" view first.' });
    return;
  }
  const { message, jobId, subject } = shown;
  const stem = inspectionStem(imageStem(ctx.imagePath), { kind: message.kind, ...subject, page: message.page, pages: message.pages });
  await exportFiles(ctx, [path.join(path.dirname(ctx.imagePath), `${stem}.png`)], async ([outPath], replace, cancel) => [
    await ctx.engine.saveInspection({ jobId, outPath, replace }, cancel),
  ]);
}

/**
 * Writes through the worker after asking about existing files, under a cancellable progress notification;
 * reports what was written (or that nothing was: the question or the progress was cancelled).
 */
async function exportFiles(
  ctx: SaveContext,
  files: string[],
  write: (files: readonly string[], replace: boolean, cancel: CancelSignal) => Promise<string[]>,
): Promise<void> {
  try {
    const written = await writeAsking(files, askBeforeReplacing, (targets, replace) =>
      withExportProgress(targets, (cancel) => write(targets, replace, cancel)),
    );
    if (!written) {
      ctx.post({ type: 'exported', path: '', cancelled: true });
      return;
    }
    ctx.post({ type: 'exported', path: written.join(', ') });
    const first = written[0];
    const names = written.map((file) => path.basename(file)).join(' and ');
    void vscode.window.showInformationMessage(`CNN Lens: saved ${names}`, 'Open').then(
      (choice) => {
        if (choice === 'Open') {
          void vscode.commands
            .executeCommand('vscode.open', vscode.Uri.file(first))
            .then(undefined, (err: unknown) => ctx.log(`CNN Lens panel: could not open ${first}: ${errorText(err)}`));
        }
      },
      (err: unknown) => ctx.log(`CNN Lens panel: ${errorText(err)}`),
    );
  } catch (err) {
    if (err instanceof RunCancelledError) {
      ctx.post({ type: 'exported', path: '', cancelled: true });
      return;
    }
    const message = `Export failed: ${errorText(err)}`;
    ctx.log(`CNN Lens panel: ${message}`);
    ctx.post({ type: 'error', message });
    void vscode.window.showErrorMessage(`CNN Lens: ${message}`);
  }
}
