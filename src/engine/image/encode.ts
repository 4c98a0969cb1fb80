/** PNG writers for exports: the overlay (RGBA or RGB) and the raw heatmap (8-bit grayscale). */
import { PNG, type PackerOptions } from 'pngjs';
import { writeAtomically, writeFileAtomic, type AtomicWriteOptions } from '../../files/atomicWrite';
import type { RgbaImage } from '../types';
import { encodePngBlocks } from './pngEncoder';
import { pngPipeline, sharpCodec } from './sharpCodec';
import { untilCancelled } from './untilCancelled';

/**
 * Packed pixels (1 = gray, 3 = RGB, 4 = RGBA) → a PNG file, atomically. With sharp the PNG streams from
 * libvips straight into the temporary file (a 12 MP overlay: ~0.35 s, its ~35 MB never held in memory);
 * with `options.checkCancelled` (the panel's exports) libvips encodes into memory instead, so that a cancel
 * answers within 20 ms (the encode finishes off-thread and its bytes are dropped; no file was begun).
 * Without sharp the blockwise encoder (pngEncoder.ts) encodes in memory (~0.5 s), checking between blocks.
 */
export async function writePngFile(
  target: string,
  data: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  options: AtomicWriteOptions = {},
): Promise<void> {
  checkSize(data, width, height, channels);
  const { checkCancelled } = options;
  checkCancelled?.();
  const { sharp } = sharpCodec();
  if (sharp && !checkCancelled)
    return writeAtomically(target, (temp) => pngPipeline(sharp, data, width, height, channels).toFile(temp), options);
  const bytes = sharp
    ? await untilCancelled(pngPipeline(sharp, data, width, height, channels).toBuffer(), checkCancelled)
    : await encodePngBlocks(data, width, height, channels, checkCancelled);
  return writeFileAtomic(target, bytes, options);
}

export function encodePng(image: RgbaImage): Buffer {
  checkSize(image.data, image.width, image.height, 4);
  return writePng(image.data, image.width, image.height, { colorType: 6, inputColorType: 6, inputHasAlpha: true });
}

/** One byte per pixel in, colour type 0 (grayscale) out: a quarter of the RGBA size, and tools read it as a mask. */
export function encodeGrayPng(values: Uint8Array, width: number, height: number): Buffer {
  checkSize(values, width, height, 1);
  return writePng(values, width, height, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

function checkSize(data: Uint8Array, width: number, height: number, channels: number): void {
  if (data.length !== width * height * channels) {
    throw new RangeError(`PNG encoder got ${data.length} bytes for ${width}×${height}×${channels}`);
  }
}

function writePng(data: Uint8Array, width: number, height: number, options: PackerOptions): Buffer {
  // The sync writer only reads width, height and data; a full PNG stream object is not needed.
  const source = { width, height, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
  return PNG.sync.write(source as unknown as PNG, options);
}
