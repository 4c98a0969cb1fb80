/**
 * The engine's own temporary files and folders: the weights of a `.keras` archive, inflated for h5wasm
 * (which reads paths, not memory), into a private (0700) folder under the OS temp folder; and the hidden
 * `.NAME.PID.RANDOM.tmp` files outputs are written to before they are renamed into place (atomicWrite.ts).
 * Each is registered while it exists and removed by whoever made it on every normal and failing path; what
 * is still registered when the process ends (Ctrl-C in the CLI) is removed by `removeTemporaries`, which the
 * CLI's SIGINT/SIGTERM/SIGHUP handlers and the process's 'exit' event call. A worker thread that is
 * terminated runs no 'exit' handler, so the engine worker makes its folders under a parent its host created
 * for it (`setTempRoot`), and the host removes that parent once the worker has ended, however it ended.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMP_PREFIX = 'cnnlens-';

const liveFolders = new Set<string>();
const liveFiles = new Set<string>();
let hooked = false;
let root: string | null = null;

/** Makes the temporary folders under `dir` from now on (null: the OS temp folder). */
export function setTempRoot(dir: string | null): void {
  root = dir;
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeTemporaries);
}

/** Removes every temporary file and folder still registered, synchronously (safe in 'exit' and signal handlers). */
export function removeTemporaries(): void {
  for (const file of liveFiles) {
    try {
      rmSync(file, { force: true });
    } catch {
      // Best effort: the process is ending.
    }
    liveFiles.delete(file);
  }
  for (const dir of liveFolders) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: the process is ending.
    }
    liveFolders.delete(dir);
  }
}

/** The temporary folders that exist now (tests). */
export function liveTempFolders(): string[] {
  return [...liveFolders];
}

/** The temporary output files that exist now (tests). */
export function liveTempFiles(): string[] {
  return [...liveFiles];
}

/**
 * Registers a temporary file (about to be created) for removal should the process end before its owner
 * renames or removes it; the returned function unregisters it (after the rename or removal).
 */
export function registerTempFile(file: string): () => void {
  hookExit();
  liveFiles.add(file);
  return () => void liveFiles.delete(file);
}

/** A new private folder under the temp root (`setTempRoot`, else the OS temp folder), registered until `remove` is called. */
export async function makeTempFolder(purpose: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  hookExit();
  const dir = mkdtempSync(path.join(root ?? os.tmpdir(), `${TEMP_PREFIX}${purpose}-`));
  liveFolders.add(dir);
  return {
    dir,
    remove: async () => {
      await fs.rm(dir, { recursive: true, force: true });
      liveFolders.delete(dir);
    },
  };
}
