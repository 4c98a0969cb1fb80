/**
 * Bytes or a file → RGBA, refusing anything too big before a decoder allocates for it: the file
 * size is checked before reading, the header's dimensions before decoding (pngjs has no cap of its
 * own: a 68-byte PNG claiming 30000×30000 would otherwise take ~40 s and gigabytes).
 *
 * Photos are decoded at the size the work needs (`maxSide`): sharp shrinks JPEGs while decoding them,
 * so a 12 MP photo never exists at full size in memory unless an export asks for it.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { resizeRgba } from '../render/overlay';
import type { PackedPixels, RgbaImage } from '../types';
import { decodeBmp, readBmpHeader } from './bmp';
import { decodeGif, decodeJpeg, decodePng } from './decoders';
import { ImageError, damaged, endsEarly, fileLabel, unsupported } from './errors';
import { upright } from './orientation';
import { FORMAT_TITLES, type ImageFormat, type ImageInfo, probeImage, readJpegFrame, readJpegOrientation } from './probe';
import { decodeWithSharp, SHARP_ONLY_FORMATS, sharpCodec, sharpHeader } from './sharpCodec';
import { untilCancelled } from './untilCancelled';

export interface ImageLimits {
  maxPixels: number;
  maxBytes: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxPixels: 40_000_000, maxBytes: 100 * 1024 * 1024 };

/**
 * Longest side of the copy the engine works on: several times any common model input (so the final,
 * antialiased resize to the input still sees every detail it would at full size) and more than the panel
 * shows (DISPLAY_MAX_SIDE), yet a 12 MP JPEG decodes at 1/2 scale and the copy takes 7 MB.
 */
export const WORKING_MAX_SIDE = 1536;

/** Baseline, extended-sequential and progressive Huffman JPEG: what jpeg-js decodes. */
const JPEG_FRAMES_DECODED = [0xc0, 0xc1, 0xc2];

export interface DecodeOptions {
  /** Longest side wanted; larger images are reduced (antialiased) while or after decoding. Absent: full size. */
  maxSide?: number;
  /** 3: RGB where the decoder can give it (sharp), for full-size exports; default RGBA. */
  channels?: 3 | 4;
  /** Throws to stop; polled while sharp decodes off-thread (the pure-JS decoders cannot be interrupted). */
  checkCancelled?: () => void;
}

/** A decoded image with what the file held: its full size (upright) and format. */
export interface DecodedImage<Pixels = RgbaImage> {
  image: Pixels;
  /** The full image's size, EXIF orientation applied: what `image` is a reduction of. */
  width: number;
  height: number;
  format: ImageFormat;
  codec: 'sharp' | 'js';
}

/**
 * The pure-JS decoders only (PNG, JPEG, GIF, BMP), synchronous and at full size. `name` is used in
 * messages only; the format always comes from the bytes.
 */
export function decodeImage(bytes: Uint8Array, limits: ImageLimits, name: string): RgbaImage {
  const info = checkedInfo(bytes, limits, name);
  if (SHARP_ONLY_FORMATS.includes(info.format)) throw needsSharp(info, name, 'the synchronous decoders are pure JavaScript');
  return decodeWithJs(info, bytes, limits, name);
}

/** sharp where it is installed (every format, shrink-on-load), else the pure-JS decoders. */
export async function decodeImageAsync(
  bytes: Uint8Array,
  limits: ImageLimits,
  name: string,
  options: DecodeOptions = {},
): Promise<DecodedImage<PackedPixels>> {
  const info = checkedInfo(bytes, limits, name);
  const { sharp: loaded, reason } = sharpCodec();
  // sharp's prebuilt libvips has no BMP reader: BMP always takes the pure-JS path.
  const sharp = info.format === 'bmp' ? null : loaded;
  if (!sharp) {
    if (SHARP_ONLY_FORMATS.includes(info.format)) throw needsSharp(info, name, reason);
    const full = upright(decodeWithJs(info, bytes, limits, name), info.format === 'jpeg' ? readJpegOrientation(bytes) : 1);
    options.checkCancelled?.();
    const image = reduced(full, options.maxSide, options.checkCancelled);
    return {
      image: { ...image, channels: 4, ...fullSizeOf(image, full) },
      width: full.width,
      height: full.height,
      format: info.format,
      codec: 'js',
    };
  }
  // The header through libvips too: AVIF keeps its size deep in its box tree, and EXIF orientation says
  // which way up the full image stands (a reduced copy's shape cannot tell for near-square photos).
  const header = await sharpHeader(sharp, bytes, info.format, name);
  checkPixels(header.width, header.height, limits, name);
  let image;
  try {
    image = await untilCancelled(
      decodeWithSharp(
        sharp,
        bytes,
        info.format,
        { maxPixels: limits.maxPixels, maxSide: options.maxSide, channels: options.channels },
        name,
      ),
      options.checkCancelled,
    );
  } catch (error) {
    // libvips' words for a file cut short vary by codec; the file's structure says it plainly.
    if (error instanceof ImageError && error.code === 'corrupt' && looksCutShort(info.format, bytes, name))
      throw withCause(endsEarly(FORMAT_TITLES[info.format], name), error);
    throw error;
  }
  const full = { width: header.uprightWidth, height: header.uprightHeight };
  return { image: { ...image, ...fullSizeOf(image, full) }, ...full, format: info.format, codec: 'sharp' };
}

