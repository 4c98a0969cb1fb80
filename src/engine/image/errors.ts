/**
 * The one error type image loading throws. `code` lets callers branch (and tests assert) without
 * parsing text; `message` is written for the user and names the file, because it is shown as is.
 */

export type ImageErrorCode = 'empty' | 'unknown-format' | 'truncated' | 'corrupt' | 'too-large' | 'unsupported';

export class ImageError extends Error {
  override readonly name = 'ImageError';

  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const SUPPORTED_FORMATS_TEXT = 'PNG, JPEG, GIF, BMP; with the sharp package also WebP, TIFF and AVIF';

/** How messages refer to the file: its quoted name, or a neutral subject when none was given. */
export function fileLabel(name?: string): string {
  return name ? `"${name}"` : 'The image';
}

/** "<file> is not a readable image: <reason>", the shape of every decoding failure. */
export function unreadable(code: ImageErrorCode, name: string | undefined, reason: string): ImageError {
  return new ImageError(code, `${fileLabel(name)} is not a readable image: ${reason}`);
}

export function endsEarly(formatTitle: string, name: string | undefined): ImageError {
  return unreadable('truncated', name, `${formatTitle} data ends early (truncated)`);
}

export function damaged(formatTitle: string, name: string | undefined, detail: string): ImageError {
  return unreadable('corrupt', name, `${formatTitle} data is damaged (${detail})`);
}

export function unsupported(name: string | undefined, what: string): ImageError {
  return new ImageError(
    'unsupported',
    `${fileLabel(name)} is ${what}, which CNN Lens cannot decode; convert it to PNG or JPEG (supported: ${SUPPORTED_FORMATS_TEXT})`,
  );
}
