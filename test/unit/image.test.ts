import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import * as bmpJs from 'bmp-js';
import * as jpeg from 'jpeg-js';
import { GifWriter } from 'omggif';
import { PNG } from 'pngjs';
import { DEFAULT_IMAGE_LIMITS, ImageError, decodeImage, encodeGrayPng, encodePng, probeImage, readImageFile } from '../../src/engine/image';
import type { ImageErrorCode } from '../../src/engine/image';
import type { RgbaImage } from '../../src/engine/types';

const LIMITS = DEFAULT_IMAGE_LIMITS;

/** Smooth gradients (so JPEG stays close) that differ in every corner (so flips show). */
function gradient(width: number, height: number, alpha = () => 255): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      data.set([Math.round((255 * x) / (width - 1)), Math.round((255 * y) / (height - 1)), 128, alpha()], p);
    }
  }
  return { width, height, data };
}

function pixel(image: RgbaImage, x: number, y: number): number[] {
  const p = (y * image.width + x) * 4;
  return Array.from(image.data.subarray(p, p + 4));
}

function assertSameImage(actual: RgbaImage, expected: RgbaImage): void {
  assert.equal(actual.width, expected.width);
  assert.equal(actual.height, expected.height);
  assert.deepEqual(Array.from(actual.data), Array.from(expected.data));
}

