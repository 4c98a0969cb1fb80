/**
 * Output file names: one cleaner for every name part (the CLI batch's outputs, the panel's exports), and
 * the `<image>.<technique>.<class>.<layer>` stem they share. Plain string work (the host imports it).
 */
import * as path from 'node:path';

/** Characters no file system takes (Windows' set, control characters), white space and path separators. */
const UNSAFE = /[\u0000-\u001f\u007f<>:"/\\|?*\s]+/g;
const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/** A name part safe on every file system: unsafe runs become "_", at most `max` characters, never empty. */
export function sanitizeNamePart(part: string, max = 60, dots = false): string {
  let clean = part.normalize('NFC').replace(UNSAFE, '_');
  if (!dots) clean = clean.replace(/\./g, '_');
  clean = clean.replace(/_+/g, '_');
  clean = Array.from(clean).slice(0, max).join('');
  // Windows drops trailing dots and spaces, and refuses device names even with an extension.
  clean = clean.replace(/[. ]+$/, '');
  if (!clean || clean === '_') return '';
  return RESERVED.test(clean.split('.')[0]) ? `_${clean}` : clean;
}

/**
 * A class's part of a file name: its label's first name, cleaned ("malamute" for "malamute, malemute,
 * Alaskan malamute", as ImageNet labels list synonyms), else the whole label's, else `class<index>`.
 */
export function classNamePart(label: string, index: number): string {
  return sanitizeNamePart(label.split(',')[0]) || sanitizeNamePart(label) || `class${index}`;
}

/** What names an explanation's files. */
export interface NamedExplanation {
  technique: string;
  target: { label: string; index: number };
  /** Empty for techniques without a layer. */
  layer: string;
}

/**
 * `<stem>.<technique>.<class>.<layer>`, each part cleaned (the class by its first name, `classNamePart`):
 * the class is left out when the map does not depend on it (`classAgnostic`), the layer when the technique
 * has none. `stem` is used as given.
 */
export function explanationStem(stem: string, explanation: NamedExplanation, classAgnostic = false): string {
  const parts = [stem, sanitizeNamePart(explanation.technique) || 'map'];
  if (!classAgnostic) parts.push(classNamePart(explanation.target.label, explanation.target.index));
  if (explanation.layer) parts.push(sanitizeNamePart(explanation.layer) || 'layer');
  return parts.join('.');
}

/** What names a Look-inside picture's file: the view, what it shows (defaults resolved) and its page. */
export interface NamedInspection {
  kind: string;
  layer: string | null;
  /** The one filter (a channel, for feature maps) shown or maximised. */
  filter: number | null;
  classLabel: string | null;
  /** 0-based, of `pages`. */
  page: number;
  pages: number;
}

/**
 * `<stem>.<kind>[.<layer>][.channel<N>|.filter<N>][.<class>][.page<N>]`, each part cleaned (the page,
 * 1-based, only when there are several): `dog.featuremaps.conv_pw_13_relu.page2`,
 * `dog.featuremaps.conv_pw_13_relu.channel5`, `dog.maximize.conv_pw_13_relu.filter5`, `dog.classimage.malamute`.
 */
export function inspectionStem(stem: string, picture: NamedInspection): string {
  const parts = [stem, sanitizeNamePart(picture.kind) || 'picture'];
  if (picture.layer) parts.push(sanitizeNamePart(picture.layer) || 'layer');
  if (picture.filter !== null) parts.push(`${picture.kind === 'featuremaps' ? 'channel' : 'filter'}${picture.filter}`);
  if (picture.classLabel !== null) parts.push(sanitizeNamePart(picture.classLabel) || 'class');
  if (picture.pages > 1) parts.push(`page${picture.page + 1}`);
  return parts.join('.');
}

/** An image file's name without its extension, cleaned (dots kept): the stem of the files written beside it. */
export function imageStem(imagePath: string): string {
  return sanitizeNamePart(path.parse(imagePath).name, 100, true) || 'image';
}

/**
 * The same files with " (n)" before their endings, for the smallest n ≥ 2 at which none of them exists
 * ("dog.gradcam.png" → "dog.gradcam (2).png"; a set such as the raw map's .png and .npy shares one n).
 */
export async function keepBothPaths(files: readonly string[], exists: (file: string) => Promise<boolean>): Promise<string[]> {
  for (let n = 2; ; n++) {
    const candidates = files.map((file) => {
      const { dir, name, ext } = splitEnding(file);
      return path.join(dir, `${name} (${n})${ext}`);
    });
    const taken = await Promise.all(candidates.map(exists));
    if (!taken.some(Boolean)) return candidates;
  }
}

/** The ending after the last dot ("a.b.raw.npy" → ".npy"), the rest as name. */
function splitEnding(file: string): { dir: string; name: string; ext: string } {
  const { dir, base } = path.parse(file);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? { dir, name: base.slice(0, dot), ext: base.slice(dot) } : { dir, name: base, ext: '' };
}