/** `{ full }` when `image` is a reduced copy of a `full`-sized image: windows and regions are computed on the full size. */
function fullSizeOf(image: { width: number; height: number }, full: { width: number; height: number }): Pick<RgbaImage, 'full'> {
  return image.width === full.width && image.height === full.height ? {} : { full: { width: full.width, height: full.height } };
}

function withCause(error: ImageError, cause: unknown): ImageError {
  error.cause = cause;
  return error;
}

function checkedInfo(bytes: Uint8Array, limits: ImageLimits, name: string): ImageInfo {
  if (bytes.length > limits.maxBytes) throw fileTooLarge(name, bytes.length, limits.maxBytes);
  const info = probeImage(bytes, name);
  checkPixels(info.width, info.height, limits, name);
  return info;
}

function checkPixels(width: number, height: number, limits: ImageLimits, name: string): void {
  if (width * height > limits.maxPixels) {
    throw new ImageError(
      'too-large',
      `${fileLabel(name)} is too large to open: ${width}×${height} pixels (${megapixels(width * height)}) is over the ${megapixels(limits.maxPixels)} limit`,
    );
  }
}

function needsSharp(info: ImageInfo, name: string, reason: string): ImageError {
  const size = info.width > 0 ? ` (${info.width}×${info.height})` : '';
  return new ImageError(
    'unsupported',
    `${fileLabel(name)} is a ${FORMAT_TITLES[info.format]} image${size}, which needs the optional "sharp" package to decode (${reason}). Install it (npm install sharp) or convert the image to PNG or JPEG.`,
  );
}

/**
 * The working copy (longest side WORKING_MAX_SIDE, area-averaged) of an image decoded at full size; it
 * remembers the full size. `checkCancelled` is called every 64 rows of the reduction.
 */
export function reduceToWorkingCopy(image: PackedPixels, checkCancelled?: () => void): RgbaImage {
  const rgba = image.channels === 4 ? image : { ...image, data: withAlpha(image.data) };
  const copy = reduced({ width: rgba.width, height: rgba.height, data: rgba.data }, WORKING_MAX_SIDE, checkCancelled);
  return { ...copy, ...fullSizeOf(copy, image) };
}

function withAlpha(rgb: Uint8Array): Uint8Array {
  const rgba = new Uint8Array((rgb.length / 3) * 4);
  for (let i = 0, p = 0; i < rgb.length; i += 3, p += 4) {
    rgba[p] = rgb[i];
    rgba[p + 1] = rgb[i + 1];
    rgba[p + 2] = rgb[i + 2];
    rgba[p + 3] = 255;
  }
  return rgba;
}

/** An area-averaged reduction when the image is larger than `maxSide` (the JS path's shrink). */
function reduced(image: RgbaImage, maxSide: number | undefined, checkCancelled?: () => void): RgbaImage {
  if (!maxSide || Math.max(image.width, image.height) <= maxSide) return image;
  const scale = maxSide / Math.max(image.width, image.height);
  const [width, height] = [Math.max(1, Math.round(image.width * scale)), Math.max(1, Math.round(image.height * scale))];
  return resizeRgba(image, width, height, checkCancelled);
}

function decodeWithJs(info: ImageInfo, bytes: Uint8Array, limits: ImageLimits, name: string): RgbaImage {
  const { width, height } = info;
  let image: RgbaImage;
  try {
    image = decodeAs(info, bytes, limits, name);
  } catch (err) {
    throw asImageError(err, info.format, bytes, name);
  }
  // Limits were checked against the header; a decoder disagreeing with it means the file lies.
  if (image.width !== width || image.height !== height) {
    throw damaged(FORMAT_TITLES[info.format], name, `header says ${width}×${height}, data holds ${image.width}×${image.height}`);
  }
  return image;
}

