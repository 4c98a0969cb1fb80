/** PNG writers for exports: the overlay (RGBA or RGB) and the raw heatmap (8-bit grayscale). */
import { PNG, type PackerOptions } from 'pngjs';
import { writeAtomically, writeFileAtomic } from '../atomicWrite';
import type { RgbaImage } from '../types';
import { encodePngWithSharp, pngPipeline, sharpCodec } from './sharpCodec';

/**
 * Packed pixels → a PNG file, atomically. With sharp the PNG streams from libvips straight into the
 * temporary file: a 12 MP overlay's ~35 MB of PNG is never held in memory.
 */
export async function writePngFile(target: string, data: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Promise<void> {
  const { sharp } = sharpCodec();
  if (!sharp) return writeFileAtomic(target, await encodePngFast(data, width, height, channels));
  if (data.length !== width * height * channels)
    throw new RangeError(`PNG encoder got ${data.length} bytes for ${width}×${height}×${channels}`);
  return writeAtomically(target, (temp) => pngPipeline(sharp, data, width, height, channels).toFile(temp));
}

/**
 * Packed pixels (1 = gray, 3 = RGB, 4 = RGBA) → PNG, with sharp off the JavaScript thread where it is
 * installed (a 12 MP overlay: ~0.3 s against pngjs's seconds), else pngjs.
 */
export async function encodePngFast(data: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Promise<Buffer> {
  if (data.length !== width * height * channels)
    throw new RangeError(`PNG encoder got ${data.length} bytes for ${width}×${height}×${channels}`);
  const { sharp } = sharpCodec();
  if (sharp) return encodePngWithSharp(sharp, data, width, height, channels);
  const colorType = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  return writePng(data, width, height, channels, { colorType, inputColorType: colorType, inputHasAlpha: channels === 4, bitDepth: 8 });
}

export function encodePng(image: RgbaImage): Buffer {
  return writePng(image.data, image.width, image.height, 4, { colorType: 6, inputColorType: 6, inputHasAlpha: true });
}

/** One byte per pixel in, colour type 0 (grayscale) out: a quarter of the RGBA size, and tools read it as a mask. */
export function encodeGrayPng(values: Uint8Array, width: number, height: number): Buffer {
  return writePng(values, width, height, 1, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

function writePng(data: Uint8Array, width: number, height: number, channels: number, options: PackerOptions): Buffer {
  if (data.length !== width * height * channels) {
    throw new RangeError(`PNG encoder got ${data.length} bytes for ${width}×${height}×${channels}`);
  }
  // The sync writer only reads width, height and data; a full PNG stream object is not needed.
  const source = { width, height, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  return PNG.sync.write(source as unknown as PNG, options);
}
