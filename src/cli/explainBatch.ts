/**
 * `cnn-lens explain IMAGE|DIR|GLOB... [--out-dir D] [--json-lines F]`: many images, one model load. Each
 * image is explained in turn (memory bounded by one image); a failure is recorded and the run goes on;
 * the end prints a summary on stderr and the exit code says whether every image succeeded.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../engine/engine';
import type { ImageLimits } from '../engine/image';
import type { LoadedModel } from '../engine/models/loadModel';
import { explanationStem, imageStem, sanitizeNamePart } from '../files/outputNames';
import { explainImageFile, type OverlayOutputs } from '../engine/photoFiles';
import type { ColormapName, ExplainOptions, Explanation } from '../engine/types';
import { runBatch, shown, summarise } from './batch';

export interface BatchOptions {
  files: string[];
  /** Overlays (and heatmaps) go here; none are written without it. */
  outDir?: string;
  heatmaps: boolean;
  overwrite: boolean;
  /** A file, or '-' for standard output. */
  jsonLines?: string;
  colormap?: ColormapName;
  opacity: number;
  limits: ImageLimits;
  request: ExplainOptions;
}

/**
 * One name stem per image, distinct without regard to case (file systems that ignore it): an image's own
 * name, or, when two share it (same name in two folders), the path from their common folder ("a_cat",
 * "b_cat"; "cat_jpg" and "cat_png" for one folder), and a number if that is not enough.
 */
export function outputStems(files: string[]): string[] {
  const stems = files.map(imageStem);
  const groups = new Map<string, number[]>();
  stems.forEach((stem, i) => groups.set(stem.toLowerCase(), [...(groups.get(stem.toLowerCase()) ?? []), i]));
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    const dirs = members.map((i) => path.dirname(files[i]).split(path.sep));
    let common = 0;
    while (dirs.every((d) => common < d.length && d[common] === dirs[0][common])) common++;
    const relative = members.map((i) => path.dirname(files[i]).split(path.sep).slice(common).concat(path.parse(files[i]).name).join('_'));
    const sameFolder = new Set(relative.map((r) => r.toLowerCase())).size < relative.length;
    members.forEach((i, k) => {
      const name = sameFolder ? `${relative[k]}_${path.extname(files[i]).slice(1)}` : relative[k];
      stems[i] = sanitizeNamePart(name, 100, true) || 'image';
    });
  }
  const taken = new Set<string>();
  return stems.map((stem) => {
    let unique = stem;
    for (let n = 2; taken.has(unique.toLowerCase()); n++) unique = `${stem}-${n}`;
    taken.add(unique.toLowerCase());
    return unique;
  });
}

/** `<stem>.<technique>.<class>.<layer>.png`, and `.heatmap.png` for the map. */
export function outputNames(stem: string, explanation: Explanation): { overlay: string; heatmap: string } {
  const base = explanationStem(stem, explanation);
  return { overlay: `${base}.png`, heatmap: `${base}.heatmap.png` };
}

/** Runs the batch; returns the exit code (0 all explained, 1 some failed, 130 stopped by Ctrl-C). */
export async function explainBatch(engine: Engine, model: LoadedModel, options: BatchOptions): Promise<number> {
  const { files, outDir } = options;
  const stems = outputStems(files);
  // Once, on stderr beside the summary (stdout may be JSON lines); each record carries it in its notes.
  if (model.summary.labelsNote) console.error(`cnn-lens: note: ${model.summary.labelsNote}`);
  const run = await runBatch(files, { jsonLines: options.jsonLines }, async (file, index) => {
    const written: { overlay?: string; heatmap?: string } = {};
    const explanation = await explainImageFile(
      engine,
      model,
      file,
      options.limits,
      options.request,
      (result): OverlayOutputs | undefined => {
        if (!outDir) return undefined;
        const names = outputNames(stems[index], result);
        const overlayPath = path.join(outDir, names.overlay);
        const heatmapPath = options.heatmaps ? path.join(outDir, names.heatmap) : undefined;
        if (!options.overwrite)
          for (const target of [overlayPath, heatmapPath])
            if (target && existsSync(target)) throw new Error(`${target} exists (--overwrite replaces it)`);
        written.overlay = overlayPath;
        written.heatmap = heatmapPath;
        const colormap = options.colormap ?? (result.signed ? 'diverging' : 'jet');
        // Without --overwrite a file that appeared since the look is kept too.
        return { overlayPath, heatmapPath, colormap, opacity: options.opacity, replace: options.overwrite };
      },
    );
    const { target, layer, technique, predictions, timings } = explanation;
    const where = layer ? ` at ${layer}` : '';
    const to = written.overlay ? ` → ${shown(written.overlay)}` : '';
    return {
      line: `${technique} of "${target.label}" (class ${target.index}, p=${target.score.toFixed(4)})${where}${to}`,
      record: {
        technique,
        class: target,
        layer,
        predictions: predictions.slice(0, 5),
        timings,
        notes: explanation.notes,
        outputs: written.overlay ? { overlay: written.overlay, ...(written.heatmap ? { heatmap: written.heatmap } : {}) } : {},
      },
    };
  });
  return summarise(run, 'explained', options.jsonLines);
}
