/**
 * Outputs appear whole or not at all: written to a temporary file beside the target, then renamed over
 * it (atomic on one file system), so a failed or cancelled write never leaves half a PNG behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Runs `write` on a fresh temporary path beside `target`, then renames it into place; removes it on failure. */
export async function writeAtomically(target: string, write: (temp: string) => Promise<unknown>): Promise<void> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await write(temp);
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

export function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  return writeAtomically(target, (temp) => fs.writeFile(temp, data, { flag: 'wx' }));
}