/** The whole image at full size as RGBA; see readImage for a reduced copy. */
export async function readImageFile(path: string, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<RgbaImage> {
  return (await readImage(path, limits)).image;
}

/** RGBA, reduced to `options.maxSide` when given (the copy the engine works on). */
export async function readImage(
  path: string,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
  options: Omit<DecodeOptions, 'channels'> = {},
): Promise<DecodedImage> {
  const decoded = await readImagePixels(path, limits, { ...options, channels: 4 });
  const { width, height, data, full } = decoded.image;
  return { ...decoded, image: { width, height, data, ...(full ? { full } : {}) } };
}

/** Reads at most `limits.maxBytes`: the size is checked on the open file before any byte is read. */
export async function readImagePixels(
  path: string,
  limits: ImageLimits = DEFAULT_IMAGE_LIMITS,
  options: DecodeOptions = {},
): Promise<DecodedImage<PackedPixels>> {
  const name = basename(path);
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    const why = error.code === 'ENOENT' ? 'not found' : error.code === 'EACCES' ? 'not readable (permission denied)' : error.message;
    throw new Error(`Image ${why}: ${path}`);
  });
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw new ImageError('unknown-format', `${fileLabel(name)} is not a file`);
    if (stats.size > limits.maxBytes) throw fileTooLarge(name, stats.size, limits.maxBytes);
    const bytes = new Uint8Array(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await file.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break; // the file shrank since stat: decode what is there
      filled += bytesRead;
    }
    options.checkCancelled?.();
    return await decodeImageAsync(bytes.subarray(0, filled), limits, name, options);
  } finally {
    await file.close();
  }
}

function decodeAs(info: ImageInfo, bytes: Uint8Array, limits: ImageLimits, name: string): RgbaImage {
  switch (info.format) {
    case 'png':
      return decodePng(bytes);
    case 'jpeg': {
      const { frameMarker } = readJpegFrame(bytes, name);
      if (!JPEG_FRAMES_DECODED.includes(frameMarker)) throw unsupported(name, 'a lossless, hierarchical or arithmetic-coded JPEG');
      return decodeJpeg(bytes, limits.maxPixels);
    }
    case 'gif':
      return decodeGif(bytes, info, name);
    case 'bmp':
      return decodeBmp(bytes, readBmpHeader(bytes, name), name);
    case 'webp':
    case 'tiff':
    case 'avif':
      throw needsSharp(info, name, 'the synchronous decoders are pure JavaScript');
  }
}

/** Decoder messages are kept as the reason; whether the file ends early is judged from its structure. */
function asImageError(err: unknown, format: ImageFormat, bytes: Uint8Array, name: string): ImageError {
  if (err instanceof ImageError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  let wrapped: ImageError;
  if (/maxMemoryUsage|maxResolution|allocat|out of memory/i.test(reason)) {
    wrapped = new ImageError('too-large', `${fileLabel(name)} is too large to decode: ${reason}`);
  } else if (isReadPastEnd(err) || looksCutShort(format, bytes, name)) {
    wrapped = endsEarly(FORMAT_TITLES[format], name);
  } else {
    wrapped = damaged(FORMAT_TITLES[format], name, reason);
  }
  wrapped.cause = err;
  return wrapped;
}

function isReadPastEnd(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_OUT_OF_RANGE' || code === 'ERR_BUFFER_OUT_OF_BOUNDS';
}

function looksCutShort(format: ImageFormat, bytes: Uint8Array, name: string): boolean {
  switch (format) {
    case 'png':
      return !pngReachesIend(bytes);
    case 'jpeg': {
      // Entropy-coded data never contains FF D9, so an end-of-image marker after the scan start means the file is complete.
      const { scanStart } = readJpegFrame(bytes, name);
      return scanStart < 0 || !hasMarkerAfter(bytes, 0xd9, scanStart);
    }
    case 'gif':
      return bytes[bytes.length - 1] !== 0x3b; // the trailer byte
    case 'webp':
      // RIFF's size field counts the bytes after its first 8.
      return bytes.length < 12 || new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true) + 8 > bytes.length;
    default:
      return false;
  }
}

function pngReachesIend(bytes: Uint8Array): boolean {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 8; p + 8 <= bytes.length;) {
    const isIend = v.getUint32(p + 4) === 0x49454e44; // "IEND"
    p += 12 + v.getUint32(p);
    if (isIend) return p <= bytes.length;
  }
  return false;
}

function hasMarkerAfter(bytes: Uint8Array, marker: number, start: number): boolean {
  for (let i = bytes.length - 2; i >= start; i--) if (bytes[i] === 0xff && bytes[i + 1] === marker) return true;
  return false;
}

function fileTooLarge(name: string, size: number, maxBytes: number): ImageError {
  return new ImageError('too-large', `${fileLabel(name)} is too large to open: ${byteSize(size)} is over the ${byteSize(maxBytes)} limit`);
}

function megapixels(pixels: number): string {
  return pixels >= 100_000 ? `${+(pixels / 1e6).toFixed(1)} MP` : `${pixels} pixels`;
}

function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 ** 2) return `${+(bytes / 1024).toFixed(1)} KB`;
  return `${+(bytes / 1024 ** 2).toFixed(1)} MB`;
}
