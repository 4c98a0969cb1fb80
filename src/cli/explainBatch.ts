/**
 * `cnn-lens explain IMAGE|DIR|GLOB... [--out-dir D] [--json-lines F]`: many images, one model load. Each
 * image is explained in turn (memory bounded by one image); a failure is recorded and the run goes on;
 * the end prints a summary on stderr and the exit code says whether every image succeeded.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../engine/engine';
import type { ImageLimits } from '../engine/image';
import type { LoadedModel } from '../engine/models/loadModel';
import { explainImageFile, type OverlayOutputs } from '../engine/photoFiles';
import type { ColormapName, ExplainOptions, Explanation } from '../engine/types';
import { withLimitHint } from './shared';
import { withGracefulInterrupt } from './signals';

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

/** Characters no file system takes (Windows' set, control characters), white space and path separators. */
const UNSAFE = /[\u0000-\u001f\u007f<>:"/\\|?*\s]+/g;
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/** A name part safe on every file system: unsafe runs become "_", at most `max` characters, never empty. */
export function sanitizeNamePart(part: string, max = 60, dots = false): string {
  let clean = part.normalize('NFC').replace(UNSAFE, '_');
  if (!dots) clean = clean.replace(/\./g, '_');
  clean = clean.replace(/_+/g, '_');
  clean = Array.from(clean).slice(0, max).join('');
  // Windows drops trailing dots and spaces, and refuses device names even with an extension.
  clean = clean.replace(/[. ]+$/, '');
  if (!clean || clean === '_') return '';
  return RESERVED.test(clean.split('.')[0]) ? `_${clean}` : clean;
}

function stemOf(file: string): string {
  return sanitizeNamePart(path.parse(file).name, 100, true) || 'image';
}

/**
 * One name stem per image, distinct without regard to case (file systems that ignore it): an image's own
 * name, or, when two share it (same name in two folders), the path from their common folder ("a_cat",
 * "b_cat"; "cat_jpg" and "cat_png" for one folder), and a number if that is not enough.
 */
export function outputStems(files: string[]): string[] {
  const stems = files.map(stemOf);
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
  const cls = sanitizeNamePart(explanation.target.label) || `class${explanation.target.index}`;
  const parts = [stem, sanitizeNamePart(explanation.technique), cls];
  if (explanation.layer) parts.push(sanitizeNamePart(explanation.layer) || 'layer');
  const base = parts.join('.');
  return { overlay: `${base}.png`, heatmap: `${base}.heatmap.png` };
}

/** A path as the user would type it: relative to the working folder when inside it. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

/** The n/N line on a terminal's stderr, rewritten in place; nothing when stderr is not a terminal. */
class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private shown = false;
  private readonly start = performance.now();

  constructor(private readonly total: number) {}

  update(done: number, file: string): void {
    if (!this.tty) return;
    const elapsed = performance.now() - this.start;
    const eta = done > 0 ? `, ETA ${seconds((elapsed / done) * (this.total - done))}` : '';
    const line = `[${done + 1}/${this.total}] ${shown(file)}  ${seconds(elapsed)} elapsed${eta}`;
    const width = process.stderr.columns || 80;
    process.stderr.write(
      `\r\x1b[K${Array.from(line)
        .slice(0, width - 1)
        .join('')}`,
    );
    this.shown = true;
  }

  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

interface Outcome {
  file: string;
  ms: number;
  error?: string;
}

/** Runs the batch; returns the exit code (0 all explained, 1 some failed, 130 stopped by Ctrl-C). */
export async function explainBatch(engine: Engine, model: LoadedModel, options: BatchOptions): Promise<number> {
  const { files, outDir } = options;
  const stems = outputStems(files);
  const toStdout = options.jsonLines === '-';
  const lines = options.jsonLines && !toStdout ? await fs.open(options.jsonLines, 'w') : undefined;
  const progress = new Progress(files.length);
  const outcomes: Outcome[] = [];
  let stopRequested = false;
  const start = performance.now();
  const say = (line: string) => {
    progress.clear();
    console.log(line);
  };

  const runOne = async (file: string, index: number): Promise<void> => {
    const begin = performance.now();
    const written: { overlay?: string; heatmap?: string } = {};
    let record: Record<string, unknown>;
    const counter = `[${index + 1}/${files.length}]`;
    try {
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
          return {
            overlayPath,
            heatmapPath,
            colormap: options.colormap ?? (result.signed ? 'diverging' : 'jet'),
            opacity: options.opacity,
          };
        },
      );
      const ms = performance.now() - begin;
      outcomes.push({ file, ms });
      const { target, layer, technique, predictions, timings } = explanation;
      record = {
        file,
        ok: true,
        technique,
        class: target,
        layer,
        predictions: predictions.slice(0, 5),
        timings: { ...timings, wallMs: ms },
        outputs: written.overlay ? { overlay: written.overlay, ...(written.heatmap ? { heatmap: written.heatmap } : {}) } : {},
      };
      if (!toStdout) {
        const where = layer ? ` at ${layer}` : '';
        const to = written.overlay ? ` → ${shown(written.overlay)}` : '';
        say(
          `${counter} ${shown(file)}: ${technique} of "${target.label}" (class ${target.index}, p=${target.score.toFixed(4)})${where}${to}`,
        );
      }
    } catch (caught) {
      const error = withLimitHint(caught);
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
      const ms = performance.now() - begin;
      outcomes.push({ file, ms, error: message });
      record = { file, ok: false, error: message, timings: { wallMs: ms } };
      if (!toStdout) say(`${counter} ${shown(file)}: failed: ${message}`);
    }
    const json = JSON.stringify(record);
    if (toStdout) say(json);
    else if (lines) await lines.write(json + '\n');
  };

  try {
    await withGracefulInterrupt(
      () => {
        stopRequested = true;
        progress.clear();
        console.error('cnn-lens: stopping after the current image (Ctrl-C again to stop now)…');
      },
      async () => {
        for (const [index, file] of files.entries()) {
          if (stopRequested) break;
          progress.update(index, file);
          await runOne(file, index);
        }
      },
    );
  } finally {
    progress.clear();
    await lines?.close();
  }

  const total = performance.now() - start;
  const failed = outcomes.filter((o) => o.error);
  const done = outcomes.length;
  const mean = done ? ` (${seconds(total / done)} per image)` : '';
  const stopped = stopRequested ? `stopped by Ctrl-C after ${done} of ${files.length} images; ` : '';
  console.error(
    `cnn-lens: ${stopped}${files.length} ${files.length === 1 ? 'image' : 'images'}: ${done - failed.length} explained, ${failed.length} failed in ${seconds(total)}${mean}`,
  );
  if (failed.length) {
    console.error('failed:');
    for (const { file, error } of failed) console.error(`  ${shown(file)}: ${error}`);
  }
  if (options.jsonLines && !toStdout) console.error(`json lines: ${shown(options.jsonLines)}`);
  return stopRequested ? 130 : failed.length ? 1 : 0;
}
