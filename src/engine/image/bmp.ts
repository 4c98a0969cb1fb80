/**
 * BMP headers and decoding. Pixels are decoded by bmp-js, but bmp-js (unmaintained since 2017)
 * assumes one file layout: a 40-byte info header, then the palette, then the pixels. It ignores
 * the pixel-data offset, so files with the larger V4/V5 headers (ImageMagick, GIMP) would come out
 * shifted, and it misreads bit-field pixels. So the file is first rewritten into exactly the
 * layout bmp-js reads correctly (bit fields unpacked to plain 32-bit here), and the rest refused.
 */
import * as bmpJs from 'bmp-js';
import type { RgbaImage } from '../types';
import { damaged, endsEarly, unsupported } from './errors';

const TITLE = 'BMP';
const FILE_HEADER = 14;
const CORE_HEADER = 12; // OS/2 1.x
const INFO_HEADER = 40;
const KNOWN_HEADER_SIZES = [CORE_HEADER, INFO_HEADER, 52, 56, 64, 108, 124];

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_JPEG = 4;
const BI_PNG = 5;
const BI_ALPHABITFIELDS = 6;

export interface BmpHeader {
  width: number;
  /** Always positive; `topDown` keeps the sign the file stored. */
  height: number;
  topDown: boolean;
  headerSize: number;
  bitsPerPixel: number;
  compression: number;
  dataOffset: number;
}

/** "BM" alone is too weak a signature (text can start with it), so the header size must be plausible too. */
export function looksLikeBmp(bytes: Uint8Array): boolean {
  if (bytes.length < 2 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) return false;
  return bytes.length < FILE_HEADER + 4 || KNOWN_HEADER_SIZES.includes(view(bytes).getUint32(FILE_HEADER, true));
}

export function readBmpHeader(bytes: Uint8Array, name?: string): BmpHeader {
  if (bytes.length < FILE_HEADER + 4) throw endsEarly(TITLE, name);
  const v = view(bytes);
  const headerSize = v.getUint32(FILE_HEADER, true);
  const dataOffset = v.getUint32(10, true);
  if (headerSize === CORE_HEADER) {
    if (bytes.length < FILE_HEADER + CORE_HEADER) throw endsEarly(TITLE, name);
    const [width, height] = [v.getUint16(18, true), v.getUint16(20, true)];
    if (width === 0 || height === 0) throw damaged(TITLE, name, `header says ${width}×${height} pixels`);
    return { width, height, topDown: false, headerSize, bitsPerPixel: v.getUint16(24, true), compression: BI_RGB, dataOffset };
  }
  if (bytes.length < FILE_HEADER + INFO_HEADER) throw endsEarly(TITLE, name);
  const width = v.getInt32(18, true);
  const signedHeight = v.getInt32(22, true);
  // A negative height is how BMP marks rows stored top row first.
  if (width <= 0 || signedHeight === 0) throw damaged(TITLE, name, `header says ${width}×${signedHeight} pixels`);
  return {
    width,
    height: Math.abs(signedHeight),
    topDown: signedHeight < 0,
    headerSize,
    bitsPerPixel: v.getUint16(28, true),
    compression: v.getUint32(30, true),
    dataOffset,
  };
}

export function decodeBmp(bytes: Uint8Array, header: BmpHeader, name?: string): RgbaImage {
  const { layout, hasAlpha } = toBmpJsLayout(bytes, header, name);
  const decoded = bmpJs.decode(layout);
  return { width: header.width, height: header.height, data: abgrToRgba(decoded.data, hasAlpha) };
}

