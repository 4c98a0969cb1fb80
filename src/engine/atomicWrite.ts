/**
 * Outputs appear whole or not at all: written to a temporary file beside the target, then renamed over
 * it (atomic on one file system), so a failed or cancelled write never leaves half a PNG behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface AtomicWriteOptions {
  /**
   * False: never replace an existing file — the temporary file is hard-linked into place (which fails when
   * the target exists, so a file that appeared since the caller looked is kept) and the write fails with
   * code EEXIST. Default true (rename over it).
   */
  replace?: boolean;
  /**
   * Throws to stop (a cancelled export): called before the write and again before the file is moved into
   * place; the temporary file is removed, so nothing appears.
   */
  checkCancelled?: () => void;
}

/** Runs `write` on a fresh temporary path beside `target`, then moves it into place; removes it on failure. */
export async function writeAtomically(
  target: string,
  write: (temp: string) => Promise<unknown>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  options.checkCancelled?.();
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await write(temp);
    options.checkCancelled?.();
    if (options.replace === false) await placeWithoutReplacing(temp, target);
    else await fs.rename(temp, target);
  } finally {
    await fs.rm(temp, { force: true });
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

/** An error with code EEXIST naming `file`. */
export function existsError(file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path.basename(file)} already exists`), { code: 'EEXIST' });
}

async function placeWithoutReplacing(temp: string, target: string): Promise<void> {
  try {
    await fs.link(temp, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw existsError(target);
    // File systems without hard links (FAT, some network shares): look, then rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw error;
    const there = await fs.lstat(target).then(
      () => true,
      () => false,
    );
    if (there) throw existsError(target);
    await fs.rename(temp, target);
  }
}
