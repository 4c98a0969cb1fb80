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
}

/** Runs `write` on a fresh temporary path beside `target`, then moves it into place; removes it on failure. */
export async function writeAtomically(
  target: string,
  write: (temp: string) => Promise<unknown>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await write(temp);
    if (options.replace === false) await placeWithoutReplacing(temp, target);
    else await fs.rename(temp, target);
  } finally {
    await fs.rm(temp, { force: true });
  }
}

export function writeFileAtomic(target: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  return writeAtomically(target, (temp) => fs.writeFile(temp, data, { flag: 'wx' }), options);
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
