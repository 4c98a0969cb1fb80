/**
 * libvips through `sharp`, an optional dependency with prebuilt N-API binaries (it loads in Node and in
 * VS Code's Electron alike). It decodes JPEG with shrink-on-load (DCT scaling to 1/2, 1/4 or 1/8 before a
 * Lanczos reduction), reads PNG, GIF, WebP, TIFF and AVIF, runs off the JavaScript thread, and writes PNG
 * several times faster than pngjs. Where it is missing (or CNN_LENS_IMAGE_CODEC=js), the pure-JS decoders
 * in decoders.ts do the same job for PNG, JPEG and GIF, more slowly; BMP (which its libvips lacks) always
 * goes that way.
 */
import type { PackedPixels } from '../types';
import { ImageError, damaged, endsEarly, fileLabel } from './errors';
import { FORMAT_TITLES, type ImageFormat } from './probe';

type SharpModule = typeof import('sharp');

let loaded: { sharp: SharpModule | null; reason: string } | undefined;

/** The sharp module, or null with the reason (not installed, failed to load, turned off). */
export function sharpCodec(): { sharp: SharpModule | null; reason: string } {
  if (loaded) return loaded;
  if (process.env.CNN_LENS_IMAGE_CODEC === 'js') {
    loaded = { sharp: null, reason: 'turned off (CNN_LENS_IMAGE_CODEC=js)' };
    return loaded;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sharp = require('sharp') as SharpModule;
    // libvips keeps decoded tiles for reuse across pipelines; one photo at a time needs none of that.
    sharp.cache(false);
    loaded = { sharp, reason: `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})` };
  } catch (error) {
    loaded = { sharp: null, reason: `sharp is not available (${(error as Error).message.split('\n')[0]})` };
  }
  return loaded;
}

/** Formats only sharp reads; without it they are refused with a message saying so. */
export const SHARP_ONLY_FORMATS: readonly ImageFormat[] = ['webp', 'tiff', 'avif'];

export interface SharpDecodeOptions {
  maxPixels: number;
  /** Longest side of the result; the image is reduced (never enlarged) to fit. Absent: full size. */
  maxSide?: number;
  /** 3: RGB (a quarter less memory for full-size exports); default 4, RGBA. */
  channels?: 3 | 4;
}

/**
 * Bytes → 8-bit sRGB RGBA, upright (EXIF orientation applied, as the editor's image preview shows it),
 * first page or frame only. libvips refuses images over `maxPixels` from their header, and fails on
 * truncated or damaged data instead of returning grey rows.
 */
export async function decodeWithSharp(
  sharp: SharpModule,
  bytes: Uint8Array,
  format: ImageFormat,
  options: SharpDecodeOptions,
  name: string,
): Promise<PackedPixels> {
  try {
    let pipeline = sharp(bytes, { limitInputPixels: options.maxPixels, failOn: 'truncated', sequentialRead: true, pages: 1 }).rotate();
    if (options.maxSide) {
      pipeline = pipeline.resize({
        width: options.maxSide,
        height: options.maxSide,
        fit: 'inside',
        withoutEnlargement: true,
        kernel: 'lanczos3',
      });
    }
    const channels = options.channels ?? 4;
    pipeline = pipeline.toColourspace('srgb');
    pipeline = channels === 4 ? pipeline.ensureAlpha() : pipeline.removeAlpha();
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`sharp returned ${info.channels} channels`);
    return { width: info.width, height: info.height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (error) {
    throw sharpError(error, format, name);
  }
}

/** Width and height as stored, and as shown once EXIF orientation is applied (read from the header only). */
export async function sharpHeader(
  sharp: SharpModule,
  bytes: Uint8Array,
  format: ImageFormat,
  name: string,
): Promise<{ width: number; height: number; uprightWidth: number; uprightHeight: number }> {
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (!meta.width || !meta.height) throw new Error('no size in its header');
    const upright = meta.autoOrient ?? { width: meta.width, height: meta.height };
    return { width: meta.width, height: meta.height, uprightWidth: upright.width, uprightHeight: upright.height };
  } catch (error) {
    throw sharpError(error, format, name);
  }
}

/** Packed pixels → a PNG pipeline. Level 1 without adaptive filtering: a 12 MP overlay in ~0.35 s instead of ~0.9 s. */
export function pngPipeline(
  sharp: SharpModule,
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
): import('sharp').Sharp {
  // One raw channel would be written as RGB unless it is said to be gray.
  const pipeline = sharp(data, { raw: { width, height, channels } });
  return (channels === 1 ? pipeline.toColourspace('b-w') : pipeline).png({ compressionLevel: 1, adaptiveFiltering: false });
}

function sharpError(error: unknown, format: ImageFormat, name: string): ImageError {
  if (error instanceof ImageError) return error;
  const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0].trim();
  let wrapped: ImageError;
  if (/pixel limit/i.test(reason)) wrapped = new ImageError('too-large', `${fileLabel(name)} is too large to open: ${reason}`);
  else if (/premature end|truncated|unexpected end|not enough data|short read|end of (file|stream)/i.test(reason))
    wrapped = endsEarly(FORMAT_TITLES[format], name);
  else wrapped = damaged(FORMAT_TITLES[format], name, reason.replace(/^(Input buffer|VipsForeignLoad\w*|vips\w*):?\s*/i, ''));
  wrapped.cause = error;
  return wrapped;
}
