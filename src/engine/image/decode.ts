/**
 * Bytes or a file → RGBA, refusing anything too big before a decoder allocates for it: the file
 * size is checked before reading, the header's dimensions before decoding (pngjs has no cap of its
 * own: a 68-byte PNG claiming 30000×30000 would otherwise take ~40 s and gigabytes).
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { RgbaImage } from '../types';
import { decodeBmp, readBmpHeader } from './bmp';
import { decodeGif, decodeJpeg, decodePng } from './decoders';
import { ImageError, damaged, endsEarly, fileLabel, unsupported } from './errors';
import { FORMAT_TITLES, type ImageFormat, type ImageInfo, probeImage, readJpegFrame } from './probe';

export interface ImageLimits {
  maxPixels: number;
  maxBytes: number;
}

export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxPixels: 40_000_000, maxBytes: 100 * 1024 * 1024 };

/** Baseline, extended-sequential and progressive Huffman JPEG: what jpeg-js decodes. */
const JPEG_FRAMES_DECODED = [0xc0, 0xc1, 0xc2];

/** `name` is used in messages only; the format always comes from the bytes. */
export function decodeImage(bytes: Uint8Array, limits: ImageLimits, name: string): RgbaImage {
  if (bytes.length > limits.maxBytes) throw fileTooLarge(name, bytes.length, limits.maxBytes);
  const info = probeImage(bytes, name);
  const { width, height } = info;
  if (info.format === 'webp') throw unsupported(name, `a WebP image (${width}×${height})`);
  if (width * height > limits.maxPixels) {
    throw new ImageError(
      'too-large',
      `${fileLabel(name)} is too large to open: ${width}×${height} pixels (${megapixels(width * height)}) is over the ${megapixels(limits.maxPixels)} limit`,
    );
  }
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

/** Reads at most `limits.maxBytes`: the size is checked on the open file before any byte is read. */
export async function readImageFile(path: string, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<RgbaImage> {
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
    return decodeImage(bytes.subarray(0, filled), limits, name);
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
      throw unsupported(name, 'a WebP image');
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
    default:
      return false;
  }
}

function pngReachesIend(bytes: Uint8Array): boolean {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 8; p + 8 <= bytes.length; ) {
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
