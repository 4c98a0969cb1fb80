/**
 * Outputs appear whole or not at all: written to a temporary file beside the target, then renamed over
 * it (atomic on one file system), so a failed or cancelled write never leaves half a PNG behind. The
 * temporary file is registered (tempFiles.ts) while it exists, so that Ctrl-C, a kill or the process's
 * exit removes it too. A set of outputs (an overlay, its heatmap and its JSON) can be staged: every file is
 * written to its temporary file first and only then are they all moved into place, so a failure while
 * writing leaves none of them.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, readdirSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { registerTempFile } from './tempFiles';

export interface AtomicWriteOptions {
  /**
   * False: never replace an existing file — the temporary file is hard-linked into place (which fails when
   * the target exists, so a file that appeared since the caller looked is kept) and the write fails with
   * code EEXIST. Default true (rename over it).
   */
  replace?: boolean;
  /** Write the temporary file only; `stage.commit()` moves it into place with the rest of the set. */
  stage?: OutputStage;
  /**
   * Throws to stop (a cancelled export): called before the write and again before the file is moved into
   * place (or staged); the temporary file is removed, so nothing appears.
   */
  checkCancelled?: () => void;
}

/** The hidden temporary file beside `target`: `.NAME.PID.RANDOM.tmp`. */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Removes this process's temporary files for `target` (`.NAME.PID.*.tmp` beside it), synchronously; for a
 * writer that was stopped without its own clean-up (a terminated worker thread shares the process's id).
 */
export function removeStrandedTemporaries(target: string): void {
  const prefix = `.${path.basename(target)}.${process.pid}.`;
  let names: string[];
  try {
    names = readdirSync(path.dirname(target));
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(prefix) && name.endsWith('.tmp')) rmSync(path.join(path.dirname(target), name), { force: true });
  }
}

/** Runs `write` on a fresh temporary path beside `target`, then moves it into place; removes it on failure. */
export async function writeAtomically(
  target: string,
  write: (temp: string) => Promise<unknown>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  options.checkCancelled?.();
  const temp = tempPathFor(target);
  const release = registerTempFile(temp);
  let staged = false;
  try {
    await write(temp);
    options.checkCancelled?.();
    if (options.stage) {
      options.stage.hold({ temp, target, replace: options.replace !== false, release });
      staged = true;
    } else await place(temp, target, options.replace !== false);
  } finally {
    if (!staged) {
      await fs.rm(temp, { force: true });
      release();
    }
  }
}

export function writeFileAtomic(target: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  const { checkCancelled } = options;
  if (!checkCancelled) return writeAtomically(target, (temp) => fs.writeFile(temp, data, { flag: 'wx' }), options);
  return writeAtomically(
    target,
    (temp) => writeInSteps(temp, typeof data === 'string' ? Buffer.from(data) : data, checkCancelled),
    options,
  );
}

/** Bytes written per step of a cancellable write (a 12 MP PNG is 20–40 MB: a step takes a few ms). */
const WRITE_STEP = 1 << 20;

/** A new file written a step at a time, `checkCancelled` before each. */
async function writeInSteps(file: string, data: Uint8Array, checkCancelled: () => void): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    for (let at = 0; at < data.length; at += WRITE_STEP) {
      checkCancelled();
      const end = Math.min(data.length, at + WRITE_STEP);
      for (let done = at; done < end;) done += (await handle.write(data, done, end - done)).bytesWritten;
    }
  } finally {
    await handle.close();
  }
}

interface Staged {
  temp: string;
  target: string;
  replace: boolean;
  release: () => void;
}

/**
 * A set of outputs written together: each `writeAtomically` / `writeFileAtomic` given this stage leaves its
 * temporary file here, and `commit` moves them all into place once every one is written; `discard` (on any
 * failure before the commit) removes them, so nothing of the set appears. A commit that fails part-way (a
 * target that appeared since, a folder that went read-only) names the files it did and did not place.
 */
export class OutputStage {
  private staged: Staged[] = [];

  hold(entry: Staged): void {
    this.staged.push(entry);
  }

  /** The targets staged so far, in order. */
  get targets(): string[] {
    return this.staged.map((entry) => entry.target);
  }

  async commit(): Promise<void> {
    const entries = this.staged;
    this.staged = [];
    const placed: string[] = [];
    try {
      // Without replacing: a taken name is found before any file of the set is placed.
      for (const { target, replace } of entries) if (!replace && (await exists(target))) throw existsError(target);
      for (const { temp, target, replace } of entries) {
        await place(temp, target, replace);
        placed.push(target);
      }
    } catch (error) {
      const missing = entries.map((entry) => entry.target).filter((target) => !placed.includes(target));
      const code = (error as NodeJS.ErrnoException).code;
      if (placed.length === 0) throw error;
      throw Object.assign(
        new Error(`${(error as Error).message.split('\n')[0]} (already written: ${placed.join(', ')}; not written: ${missing.join(', ')})`),
        code ? { code } : {},
      );
    } finally {
      await removeStaged(entries);
    }
  }

  async discard(): Promise<void> {
    const entries = this.staged;
    this.staged = [];
    await removeStaged(entries);
  }
}

async function removeStaged(entries: Staged[]): Promise<void> {
  for (const { temp, release } of entries) {
    await fs.rm(temp, { force: true });
    release();
  }
}

/**
 * A file written piece by piece (one JSON line per image) that appears whole: the pieces go to a registered
 * temporary file beside `target`, which `commit` renames into place; `discard`, Ctrl-C or a kill leave
 * `target` as it was.
 */
export class AtomicAppender {
  private constructor(
    readonly target: string,
    private readonly temp: string,
    private readonly handle: FileHandle,
    private readonly release: () => void,
  ) {}

  static async open(target: string): Promise<AtomicAppender> {
    const temp = tempPathFor(target);
    const release = registerTempFile(temp);
    try {
      return new AtomicAppender(target, temp, await fs.open(temp, 'wx'), release);
    } catch (error) {
      release();
      throw error;
    }
  }

  async write(text: string): Promise<void> {
    await this.handle.write(text);
  }

  async commit(): Promise<void> {
    try {
      await this.handle.close();
      await fs.rename(this.temp, this.target);
    } finally {
      await fs.rm(this.temp, { force: true });
      this.release();
    }
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fs.rm(this.temp, { force: true });
    this.release();
  }
}

/** An error with code EEXIST naming `file`. */
export function existsError(file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path.basename(file)} already exists`), { code: 'EEXIST' });
}

function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

function place(temp: string, target: string, replace: boolean): Promise<void> {
  return replace ? fs.rename(temp, target) : placeWithoutReplacing(temp, target);
}

async function placeWithoutReplacing(temp: string, target: string): Promise<void> {
  try {
    await fs.link(temp, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw existsError(target);
    // File systems without hard links (FAT, some network shares): look, then rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw error;
    if (await exists(target)) throw existsError(target);
    await fs.rename(temp, target);
  }
}