function expectImageError(run: () => unknown, code: ImageErrorCode, fileName: string): ImageError {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ImageError, `expected ImageError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(`"${fileName}"`), `message should name the file: ${err.message}`);
    return err;
  }
  assert.fail(`expected ImageError ${code}`);
}

async function expectImageErrorAsync(promise: Promise<unknown>, code: ImageErrorCode, fileName: string): Promise<ImageError> {
  try {
    await promise;
  } catch (err) {
    return expectImageError(
      () => {
        throw err;
      },
      code,
      fileName,
    );
  }
  assert.fail(`expected ImageError ${code}`);
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const chunk = Buffer.alloc(body.length + 8);
  chunk.writeUInt32BE(data.length, 0);
  body.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(body), body.length + 4);
  return chunk;
}

/** A PNG written by hand, for headers no encoder would produce. */
function handmadePng(width: number, height: number, bitDepth: number, colorType: number, rows: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colorType, 0, 0, 0], 8);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', new Uint8Array(0))]);
}

interface BmpOptions {
  bpp: 8 | 24 | 32;
  topDown: boolean;
  headerSize: 40 | 124;
  bitfields?: boolean;
}

/** BMP writer covering layouts bmp-js's own encoder does not make (bottom-up, V5 header, masks, palette). */
function makeBmp(image: RgbaImage, { bpp, topDown, headerSize, bitfields = false }: BmpOptions): Buffer {
  const { width, height } = image;
  const rowBytes = Math.ceil((bpp * width) / 32) * 4;
  const masks = bitfields ? [0xff0000, 0xff00, 0xff, 0xff000000].slice(0, headerSize === 40 ? 3 : 4) : [];
  const extra = headerSize === 40 ? masks.length * 4 : 0;
  const palette = bpp === 8 ? 256 * 4 : 0;
  const offset = 14 + headerSize + extra + palette;
  const buf = Buffer.alloc(offset + rowBytes * height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(offset, 10);
  buf.writeUInt32LE(headerSize, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(topDown ? -height : height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(bpp, 28);
  buf.writeUInt32LE(bitfields ? 3 : 0, 30);
  masks.forEach((mask, i) => buf.writeUInt32LE(mask >>> 0, 54 + i * 4));
  for (let i = 0; i < palette / 4; i++) buf.set([i, i, i, 0], 14 + headerSize + i * 4);
  for (let y = 0; y < height; y++) {
    const row = offset + (topDown ? y : height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const [r, g, b, a] = pixel(image, x, y);
      if (bpp === 8) buf[row + x] = r;
      else buf.set(bpp === 32 ? [b, g, r, a] : [b, g, r], row + (x * bpp) / 8);
    }
  }
  return buf;
}

function makeGif(screen: [number, number], frame: [number, number, number, number], indices: number[], transparent?: number): Uint8Array {
  const buf = new Uint8Array(4096);
  const writer = new GifWriter(buf, screen[0], screen[1], { palette: [0xff0000, 0x00ff00, 0x0000ff, 0xffffff] });
  writer.addFrame(...frame, indices, transparent === undefined ? {} : { transparent });
  return buf.subarray(0, writer.end());
}

function webpHeader(chunk: 'VP8 ' | 'VP8L' | 'VP8X', width: number, height: number): Buffer {
  const buf = Buffer.alloc(40);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(buf.length - 8, 4);
  buf.write('WEBP', 8, 'latin1');
  buf.write(chunk, 12, 'latin1');
  buf.writeUInt32LE(buf.length - 20, 16);
  if (chunk === 'VP8 ') {
    buf.set([0x9d, 0x01, 0x2a], 23);
    buf.writeUInt16LE(width, 26);
    buf.writeUInt16LE(height, 28);
  } else if (chunk === 'VP8L') {
    buf[20] = 0x2f;
    buf.writeUInt32LE(((width - 1) | ((height - 1) << 14)) >>> 0, 21);
  } else {
    buf.writeUIntLE(width - 1, 24, 3);
    buf.writeUIntLE(height - 1, 27, 3);
  }
  return buf;
}

describe('image decoding', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cnnlens-image-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('round trips keep pixels and orientation', () => {
    it('PNG (pngjs), including alpha', () => {
      let i = 0;
      const image = gradient(13, 7, () => (i++ * 37) % 256);
      const decoded = decodeImage(encodePng(image), LIMITS, 'a.png');
      assertSameImage(decoded, image);
      assert.ok(!Buffer.isBuffer(decoded.data), 'data is a plain Uint8Array');
    });

    it('16-bit PNG is scaled to 8 bits', () => {
      // One row, filter 0, two RGB pixels: (65535, 0, 32896) and (0, 257, 65535).
      const rows = Uint8Array.from([0, 0xff, 0xff, 0, 0, 0x80, 0x80, 0, 0, 0x01, 0x01, 0xff, 0xff]);
      const decoded = decodeImage(handmadePng(2, 1, 16, 2, rows), LIMITS, 'deep.png');
      assert.deepEqual(Array.from(decoded.data), [255, 0, 128, 255, 0, 1, 255, 255]);
    });

    it('grayscale PNG export reads back', () => {
      const values = Uint8Array.from([0, 64, 128, 255, 10, 20]);
      const png = PNG.sync.read(encodeGrayPng(values, 3, 2));
      assert.equal(png.colorType, 0);
      assert.deepEqual(Array.from(png.data.filter((_, i) => i % 4 === 0)), Array.from(values));
    });

    it('JPEG (jpeg-js), within JPEG error', () => {
      const image = gradient(32, 24);
      const decoded = decodeImage(jpeg.encode(image, 95).data, LIMITS, 'a.jpg');
      assert.equal(decoded.width, 32);
      assert.equal(decoded.height, 24);
      let worst = 0;
      for (let i = 0; i < image.data.length; i++) worst = Math.max(worst, Math.abs(decoded.data[i] - image.data[i]));
      assert.ok(worst <= 12, `max channel error ${worst}`);
      assert.ok(pixel(decoded, 0, 0)[0] < 20 && pixel(decoded, 31, 0)[0] > 235, 'left stays left');
      assert.ok(pixel(decoded, 0, 0)[1] < 20 && pixel(decoded, 0, 23)[1] > 235, 'top stays top');
    });

    it('GIF first frame, transparent index → alpha 0', () => {
      const indices = [0, 1, 2, 3, 1, 2];
      const decoded = decodeImage(makeGif([3, 2], [0, 0, 3, 2], indices, 3), LIMITS, 'a.gif');
      assert.deepEqual(Array.from(decoded.data), [
        ...[255, 0, 0, 255],
        ...[0, 255, 0, 255],
        ...[0, 0, 255, 255],
        ...[0, 0, 0, 0],
        ...[0, 255, 0, 255],
        ...[0, 0, 255, 255],
      ]);
    });

    it('GIF frame smaller than the screen is placed at its offset; uncovered pixels are transparent', () => {
      const decoded = decodeImage(makeGif([3, 3], [1, 2, 2, 1], [0, 2]), LIMITS, 'offset.gif');
      assert.equal(decoded.width, 3);
      assert.deepEqual(pixel(decoded, 1, 2), [255, 0, 0, 255]);
      assert.deepEqual(pixel(decoded, 2, 2), [0, 0, 255, 255]);
      assert.deepEqual(pixel(decoded, 0, 0), [0, 0, 0, 0]);
    });

    it('GIF frame overflowing the screen widens the canvas', () => {
      const info = probeImage(makeGif([2, 2], [1, 1, 2, 2], [0, 1, 2, 0]));
      assert.deepEqual(info, { format: 'gif', width: 3, height: 3 });
      const decoded = decodeImage(makeGif([2, 2], [1, 1, 2, 2], [0, 1, 2, 0]), LIMITS, 'wide.gif');
      assert.deepEqual(pixel(decoded, 2, 1), [0, 255, 0, 255]);
      assert.deepEqual(pixel(decoded, 1, 2), [0, 0, 255, 255]);
    });

    it('BMP from bmp-js (24-bit, top-down): ABGR is converted to RGBA', () => {
      const image = gradient(5, 3);
      const abgr = new Uint8Array(image.data.length);
      for (let i = 0; i < abgr.length; i += 4) abgr.set([0, image.data[i + 2], image.data[i + 1], image.data[i]], i);
      const bmp = bmpJs.encode({ width: 5, height: 3, data: abgr }).data;
      assert.ok(bmp.readInt32LE(22) < 0, 'bmp-js writes top-down');
      assertSameImage(decodeImage(bmp, LIMITS, 'a.bmp'), image);
    });

    for (const topDown of [false, true]) {
      const order = topDown ? 'top-down' : 'bottom-up';
      it(`BMP 24-bit ${order}, odd width (row padding)`, () => {
        const image = gradient(5, 4);
        assertSameImage(decodeImage(makeBmp(image, { bpp: 24, topDown, headerSize: 40 }), LIMITS, 'b.bmp'), image);
      });

      it(`BMP 32-bit ${order}, V5 header with alpha mask`, () => {
        let i = 0;
        const image = gradient(4, 3, () => (i++ * 50) % 256);
        const bmp = makeBmp(image, { bpp: 32, topDown, headerSize: 124, bitfields: true });
        assertSameImage(decodeImage(bmp, LIMITS, 'c.bmp'), image);
      });
    }

    it('BMP 32-bit without alpha (fourth byte 0) is opaque', () => {
      const image = gradient(3, 2, () => 0);
      const decoded = decodeImage(makeBmp(image, { bpp: 32, topDown: false, headerSize: 40, bitfields: true }), LIMITS, 'd.bmp');
      assertSameImage(decoded, gradient(3, 2));
    });

    it('BMP 8-bit palette behind a V5 header', () => {
      const image = gradient(6, 3);
      for (let p = 0; p < image.data.length; p += 4) image.data.set([image.data[p], image.data[p], image.data[p]], p);
      assertSameImage(decodeImage(makeBmp(image, { bpp: 8, topDown: false, headerSize: 124 }), LIMITS, 'e.bmp'), image);
    });
  });

  describe('probing reads headers only', () => {
    it('reports format and size', () => {
      assert.deepEqual(probeImage(encodePng(gradient(9, 4))), { format: 'png', width: 9, height: 4 });
      assert.deepEqual(probeImage(jpeg.encode(gradient(9, 4), 80).data), { format: 'jpeg', width: 9, height: 4 });
      assert.deepEqual(probeImage(makeBmp(gradient(9, 4), { bpp: 24, topDown: true, headerSize: 40 })), {
        format: 'bmp',
        width: 9,
        height: 4,
      });
    });

    for (const chunk of ['VP8 ', 'VP8L', 'VP8X'] as const) {
      it(`WebP ${chunk.trim()} size is probed; the pure-JS decoders refuse it, naming sharp`, () => {
        const bytes = webpHeader(chunk, 640, 480);
        assert.deepEqual(probeImage(bytes), { format: 'webp', width: 640, height: 480 });
        const err = expectImageError(() => decodeImage(bytes, LIMITS, 'cat.webp'), 'unsupported', 'cat.webp');
        assert.match(err.message, /WebP image \(640×480\)/);
        assert.match(err.message, /needs the optional "sharp" package/);
      });
    }
  });

  describe('bad input is refused with a code and the file name', () => {
    it('empty file', () => {
      expectImageError(() => decodeImage(new Uint8Array(0), LIMITS, 'empty.png'), 'empty', 'empty.png');
    });

    it('random bytes', () => {
      let seed = 7;
      const bytes = Uint8Array.from({ length: 500 }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 16);
      bytes[0] = 0; // no accidental magic number
      expectImageError(() => decodeImage(bytes, LIMITS, 'noise.jpg'), 'unknown-format', 'noise.jpg');
    });

    it('a text file', () => {
      const err = expectImageError(
        () => decodeImage(Buffer.from('<!DOCTYPE html><html>'), LIMITS, 'page.png'),
        'unknown-format',
        'page.png',
      );
      assert.match(err.message, /3c 21 44 4f/);
    });

    it('truncated PNG', () => {
      const png = encodePng(gradient(40, 30));
      const err = expectImageError(
        () => decodeImage(png.subarray(0, Math.floor(png.length * 0.6)), LIMITS, 'cut.png'),
        'truncated',
        'cut.png',
      );
      assert.match(err.message, /PNG data ends early/);
    });

    it('PNG cut inside its header', () => {
      expectImageError(() => decodeImage(encodePng(gradient(4, 4)).subarray(0, 20), LIMITS, 'stub.png'), 'truncated', 'stub.png');
    });

    it('damaged PNG data', () => {
      const png = Buffer.from(encodePng(gradient(40, 30)));
      png.fill(0xaa, 50, 70); // inside the compressed pixel data
      expectImageError(() => decodeImage(png, LIMITS, 'bad.png'), 'corrupt', 'bad.png');
    });

    it('truncated JPEG', () => {
      const jpg = jpeg.encode(gradient(40, 30), 90).data;
      const err = expectImageError(
        () => decodeImage(jpg.subarray(0, Math.floor(jpg.length * 0.6)), LIMITS, 'cut.jpg'),
        'truncated',
        'cut.jpg',
      );
      assert.match(err.message, /JPEG data ends early/);
    });

    it('truncated GIF', () => {
      const gif = makeGif(
        [20, 20],
        [0, 0, 20, 20],
        Array.from({ length: 400 }, (_, i) => (i * 7) % 4),
      );
      expectImageError(() => decodeImage(gif.subarray(0, gif.length - 10), LIMITS, 'cut.gif'), 'truncated', 'cut.gif');
    });

    it('truncated BMP', () => {
      const bmp = makeBmp(gradient(20, 20), { bpp: 24, topDown: false, headerSize: 40 });
      expectImageError(() => decodeImage(bmp.subarray(0, 600), LIMITS, 'cut.bmp'), 'truncated', 'cut.bmp');
    });

    it('PNG whose header claims 30000×30000 is refused before decoding', () => {
      const bomb = handmadePng(30000, 30000, 8, 6, new Uint8Array(0));
      assert.ok(bomb.length < 100, `${bomb.length} bytes`);
      const err = expectImageError(() => decodeImage(bomb, LIMITS, 'bomb.png'), 'too-large', 'bomb.png');
      assert.match(err.message, /30000×30000/);
    });

    it('BMP whose header claims 100000×100000 is refused before decoding', () => {
      const bmp = makeBmp(gradient(2, 2), { bpp: 24, topDown: false, headerSize: 40 });
      bmp.writeInt32LE(100000, 18);
      bmp.writeInt32LE(100000, 22);
      expectImageError(() => decodeImage(bmp, LIMITS, 'huge.bmp'), 'too-large', 'huge.bmp');
    });

    it('the pixel cap is configurable', () => {
      expectImageError(() => decodeImage(encodePng(gradient(10, 10)), { ...LIMITS, maxPixels: 99 }, 'ten.png'), 'too-large', 'ten.png');
      assert.equal(decodeImage(encodePng(gradient(10, 10)), { ...LIMITS, maxPixels: 100 }, 'ten.png').width, 10);
    });

    it('a file over maxBytes is refused by its size', async () => {
      const path = join(dir, 'big.png');
      writeFileSync(path, encodePng(gradient(64, 64)));
      await expectImageErrorAsync(readImageFile(path, { ...LIMITS, maxBytes: 100 }), 'too-large', 'big.png');
    });

    it('a file over maxBytes is never read (200 MB sparse file refused at once)', async () => {
      const path = join(dir, 'sparse.png');
      writeFileSync(path, encodePng(gradient(4, 4)));
      truncateSync(path, 200 * 1024 * 1024);
      const err = await expectImageErrorAsync(readImageFile(path, LIMITS), 'too-large', 'sparse.png');
      assert.match(err.message, /200 MB is over the 100 MB limit/);
    });

    it('empty file on disk', async () => {
      const path = join(dir, 'nothing.jpg');
      writeFileSync(path, new Uint8Array(0));
      await expectImageErrorAsync(readImageFile(path, LIMITS), 'empty', 'nothing.jpg');
    });

    it('a JPEG named .png decodes (format comes from content)', async () => {
      const path = join(dir, 'photo.png');
      writeFileSync(path, jpeg.encode(gradient(16, 8), 90).data);
      const image = await readImageFile(path, LIMITS);
      assert.equal(image.width, 16);
      assert.equal(image.height, 8);
    });

    it('a truncated JPEG named .png says it is JPEG data', async () => {
      const path = join(dir, 'liar.png');
      const jpg = jpeg.encode(gradient(40, 30), 90).data;
      writeFileSync(path, jpg.subarray(0, jpg.length >> 1));
      const err = await expectImageErrorAsync(readImageFile(path, LIMITS), 'truncated', 'liar.png');
      assert.match(err.message, /JPEG/);
    });

    it('TIFF is named and sized from its header (the pure-JS decoders need sharp for it); HEIC is unsupported', () => {
      // Little-endian header, IFD at 8 with two entries: ImageWidth (SHORT) 300, ImageLength (LONG) 200.
      const tiff = Buffer.from([
        0x49, 0x49, 42, 0, 8, 0, 0, 0, 2, 0, 0, 1, 3, 0, 1, 0, 0, 0, 44, 1, 0, 0, 1, 1, 4, 0, 1, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0,
      ]);
      assert.deepEqual(probeImage(tiff), { format: 'tiff', width: 300, height: 200 });
      assert.match(
        expectImageError(() => decodeImage(tiff, LIMITS, 'scan.tif'), 'unsupported', 'scan.tif').message,
        /TIFF image \(300×200\).*sharp/,
      );
      assert.equal(
        expectImageError(() => probeImage(Buffer.from('II*\0\x08\0\0\0', 'latin1'), 'cut.tif'), 'truncated', 'cut.tif').code,
        'truncated',
      );
      const heic = Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1');
      assert.match(expectImageError(() => decodeImage(heic, LIMITS, 'IMG_1.HEIC'), 'unsupported', 'IMG_1.HEIC').message, /HEIC/);
    });
  });
});
