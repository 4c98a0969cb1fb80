/**
 * One pure-JS decoder per format, each returning 8-bit RGBA with the top row first. They throw
 * whatever their library throws; decode.ts turns that into an ImageError.
 */
import * as jpeg from 'jpeg-js';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import type { RgbaImage } from '../types';
import { damaged } from './errors';
import type { ImageInfo } from './probe';

/** pngjs expands every colour type and bit depth (16-bit is scaled down) to 8-bit RGBA. */
export function decodePng(bytes: Uint8Array): RgbaImage {
  const png = PNG.sync.read(asBuffer(bytes));
  return { width: png.width, height: png.height, data: asPlainBytes(png.data) };
}

/**
 * jpeg-js accounts roughly 22 bytes per pixel while decoding (coefficient blocks, planes, output),
 * so its memory cap is derived from the pixel cap: the pixel cap stays the one limit users meet.
 */
export function decodeJpeg(bytes: Uint8Array, maxPixels: number): RgbaImage {
  const decoded = jpeg.decode(bytes, {
    useTArray: true,
    formatAsRGBA: true,
    maxResolutionInMP: maxPixels / 1e6,
    maxMemoryUsageInMB: Math.ceil((maxPixels * 24) / 2 ** 20) + 64,
  });
  return { width: decoded.width, height: decoded.height, data: decoded.data };
}

/**
 * The first frame only, drawn onto the (possibly widened, see probe) logical screen. Pixels the
 * frame does not cover and its transparent index keep alpha 0.
 */
export function decodeGif(bytes: Uint8Array, info: ImageInfo, name?: string): RgbaImage {
  const reader = new GifReader(withScreenSize(bytes, info.width, info.height));
  if (reader.numFrames() === 0) throw damaged('GIF', name, 'it contains no image');
  const data = new Uint8Array(info.width * info.height * 4);
  reader.decodeAndBlitFrameRGBA(0, data);
  return { width: info.width, height: info.height, data };
}

/** omggif sizes its canvas from the header, so a first frame larger than the screen needs the header enlarged. */
function withScreenSize(bytes: Uint8Array, width: number, height: number): Uint8Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(6, true) === width && v.getUint16(8, true) === height) return bytes;
  const copy = bytes.slice();
  const w = new DataView(copy.buffer);
  w.setUint16(6, width, true);
  w.setUint16(8, height, true);
  return copy;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A plain Uint8Array owning its whole ArrayBuffer, so results look the same whichever library
 * produced them and can be transferred to a worker; a Buffer carved from Node's pool is copied.
 */
function asPlainBytes(buffer: Buffer): Uint8Array {
  const owned = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
  return owned ? new Uint8Array(buffer.buffer) : new Uint8Array(buffer);
}
