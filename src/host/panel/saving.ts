/**
 * The panel's files, all written by the worker: Export (the overlay at the photo's full size, or the map at
 * its own resolution) and Save (the Look-inside picture). Exports ask before replacing a file.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Explanation } from '../../engine/types';
import { explanationStem, imageStem, sanitizeNamePart } from '../../engine/outputNames';
import type { ViewSettings } from '../../shared/protocol';
import { isClassAgnostic, type TechniqueInfo } from '../../shared/vocabulary';
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

/** `<image>.<technique>.<class>.<layer>` beside the image (no class for class-agnostic maps). */
function exportBase(ctx: SaveContext, explanation: Explanation): string {
  const info = ctx.techniqueInfo(explanation.technique);
  const stem = explanationStem(imageStem(ctx.imagePath), explanation, isClassAgnostic(info, explanation.parameters));
  return path.join(path.dirname(ctx.imagePath), stem);
}

/** The overlay at the photo's full size, `<base>.png`. */
export async function exportOverlay(ctx: SaveContext, shown: Shown['result'], view: ViewSettings): Promise<void> {
  if (!shown) {
    ctx.post({ type: 'error', message: 'Nothing to export yet: wait for an explanation to finish.' });
    return;
  }
  const { explanation } = shown;
  await exportFiles(ctx, [`${exportBase(ctx, explanation)}.png`], async ([outPath], replace) => [
    await ctx.engine.exportOverlay({
      imagePath: ctx.imagePath,
      explanation,
      colormap: view.colormap,
      opacity: view.opacity,
      outPath,
      replace,
    }),
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
  const { explanation } = shown;
  const base = exportBase(ctx, explanation);
  await exportFiles(ctx, [`${base}.map.png`, `${base}.map.npy`], ([pngPath, npyPath], replace) =>
    ctx.engine.exportRawMap({ explanation, pngPath, npyPath, replace }),
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
  const label = sanitizeNamePart(shown.classLabel) || `class${shown.classIndex}`;
  const base = path.join(path.dirname(ctx.imagePath), `${imageStem(ctx.imagePath)}.compare.${label}`);
  const titleOf = (id: string) => ctx.techniqueInfo(id)?.title;
  await exportFiles(ctx, [`${base}.png`, `${base}.csv`], ([pngPath, csvPath], replace) =>
    ctx.engine.exportCompare({
      imagePath: ctx.imagePath,
      compare: shown,
      titleOf,
      colormap: view.colormap,
      opacity: view.opacity,
      pngPath,
      csvPath,
      replace,
    }),
  );
}

/** Writes through the worker after asking about existing files; reports what was written (or why not). */
async function exportFiles(
  ctx: SaveContext,
  files: string[],
  write: (files: readonly string[], replace: boolean) => Promise<string[]>,
): Promise<void> {
  try {
    const written = await writeAsking(files, askBeforeReplacing, write);
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
