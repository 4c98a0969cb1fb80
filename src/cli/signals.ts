/**
 * Ctrl-C and kills. Outside a batch, the engine's temporary files (a .keras archive's weights, outputs not
 * yet renamed into place, a --json-lines file being written) are removed and the process ends at once (128 + the signal's number, as shells report it). During a batch, the first
 * Ctrl-C asks it to stop after the current image (it then prints its summary and exits 130); a second one
 * stops at once.
 */
import { removeTemporaries } from '../files/tempFiles';

const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const;

let hooked = false;
let batch: { stop: () => void; stopping: boolean } | undefined;

function onSignal(signal: string, code: number): void {
  if (signal === 'SIGINT' && batch && !batch.stopping) {
    batch.stopping = true;
    batch.stop();
    return;
  }
  removeTemporaries();
  console.error(`cnn-lens: stopped (${signal}).`);
  process.exit(code);
}

export function removeTempFilesOnSignals(): void {
  if (hooked) return;
  hooked = true;
  for (const [signal, code] of SIGNALS) process.on(signal, () => onSignal(signal, code));
}

/**
 * Runs `body` with Ctrl-C meaning "stop after the current image": `stop` is called on the first one. The
 * SIGINT handler is added for the run when the entry point did not add one (bin/cnn-lens.js, tests).
 */
export async function withGracefulInterrupt<T>(stop: () => void, body: () => Promise<T>): Promise<T> {
  const temporary = !hooked;
  const handler = () => onSignal('SIGINT', 130);
  if (temporary) process.on('SIGINT', handler);
  batch = { stop, stopping: false };
  try {
    return await body();
  } finally {
    batch = undefined;
    if (temporary) process.off('SIGINT', handler);
  }
}
