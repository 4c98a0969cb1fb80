/**
 * Format and size from the first bytes of a file, without decoding pixels, so oversized images
 * are refused before a decoder allocates for them. The format comes from the content (magic
 * bytes), never from the file name: a JPEG saved as ".png" is still a JPEG.
 */
import { looksLikeBmp, readBmpHeader } from './bmp';
import { ImageError, damaged, endsEarly, fileLabel, unsupported } from './errors';

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'bmp' | 'webp' | 'tiff' | 'avif';

export interface ImageInfo {
  format: ImageFormat;
  /** 0 × 0 for AVIF, whose size sits deep in its box tree: sharp reads it (sharpHeader). */
  width: number;
  height: number;
}

export const FORMAT_TITLES: Record<ImageFormat, string> = {
  png: 'PNG',
  jpeg: 'JPEG',
  gif: 'GIF',
  bmp: 'BMP',
  webp: 'WebP',
  tiff: 'TIFF',
  avif: 'AVIF',
};

/** `name` only makes error messages name the file. */
export function probeImage(bytes: Uint8Array, name?: string): ImageInfo {
  if (bytes.length === 0) throw new ImageError('empty', `${fileLabel(name)} is empty (0 bytes)`);
  const format = sniffFormat(bytes);
  if (!format) throw notAnImage(bytes, name);
  const { width, height } = readSize[format](bytes, name);
  if (format === 'avif') return { format, width, height };
  if (width <= 0 || height <= 0) throw damaged(FORMAT_TITLES[format], name, `header says ${width}×${height} pixels`);
  return { format, width, height };
}

export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, ascii('GIF8'))) return 'gif';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes.subarray(8), ascii('WEBP'))) return 'webp';
  if (startsWith(bytes, ascii('II*\0')) || startsWith(bytes, ascii('MM\0*'))) return 'tiff';
  if (startsWith(bytes.subarray(4), ascii('ftyp')) && /^avi[fs]$/.test(String.fromCharCode(...bytes.subarray(8, 12)))) return 'avif';
  if (looksLikeBmp(bytes)) return 'bmp';
  return null;
}

const readSize: Record<ImageFormat, (bytes: Uint8Array, name?: string) => { width: number; height: number }> = {
  png: readPngSize,
  jpeg: (bytes, name) => readJpegFrame(bytes, name),
  gif: readGifSize,
  bmp: readBmpHeader,
  webp: readWebpSize,
  tiff: readTiffSize,
  avif: () => ({ width: 0, height: 0 }),
};

/** Classic TIFF: the first IFD's ImageWidth (256) and ImageLength (257) tags, SHORT or LONG. */
function readTiffSize(bytes: Uint8Array, name?: string): { width: number; height: number } {
  if (bytes.length < 8) throw endsEarly('TIFF', name);
  const v = view(bytes);
  const little = bytes[0] === 0x49;
  const ifd = v.getUint32(4, little);
  if (ifd + 2 > bytes.length) throw endsEarly('TIFF', name);
  const count = v.getUint16(ifd, little);
  const size = { width: 0, height: 0 };
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > bytes.length) throw endsEarly('TIFF', name);
    const tag = v.getUint16(entry, little);
    if (tag !== 256 && tag !== 257) continue;
    const value = v.getUint16(entry + 2, little) === 3 ? v.getUint16(entry + 8, little) : v.getUint32(entry + 8, little);
    size[tag === 256 ? 'width' : 'height'] = value;
  }
  return size;
}

function readPngSize(bytes: Uint8Array, name?: string): { width: number; height: number } {
  // Signature (8), IHDR length (4) and type (4), then width and height.
  if (bytes.length < 24) throw endsEarly('PNG', name);
  if (!startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) throw damaged('PNG', name, 'bad signature');
  if (!startsWith(bytes.subarray(12), ascii('IHDR'))) throw damaged('PNG', name, 'the IHDR header is not the first chunk');
  const v = view(bytes);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

export interface JpegFrame {
  width: number;
  height: number;
  /** The SOFn marker byte (0xC0 baseline, 0xC2 progressive, ...). */
  frameMarker: number;
  /** Where the first scan's entropy-coded data starts, or -1 when the file ends before it. */
  scanStart: number;
}

/** Walks the marker segments up to the frame header (SOFn), then on to the first scan (SOS). */
export function readJpegFrame(bytes: Uint8Array, name?: string): JpegFrame {
  const v = view(bytes);
  let frame: Omit<JpegFrame, 'scanStart'> | null = null;
  let p = 2;
  for (;;) {
    if (p + 1 >= bytes.length) {
      if (frame) return { ...frame, scanStart: -1 };
      throw endsEarly('JPEG', name);
    }
    if (bytes[p] !== 0xff) throw damaged('JPEG', name, `no marker at byte ${p}`);
    while (bytes[p] === 0xff && p + 1 < bytes.length) p++; // markers may be padded with 0xFF fill bytes
    const marker = bytes[p++];
    const standalone = marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7);
    if (standalone) continue;
    if (marker === 0xd9) throw damaged('JPEG', name, 'the image ends before its first scan');
    if (p + 2 > bytes.length) {
      if (frame) return { ...frame, scanStart: -1 };
      throw endsEarly('JPEG', name);
    }
    const length = v.getUint16(p);
    if (length < 2) throw damaged('JPEG', name, `bad segment length at byte ${p}`);
    if (isFrameHeader(marker) && !frame) {
      if (p + 7 > bytes.length) throw endsEarly('JPEG', name);
      const height = v.getUint16(p + 3);
      // Height 0 means "given later, after the first scan" (DNL), which no installed decoder handles.
      if (height === 0) throw unsupported(name, 'a JPEG whose height is only given after the image data (DNL)');
      frame = { width: v.getUint16(p + 5), height, frameMarker: marker };
    }
    if (marker === 0xda) {
      if (!frame) throw damaged('JPEG', name, 'image data comes before the frame header');
      return { ...frame, scanStart: p + length };
    }
    p += length;
  }
}

