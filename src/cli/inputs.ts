/**
 * The images a command runs over: each argument is an image file, a folder (its images, top level, or the
 * whole tree with --recursive) or a glob (`*`, `?`, `**`; expanded here, as shells on Windows do not).
 * Folders and globs keep only the files the engine reads (by their ending); a file named outright is taken
 * as it is and fails on its own if it is not an image. Each argument's files are sorted by path; a file
 * reached twice is run once.
 */
import { promises as fs, type Dirent } from 'node:fs';
import * as path from 'node:path';
import { IMAGE_EXTENSIONS, isImageName } from '../files/choices';
import { UsageError } from './shared';

export interface InputOptions {
  recursive: boolean;
  /** Folders never walked into (the output folder: a second run must not explain the first one's overlays). */
  skip?: string[];
}

const GLOB_CHARS = /[*?]/;

/** Whether an argument (that is no existing file or folder) is a glob. */
export function isGlob(arg: string): boolean {
  return GLOB_CHARS.test(arg);
}

function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function statOrUndefined(file: string) {
  return fs.stat(file).catch(() => undefined);
}

/** A folder's entries, as files and folders (symbolic links followed; a folder reached twice is walked once). */
async function entries(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  let listing: Dirent[];
  try {
    listing = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new UsageError(`Cannot read the folder ${dir}: ${(error as Error).message.split('\n')[0]}`);
  }
  const files: string[] = [];
  const dirs: string[] = [];
  for (const entry of listing) {
    // Hidden files and folders (.git, .DS_Store, editors' backups) are not the user's images.
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    let kind: 'file' | 'dir' | undefined = entry.isFile() ? 'file' : entry.isDirectory() ? 'dir' : undefined;
    if (entry.isSymbolicLink()) {
      const stat = await statOrUndefined(full);
      kind = stat?.isFile() ? 'file' : stat?.isDirectory() ? 'dir' : undefined;
    }
    if (kind === 'file') files.push(full);
    else if (kind === 'dir') dirs.push(full);
  }
  return { files: files.sort(byPath), dirs: dirs.sort(byPath) };
}

class Walker {
  private readonly seen = new Set<string>();
  private readonly skip: Set<string>;

  constructor(skip: string[]) {
    this.skip = new Set(skip);
  }

  /** False for a folder already walked for this `pass` (a link loop) or one to skip. */
  async enter(dir: string, pass = ''): Promise<boolean> {
    const real = await fs.realpath(dir).catch(() => dir);
    if (this.seen.has(`${pass}\0${real}`) || this.skip.has(real)) return false;
    this.seen.add(`${pass}\0${real}`);
    return true;
  }
}

async function folderImages(dir: string, recursive: boolean, walker: Walker): Promise<string[]> {
  if (!(await walker.enter(dir))) return [];
  const { files, dirs } = await entries(dir);
  const found = files.filter(isImageName);
  if (recursive) for (const sub of dirs) found.push(...(await folderImages(sub, true, walker)));
  return found.sort(byPath);
}

/** One path segment of a glob as a regular expression: `*` any run of characters, `?` one; no `/`. */
function segmentPattern(segment: string): RegExp {
  const body = segment
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  // As in shells, a wildcard does not match a leading dot (hidden files): the segment must start with one.
  return new RegExp(`^${segment.startsWith('.') ? '' : '(?!\\.)'}${body}$`, process.platform === 'win32' ? 'i' : '');
}

/** The files a glob matches, sorted; `**` stands for any number of folders (none included). */
export async function expandGlob(pattern: string, walker = new Walker([])): Promise<string[]> {
  const normalised = process.platform === 'win32' ? pattern.replace(/\\/g, '/') : pattern;
  const absolute = path.isAbsolute(normalised);
  const segments = normalised.split('/').filter((s, i) => s !== '' || i === 0);
  // A trailing ** is every file below.
  if (segments[segments.length - 1] === '**') segments.push('*');
  // The literal folders before the first wildcard are where the walk starts.
  let start = absolute ? path.parse(path.resolve(normalised)).root : process.cwd();
  let i = absolute ? 1 : 0;
  if (absolute && /^[a-zA-Z]:$/.test(segments[0])) start = segments[0] + path.sep;
  while (i < segments.length - 1 && !isGlob(segments[i])) start = path.join(start, segments[i++]);
  const rest = segments.slice(i);
  const matches = new Set<string>();
  const walk = async (dir: string, at: number): Promise<void> => {
    const segment = rest[at];
    const last = at === rest.length - 1;
    if (segment === '**') {
      if (!(await walker.enter(dir, String(at)))) return;
      await walk(dir, at + 1);
      for (const sub of (await entries(dir)).dirs) await walk(sub, at);
      return;
    }
    if (!isGlob(segment)) {
      const next = path.join(dir, segment);
      if (last) {
        if ((await statOrUndefined(next))?.isFile()) matches.add(next);
      } else if ((await statOrUndefined(next))?.isDirectory()) await walk(next, at + 1);
      return;
    }
    const match = segmentPattern(segment);
    const stat = await statOrUndefined(dir);
    if (!stat?.isDirectory()) return;
    const { files, dirs } = await entries(dir);
    if (last) for (const file of files) if (match.test(path.basename(file))) matches.add(file);
    if (!last) for (const sub of dirs) if (match.test(path.basename(sub))) await walk(sub, at + 1);
  };
  await walk(start, 0);
  return [...matches].filter(isImageName).sort(byPath);
}

/**
 * Every argument expanded, in the order given (each one's files sorted), each file once. An argument that
 * names nothing, a folder without images and a glob that matches none are usage errors: found before the
 * model loads.
 */
export async function expandInputs(args: string[], options: InputOptions): Promise<string[]> {
  const skip = await Promise.all((options.skip ?? []).map((dir) => fs.realpath(dir).catch(() => path.resolve(dir))));
  const files: string[] = [];
  const seen = new Set<string>();
  const add = (file: string) => {
    const resolved = path.resolve(file);
    if (!seen.has(resolved)) {
      seen.add(resolved);
      files.push(resolved);
    }
  };
  for (const arg of args) {
    const stat = await statOrUndefined(arg);
    if (stat?.isDirectory()) {
      const found = await folderImages(path.resolve(arg), options.recursive, new Walker(skip));
      if (found.length === 0)
        throw new UsageError(
          `The folder ${arg} holds no images (${IMAGE_EXTENSIONS.join(', ')})${options.recursive ? '' : '; --recursive looks in its subfolders too'}.`,
        );
      found.forEach(add);
    } else if (stat || !isGlob(arg)) {
      // A file (or a missing one: reported with the others, when it is read).
      add(arg);
    } else {
      const found = await expandGlob(arg, new Walker(skip));
      if (found.length === 0) throw new UsageError(`No image matches ${arg}.`);
      found.forEach(add);
    }
  }
  return files;
}
