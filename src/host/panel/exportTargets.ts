/**
 * Exports never replace a file silently: when a target exists the user chooses Replace, Keep Both (the
 * names get " (2)", " (3)", …) or cancel. Plain Node (the question is passed in), so it is unit-tested.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { keepBothPaths } from '../../files/outputNames';

export const REPLACE = 'Replace';
export const KEEP_BOTH = 'Keep Both';

export interface TargetIo {
  exists(file: string): Promise<boolean>;
  /** Asks about the files that exist; resolves to REPLACE, KEEP_BOTH or undefined (cancelled). */
  ask(existing: readonly string[]): Promise<string | undefined>;
}

export const fileExists = (file: string): Promise<boolean> =>
  fs.lstat(file).then(
    () => true,
    () => false,
  );

/** The question the modal asks. */
export function replaceQuestion(existing: readonly string[]): string {
  const names = existing.map((file) => `"${path.basename(file)}"`);
  return existing.length === 1 ? `${names[0]} already exists. Replace it?` : `${names.join(' and ')} already exist. Replace them?`;
}

/**
 * Calls `write(files, replace)` once the user has agreed: straight away when none of `files` exists;
 * otherwise after asking (Replace → replace true; Keep Both → the " (n)" names; cancel → undefined, nothing
 * written). `write` must not replace files when `replace` is false (it rejects with code EEXIST): a file
 * that appears between the look and the write is then asked about too.
 */
export async function writeAsking<T>(
  files: readonly string[],
  io: TargetIo,
  write: (files: readonly string[], replace: boolean) => Promise<T>,
): Promise<T | undefined> {
  let targets = files;
  for (let attempt = 0; ; attempt++) {
    const existing = (await Promise.all(targets.map(async (file) => ((await io.exists(file)) ? file : null)))).filter(
      (file): file is string => file !== null,
    );
    let replace = false;
    if (existing.length) {
      const choice = await io.ask(existing);
      if (choice === REPLACE) replace = true;
      else if (choice === KEEP_BOTH) targets = await keepBothPaths(targets, io.exists);
      else return undefined;
    }
    try {
      return await write(targets, replace);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || replace || attempt >= 3) throw error;
    }
  }
}
