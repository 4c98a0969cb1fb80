/**
 * The engine's own temporary folders (today: the weights of a `.keras` archive, inflated for h5wasm, which
 * reads paths, not memory). Each is made private (0700) under the OS temp folder, registered while it
 * exists, and removed by whoever made it on every normal and failing path; what is still registered when
 * the process ends (Ctrl-C in the CLI) is removed by `removeAllTempFolders`, which the CLI's
 * SIGINT/SIGTERM handlers and the process's 'exit' event call. A worker thread that is terminated runs no
 * 'exit' handler, so the engine worker makes its folders under a parent its host created for it
 * (`setTempRoot`), and the host removes that parent once the worker has ended, however it ended.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMP_PREFIX = 'cnnlens-';

const live = new Set<string>();
let hooked = false;
let root: string | null = null;

/** Makes the temporary folders under `dir` from now on (null: the OS temp folder). */
export function setTempRoot(dir: string | null): void {
  root = dir;
}

/** Removes every folder still registered, synchronously (safe in 'exit' and signal handlers). */
export function removeAllTempFolders(): void {
  for (const dir of live) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: the process is ending.
    }
    live.delete(dir);
  }
}

/** The temporary folders that exist now (tests). */
export function liveTempFolders(): string[] {
  return [...live];
}

/** A new private folder under the temp root (`setTempRoot`, else the OS temp folder), registered until `remove` is called. */
export async function makeTempFolder(purpose: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeAllTempFolders);
  }
  const dir = mkdtempSync(path.join(root ?? os.tmpdir(), `${TEMP_PREFIX}${purpose}-`));
  live.add(dir);
  return {
    dir,
    remove: async () => {
      await fs.rm(dir, { recursive: true, force: true });
      live.delete(dir);
    },
  };
}