/** The file rewritten as: 14-byte file header, 40-byte info header, a full palette (up to 8 bits), pixels. */
function toBmpJsLayout(bytes: Uint8Array, header: BmpHeader, name?: string): { layout: Buffer; hasAlpha: boolean } {
  const { width, height, bitsPerPixel: bpp, compression, headerSize } = header;
  const v = view(bytes);
  if (headerSize === CORE_HEADER) throw unsupported(name, 'an OS/2 1.x BMP');
  if (compression === BI_JPEG || compression === BI_PNG)
    throw unsupported(name, `a BMP holding ${compression === BI_JPEG ? 'JPEG' : 'PNG'} data`);

  const isRle = (compression === BI_RLE8 && bpp === 8) || (compression === BI_RLE4 && bpp === 4);
  const isPlain = compression === BI_RGB && [1, 4, 8, 16, 24, 32].includes(bpp);
  const isBitfields = (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) && (bpp === 16 || bpp === 32);
  if (!isRle && !isPlain && !isBitfields) throw unsupported(name, `a ${bpp}-bit BMP with compression type ${compression}`);

  // Every header version that has masks keeps them right after the first 40 bytes of the info header.
  const maskCount = headerSize >= 56 || compression === BI_ALPHABITFIELDS ? 4 : 3;
  if (isBitfields && bytes.length < FILE_HEADER + INFO_HEADER + maskCount * 4) throw endsEarly(TITLE, name);

  // bmp-js indexes the palette without a bounds check, so it always gets all 2^bpp entries.
  const paletteEntries = bpp <= 8 ? 1 << bpp : 0;
  const storedEntries = Math.min(v.getUint32(46, true) || paletteEntries, paletteEntries);
  const paletteStart = FILE_HEADER + headerSize;
  if (bytes.length < paletteStart + storedEntries * 4) throw endsEarly(TITLE, name);

  if (header.dataOffset >= bytes.length) throw endsEarly(TITLE, name);
  if (!isRle) {
    // The last row's padding is often left out; only missing pixels count as truncation.
    const needed = header.dataOffset + rowBytes(bpp, width) * (height - 1) + Math.ceil((bpp * width) / 8);
    if (bytes.length < needed) throw endsEarly(TITLE, name);
  }

  // 16-bit and bit-field pixels are unpacked here (bmp-js reads 32-bit bit fields in the wrong
  // channel order and scales 5-bit channels to 248 at most); bmp-js then reads plain 32-bit.
  let layoutBpp = bpp;
  let hasAlpha = bpp === 32;
  let pixels = bytes.subarray(header.dataOffset);
  if (isBitfields || bpp === 16) {
    const masks = isBitfields
      ? [0, 1, 2, 3].map((i) => (i < maskCount ? v.getUint32(FILE_HEADER + INFO_HEADER + i * 4, true) : 0))
      : [0x7c00, 0x3e0, 0x1f, 0]; // 16-bit without masks is 5-5-5
    pixels = unpackBitfields(bytes, header, masks);
    layoutBpp = 32;
    hasAlpha = masks[3] !== 0;
  }

  const pixelStart = FILE_HEADER + INFO_HEADER + paletteEntries * 4;
  const layout = Buffer.alloc(pixelStart + pixels.length);
  layout.write('BM', 0, 'latin1');
  layout.writeUInt32LE(layout.length, 2);
  layout.writeUInt32LE(pixelStart, 10);
  layout.writeUInt32LE(INFO_HEADER, 14);
  layout.writeInt32LE(width, 18);
  layout.writeInt32LE(header.topDown ? -height : height, 22);
  layout.writeUInt16LE(1, 26);
  layout.writeUInt16LE(layoutBpp, 28);
  layout.writeUInt32LE(isRle ? compression : BI_RGB, 30);
  // Colours-used stays 0, which tells bmp-js to read the full palette written below.
  layout.set(bytes.subarray(paletteStart, paletteStart + storedEntries * 4), FILE_HEADER + INFO_HEADER);
  layout.set(pixels, pixelStart);
  return { layout, hasAlpha };
}

/** 16-bit or bit-field pixels (any masks: R, G, B, A) as 32-bit B,G,R,A rows, rows in stored order. */
function unpackBitfields(bytes: Uint8Array, header: BmpHeader, masks: number[]): Uint8Array {
  const { width, height, bitsPerPixel: bpp, dataOffset } = header;
  const v = view(bytes);
  const stride = rowBytes(bpp, width);
  const channels = masks.map((mask) => {
    const shift = mask ? 31 - Math.clz32(mask & -mask) : 0; // position of the lowest set bit
    return { mask, shift, max: mask >>> shift };
  });
  const target = [2, 1, 0, 3]; // masks come as R, G, B, A; the output is B, G, R, A
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = dataOffset + y * stride + (x * bpp) / 8;
      const value = bpp === 16 ? v.getUint16(at, true) : v.getUint32(at, true);
      for (let c = 0; c < 4; c++) {
        const { mask, shift, max } = channels[c];
        out[(y * width + x) * 4 + target[c]] = mask ? Math.round((((value & mask) >>> shift) * 255) / max) : 0;
      }
    }
  }
  return out;
}

function rowBytes(bitsPerPixel: number, width: number): number {
  return Math.floor((bitsPerPixel * width + 31) / 32) * 4;
}

/**
 * bmp-js gives A,B,G,R. Its alpha is 0 for every format without one, and 32-bit files without
 * an alpha mask often leave the fourth byte 0 too: an all-zero alpha channel means "opaque".
 */
function abgrToRgba(abgr: Uint8Array, hasAlpha: boolean): Uint8Array {
  const rgba = new Uint8Array(abgr.length);
  let anyAlpha = false;
  for (let i = 0; i < abgr.length; i += 4) {
    rgba[i] = abgr[i + 3];
    rgba[i + 1] = abgr[i + 2];
    rgba[i + 2] = abgr[i + 1];
    rgba[i + 3] = abgr[i];
    if (abgr[i] !== 0) anyAlpha = true;
  }
  if (!hasAlpha || !anyAlpha) for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
  return rgba;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
