/**
 * The engine worker's temporary folder. The worker writes its temporary files (a `.keras` archive's weights,
 * up to 1 GiB) only inside one folder the host makes for it and passes in; the host removes that folder when
 * the worker ends — terminated after a cancel that did not stop, disposed, or crashed — since a terminated
 * worker thread runs none of its own 'exit' handlers. A folder left by an extension host that itself died is
 * removed the next time one starts: its name carries the host's process id.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const WORKER_TEMP_PREFIX = 'cnnlens-worker-';

/** A new private folder (0700) for one worker's temporary files; null when none can be made (the worker then uses the OS temp folder). */
export function makeWorkerTempRoot(): string | null {
  try {
    return mkdtempSync(path.join(os.tmpdir(), `${WORKER_TEMP_PREFIX}${process.pid}-`));
  } catch {
    return null;
  }
}

/** Removes a worker's folder and everything in it; best effort (a file still open is unlinked all the same). */
export function removeWorkerTempRoot(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    // Nothing more to do: the OS temp folder is cleaned eventually.
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: a process of another user has that id.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const STALE_NAME = new RegExp(`^${WORKER_TEMP_PREFIX}(\\d+)-[^/\\\\]+$`);

/** Removes the worker folders whose host process is no longer running. */
export function removeStaleWorkerTempRoots(): void {
  let names: string[];
  try {
    names = readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const match = STALE_NAME.exec(name);
    if (match && Number(match[1]) !== process.pid && !isRunning(Number(match[1]))) removeWorkerTempRoot(path.join(os.tmpdir(), name));
  }
}
