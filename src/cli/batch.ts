/**
 * What every command over many images shares: the images run one at a time, a failure recorded and the run
 * going on, a progress line on a terminal, one JSON line per image (--json-lines), Ctrl-C stopping after
 * the current image, and the summary on stderr with the exit code. When standard output carries JSON
 * (--json-lines - or --json -), it carries nothing else: the per-image lines go to stderr too.
 */
import * as path from 'node:path';
import { AtomicAppender } from '../files/atomicWrite';
import { withLimitHint } from './shared';
import { withGracefulInterrupt } from './signals';

/** A path as the user would type it: relative to the working folder when inside it. */
export function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

export function seconds(ms: number): string {
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

  private current?: { done: number; file: string };
  private timer?: NodeJS.Timeout;

  update(done: number, file: string): void {
    if (!this.tty) return;
    this.current = { done, file };
    // Elapsed time and ETA tick during a long image too.
    this.timer ??= setInterval(() => this.current && this.draw(this.current.done, this.current.file), 1000).unref();
    this.draw(done, file);
  }

  private draw(done: number, file: string): void {
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

  stop(): void {
    clearInterval(this.timer);
    this.current = undefined;
    this.clear();
  }
}

export interface Outcome {
  file: string;
  ms: number;
  error?: string;
}

export interface BatchRun {
  files: string[];
  outcomes: Outcome[];
  stopped: boolean;
  totalMs: number;
}

/** Where the human-readable lines go: stdout, or stderr when stdout carries JSON (`jsonOnStdout`). */
export function humanOutput(jsonOnStdout: boolean): (line: string) => void {
  return jsonOnStdout ? (line) => console.error(line) : (line) => console.log(line);
}

/**
 * Runs `one` on each file in turn. Its line is printed after the file's counter ("[2/5] file: line"), its
 * record is the file's JSON line (with `file`, `ok` and the wall time; a failure gives `error`). With
 * `jsonLines` '-' the JSON lines are all standard output carries; with `jsonOnStdout` (the command writes
 * other JSON there, e.g. evaluate's --json -) it carries none of the per-image lines either: both go to stderr.
 * A file gets them through a temporary file beside it, renamed into place when the run ends (a Ctrl-C that
 * stops after the current image included): a run killed part-way, or stopped by a second Ctrl-C, leaves the
 * file as it was.
 */
export async function runBatch(
  files: string[],
  { jsonLines, jsonOnStdout = false }: { jsonLines: string | undefined; jsonOnStdout?: boolean },
  one: (file: string, index: number) => Promise<{ line: string; record: Record<string, unknown> }>,
): Promise<BatchRun> {
  const toStdout = jsonLines === '-';
  const lines = jsonLines && !toStdout ? await AtomicAppender.open(jsonLines) : undefined;
  const progress = new Progress(files.length);
  const outcomes: Outcome[] = [];
  let stopped = false;
  const start = performance.now();
  const human = humanOutput(toStdout || jsonOnStdout);
  const say = (line: string, write = human) => {
    progress.clear();
    write(line);
  };
  const runOne = async (file: string, index: number): Promise<void> => {
    const begin = performance.now();
    const counter = `[${index + 1}/${files.length}] ${shown(file)}`;
    let record: Record<string, unknown>;
    try {
      const done = await one(file, index);
      const ms = performance.now() - begin;
      outcomes.push({ file, ms });
      const timings = (done.record.timings as object | undefined) ?? {};
      record = { file, ok: true, ...done.record, timings: { ...timings, wallMs: ms } };
      say(`${counter}: ${done.line}`);
    } catch (caught) {
      const error = withLimitHint(caught);
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
      const ms = performance.now() - begin;
      outcomes.push({ file, ms, error: message });
      record = { file, ok: false, error: message, timings: { wallMs: ms } };
      say(`${counter}: failed: ${message}`);
    }
    const json = JSON.stringify(record);
    if (toStdout) say(json, (line) => console.log(line));
    else if (lines) await lines.write(json + '\n');
  };
  let finished = false;
  try {
    await withGracefulInterrupt(
      () => {
        stopped = true;
        progress.clear();
        console.error('cnn-lens: stopping after the current image (Ctrl-C again to stop now)…');
      },
      async () => {
        for (const [index, file] of files.entries()) {
          if (stopped) break;
          progress.update(index, file);
          await runOne(file, index);
        }
      },
    );
    finished = true;
  } finally {
    progress.stop();
    if (finished) await lines?.commit();
    else await lines?.discard();
  }
  return { files, outcomes, stopped, totalMs: performance.now() - start };
}

/** The summary on stderr; the exit code: 0 every image done, 1 some failed, 130 stopped by Ctrl-C. */
export function summarise(run: BatchRun, verb: string, jsonLines: string | undefined): number {
  const { files, outcomes, stopped, totalMs } = run;
  const failed = outcomes.filter((o) => o.error);
  const done = outcomes.length;
  const mean = done ? ` (${seconds(totalMs / done)} per image)` : '';
  const stop = stopped ? `stopped by Ctrl-C after ${done} of ${files.length} images; ` : '';
  const count = `${files.length} ${files.length === 1 ? 'image' : 'images'}`;
  console.error(`cnn-lens: ${stop}${count}: ${done - failed.length} ${verb}, ${failed.length} failed in ${seconds(totalMs)}${mean}`);
  if (failed.length) {
    console.error('failed:');
    for (const { file, error } of failed) console.error(`  ${shown(file)}: ${error}`);
  }
  if (jsonLines && jsonLines !== '-') console.error(`json lines: ${shown(jsonLines)}`);
  return stopped ? 130 : failed.length ? 1 : 0;
}