/**
 * The EXIF orientation (1–8) of a JPEG, from its APP1 "Exif" segment's first IFD (tag 0x0112); 1 when
 * absent or unreadable. Only the pure-JS path needs it: sharp applies orientation itself.
 */
export function readJpegOrientation(bytes: Uint8Array): number {
  const v = view(bytes);
  for (let p = 2; p + 4 <= bytes.length && bytes[p] === 0xff;) {
    const marker = bytes[p + 1];
    if (marker === 0xda || marker === 0xd9) break;
    const length = v.getUint16(p + 2);
    const body = p + 4;
    if (marker === 0xe1 && body + 14 <= bytes.length && String.fromCharCode(...bytes.subarray(body, body + 4)) === 'Exif') {
      const tiff = body + 6;
      const little = bytes[tiff] === 0x49;
      const ifd = tiff + v.getUint32(tiff + 4, little);
      if (ifd + 2 > bytes.length) return 1;
      const count = v.getUint16(ifd, little);
      for (let i = 0; i < count && ifd + 2 + i * 12 + 12 <= bytes.length; i++) {
        const entry = ifd + 2 + i * 12;
        if (v.getUint16(entry, little) === 0x0112) {
          const value = v.getUint16(entry + 8, little);
          return value >= 1 && value <= 8 ? value : 1;
        }
      }
      return 1;
    }
    p += 2 + length;
  }
  return 1;
}

/** SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
function isFrameHeader(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * The logical screen, widened to hold the first frame if that overflows it (browsers show such
 * files; the decoder blits the frame into a canvas this size).
 */
function readGifSize(bytes: Uint8Array, name?: string): { width: number; height: number } {
  if (bytes.length < 13) throw endsEarly('GIF', name);
  const v = view(bytes);
  const screen = { width: v.getUint16(6, true), height: v.getUint16(8, true) };
  const flags = bytes[10];
  let p = 13 + (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);
  for (;;) {
    if (p >= bytes.length) throw endsEarly('GIF', name);
    const block = bytes[p];
    if (block === 0x2c) {
      if (p + 9 > bytes.length) throw endsEarly('GIF', name);
      const [x, y, w, h] = [1, 3, 5, 7].map((offset) => v.getUint16(p + offset, true));
      return { width: Math.max(screen.width, x + w), height: Math.max(screen.height, y + h) };
    }
    if (block === 0x21) {
      p += 2; // introducer and label, then data sub-blocks until an empty one
      while (p < bytes.length && bytes[p] !== 0) p += bytes[p] + 1;
      p++;
      continue;
    }
    if (block === 0x3b) throw damaged('GIF', name, 'it contains no image');
    throw damaged('GIF', name, `unknown block 0x${block.toString(16)} at byte ${p}`);
  }
}

function readWebpSize(bytes: Uint8Array, name?: string): { width: number; height: number } {
  // RIFF header (12), then the first chunk's type (4) and size (4); its data starts at byte 20.
  if (bytes.length < 30) throw endsEarly('WebP', name);
  const v = view(bytes);
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunk === 'VP8 ') {
    // Lossy: a 3-byte frame tag, the start code 9D 01 2A, then 14-bit width and height.
    if (!startsWith(bytes.subarray(23), [0x9d, 0x01, 0x2a])) throw damaged('WebP', name, 'bad VP8 start code');
    return { width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    // Lossless: signature 0x2F, then width-1 and height-1 as 14-bit fields.
    if (bytes[20] !== 0x2f) throw damaged('WebP', name, 'bad VP8L signature');
    const bits = v.getUint32(21, true);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    // Extended: flags (4), then canvas width-1 and height-1 as 24-bit fields.
    const uint24 = (at: number) => bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
    return { width: uint24(24) + 1, height: uint24(27) + 1 };
  }
  throw damaged('WebP', name, `unknown chunk "${chunk}"`);
}

/** Names the formats people most often try (and we cannot read) instead of a bare "unknown". */
function notAnImage(bytes: Uint8Array, name?: string): ImageError {
  if (startsWith(bytes.subarray(4), ascii('ftyp'))) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (/^(heic|heix|hevc|mif1|msf1)$/.test(brand))
      return unsupported(name, "a HEIC/HEIF image (its HEVC codec is patent-encumbered and not in sharp's prebuilt libvips)");
  }
  const start = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return new ImageError(
    'unknown-format',
    `${fileLabel(name)} is not a readable image: its content is not PNG, JPEG, GIF, BMP, WebP, TIFF or AVIF (it starts with ${start})`,
  );
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

function ascii(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
