/**
 * Phone photos at the engine and image level: the working copy (WORKING_MAX_SIDE) gives the model what a
 * small copy of the photo gives it, the centre-crop policy lands the map on the right part of the image,
 * WebP/TIFF/AVIF decode to the PNG's pixels, damaged and oversized files are refused with a named reason,
 * EXIF orientation is applied (by sharp, or by the JS path itself), and a decode can be cancelled.
 *
 * Every photo is generated here with sharp (never committed). The suite runs with sharp and with
 * CNN_LENS_IMAGE_CODEC=js (sharpCodec() reads that once per process): cases that need sharp check
 * sharpCodec().sharp and, without it, assert the refusal that names the "sharp" package instead.
 */
import * as assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, ImageError, readImage, sharpCodec, WORKING_MAX_SIDE, type ImageErrorCode } from '../../src/engine/image';
import { inputWindow, regionOf } from '../../src/engine/preprocess';
import { mapOver } from '../../src/engine/render';
import { writeOverlayFiles } from '../../src/engine/photoFiles';
import * as bmpJs from 'bmp-js';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { DEFAULT_RESIZE, type Explanation, type Region, type ResizePolicy } from '../../src/engine/types';
import { fixture, requireFixtures } from './helpers/fixtures';
import { raw, upscaledRaw } from './helpers/photos';
import { saveModel, setWeights, tempDir } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

type Sharp = typeof import('sharp');

const LIMITS = DEFAULT_IMAGE_LIMITS;
const CODEC = sharpCodec().sharp ? 'sharp' : 'js';
const NEEDS_SHARP = /needs the optional "sharp" package/;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

async function expectImageError(promise: Promise<unknown>, codes: ImageErrorCode[], fileName: string): Promise<ImageError> {
  const error = await rejection(promise);
  assert.ok(error instanceof ImageError, `expected an ImageError, got ${String(error)}`);
  assert.ok(codes.includes(error.code), `code ${error.code} (expected ${codes.join(' or ')}): ${error.message}`);
  assert.ok(error.message.includes(`"${fileName}"`), `the message names the file: ${error.message}`);
  return error;
}

/** Without sharp, WebP/TIFF/AVIF are refused with a message that says what to install. */
async function expectNeedsSharp(file: string): Promise<void> {
  const error = await expectImageError(readImage(file, LIMITS), ['unsupported'], path.basename(file));
  assert.match(error.message, NEEDS_SHARP);
}

function meanAbsRgbDifference(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let total = 0;
  let count = 0;
  for (let i = 0; i < a.length; i += 4) {
    for (let c = 0; c < 3; c++) total += Math.abs(a[i + c] - b[i + c]);
    count += 3;
  }
  return total / count;
}

/** Byte offset of the first SOFn segment's length field (the frame header: P, Y, X follow). */
function jpegFrameOffset(bytes: Uint8Array): number {
  for (let p = 2; p + 4 < bytes.length;) {
    assert.equal(bytes[p], 0xff, `marker expected at ${p}`);
    const marker = bytes[p + 1];
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return p + 2;
    if (marker === 0xda) break;
    p += 2 + ((bytes[p + 2] << 8) | bytes[p + 3]);
  }
  assert.fail('no frame header');
}

function close(actual: number, expected: number, what: string, tolerance = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected}`);
}

function assertRegion(actual: Region, expected: Region, what: string): void {
  for (const key of ['x', 'y', 'width', 'height'] as const) close(actual[key], expected[key], `${what} region.${key}`);
}

describe(`photos through the image and engine layers (codec: ${CODEC})`, function () {
  let sharp: Sharp;
  let dir: string;
  /** 4032×3024 with grain, JPEG quality 90, and the same photo resized to 768 px. */
  let photo12: string;
  let photo768: string;

  before(async function () {
    requireFixtures(this);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sharp = require('sharp') as Sharp;
    dir = tempDir('cnnlens-photo-');
    const pixels = await upscaledRaw(sharp, 4032, 3024, 8);
    photo12 = path.join(dir, 'photo-12mp.jpg');
    writeFileSync(photo12, await sharp(pixels, raw(4032, 3024)).jpeg({ quality: 90 }).toBuffer());
    // The small copy is resized from the 12 MP file itself and kept lossless: a second JPEG generation at
    // 768 px moves MobileNet's top-1 probability by up to ~0.035 on its own (measured over seeds), which
    // would hide what this compares, the decode + working-copy path against a plain small copy.
    photo768 = path.join(dir, 'photo-768.png');
    writeFileSync(photo768, await sharp(photo12).resize(768, 576, { kernel: 'lanczos3' }).png().toBuffer());
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('the working copy', () => {
    let engine: Engine;
    before(async () => {
      engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    });
    after(() => engine?.dispose());

    it('a 12 MP photo and its 768 px copy give the same top-5 on MobileNet v1 0.75 (probabilities within 0.02)', async () => {
      const model = await engine.loadModel(fixture('models/mobilenet_v1_0.75_224_layers'));
      const start = tf.memory().numTensors;

      const big = await readImage(photo12, LIMITS, { maxSide: WORKING_MAX_SIDE });
      const small = await readImage(photo768, LIMITS, { maxSide: WORKING_MAX_SIDE });
      assert.equal(big.codec, CODEC);
      assert.deepEqual([big.width, big.height], [4032, 3024], 'the full size of the photo is reported');
      assert.deepEqual([big.image.width, big.image.height], [1536, 1152], 'decoded to the working size, aspect kept');
      assert.equal(big.image.data.length, 1536 * 1152 * 4);
      assert.deepEqual(
        [small.width, small.height, small.image.width, small.image.height],
        [768, 576, 768, 576],
        'a small photo is not enlarged',
      );

      const fromBig = await engine.explain(model, big.image, {});
      const fromSmall = await engine.explain(model, small.image, {});
      // Each class of either top-5, with its probability on the other copy (a class outside that copy's top-5 is read as its target).
      const probability = async (explanation: Explanation, image: typeof big.image, index: number) =>
        explanation.predictions.find((p) => p.index === index)?.score ??
        (await engine.explain(model, image, { classTarget: index, technique: 'cam' })).target.score;
      const classes = [...new Set([...fromBig.predictions, ...fromSmall.predictions].map((p) => p.index))];
      const rows: string[] = [];
      for (const index of classes) {
        const [p12, p768] = [await probability(fromBig, big.image, index), await probability(fromSmall, small.image, index)];
        rows.push(`${index}: ${p12.toFixed(4)} vs ${p768.toFixed(4)}`);
        assert.ok(Math.abs(p12 - p768) <= 0.02, `class ${index}: 12 MP ${p12.toFixed(4)}, 768 px ${p768.toFixed(4)} (${rows.join('; ')})`);
      }
      assert.equal(fromBig.target.index, fromSmall.target.index, `top-1 differs: ${fromBig.target.label} vs ${fromSmall.target.label}`);
      assert.deepEqual([fromBig.heatmap.width, fromBig.heatmap.height], [7, 7], 'the map stays at the layer resolution');
      assert.deepEqual(fromBig.region, { x: 0, y: 0, width: 1, height: 1 }, 'MobileNet stretches the whole photo');
      assert.equal(tf.memory().numTensors, start, 'no tensors left behind');
    });
  });

  describe('centre crop', () => {
    /**
     * Windows torchvision takes (Resize(S) then CenterCrop(C) on a PIL image), printed by torchvision 0.14.1:
     * the long side is int(S·long/short) (truncated), the offset int(round((full − C) / 2)) with Python's
     * round, which rounds halves to even (58.5 → 58, 115.5 → 116).
     */
    const TORCHVISION: {
      image: [number, number];
      input: number;
      shorterSide?: number;
      window: { fullWidth: number; fullHeight: number; x: number; y: number };
    }[] = [
      { image: [4032, 3024], input: 224, window: { fullWidth: 341, fullHeight: 256, x: 58, y: 16 } },
      { image: [3024, 4032], input: 224, window: { fullWidth: 256, fullHeight: 341, x: 16, y: 58 } },
      { image: [400, 300], input: 224, window: { fullWidth: 341, fullHeight: 256, x: 58, y: 16 } },
      { image: [1000, 600], input: 224, window: { fullWidth: 426, fullHeight: 256, x: 101, y: 16 } },
      { image: [1920, 1080], input: 224, window: { fullWidth: 455, fullHeight: 256, x: 116, y: 16 } },
      { image: [7000, 5000], input: 224, window: { fullWidth: 358, fullHeight: 256, x: 67, y: 16 } },
      // The Resize(32) + CenterCrop(28) window resample.test.ts compares with Pillow.
      { image: [97, 61], input: 28, shorterSide: 32, window: { fullWidth: 50, fullHeight: 32, x: 11, y: 2 } },
    ];

    it('regionOf: the 341×256 window at (58, 16) of a 4032×3024 photo as fractions; stretch is the whole photo', () => {
      assertRegion(
        regionOf({ fullWidth: 341, fullHeight: 256, x: 58, y: 16, width: 224, height: 224 }),
        { x: 58 / 341, y: 16 / 256, width: 224 / 341, height: 224 / 256 },
        '4032×3024',
      );
      const stretched = inputWindow(4032, 3024, [224, 224, 3], DEFAULT_RESIZE);
      assert.deepEqual(stretched, { fullWidth: 224, fullHeight: 224, x: 0, y: 0, width: 224, height: 224 });
      assert.deepEqual(regionOf(stretched), { x: 0, y: 0, width: 1, height: 1 });
    });

    it('inputWindow: a 4032×3024 photo and a 224 input, by hand (Resize(256) → 341×256, crop at x 58, y 16)', () => {
      // Shorter side 3024 → 256 (= round(224·256/224)); 4032·256/3024 = 341.33 → 341; (256 − 224)/2 = 16;
      // (341 − 224)/2 = 58.5 → 58: torchvision's int(round(58.5)) rounds the half to even.
      const window = inputWindow(4032, 3024, [224, 224, 3], { ...DEFAULT_RESIZE, mode: 'center-crop' });
      assert.deepEqual(window, { fullWidth: 341, fullHeight: 256, x: 58, y: 16, width: 224, height: 224 });
    });

    it('inputWindow matches torchvision Resize + CenterCrop on common photo shapes', () => {
      const wrong: string[] = [];
      for (const { image, input, shorterSide, window } of TORCHVISION) {
        const policy: ResizePolicy = { ...DEFAULT_RESIZE, mode: 'center-crop', ...(shorterSide ? { shorterSide } : {}) };
        const actual = inputWindow(image[0], image[1], [input, input, 3], policy);
        const expected = { ...window, width: input, height: input };
        if (JSON.stringify(actual) !== JSON.stringify(expected))
          wrong.push(`${image.join('×')} → ${JSON.stringify(actual)}, torchvision ${JSON.stringify(expected)}`);
      }
      assert.deepEqual(wrong, [], `windows that differ from torchvision's:\n  ${wrong.join('\n  ')}`);
    });

    describe('a tiny model whose map follows brightness, on a 400×300 image', () => {
      const WIDTH = 400;
      const HEIGHT = 300;
      /** The bright square, in image pixels: inside torchvision's centre crop (x 68–331, y 19–281), far from the image centre. */
      const SQUARE = { x: 90, y: 40, size: 30 };
      let engine: Engine;
      let cropDir: string;
      let stretchDir: string;
      const image = { width: WIDTH, height: HEIGHT, data: new Uint8Array(WIDTH * HEIGHT * 4) };

      before(async () => {
        for (let y = 0; y < HEIGHT; y++) {
          for (let x = 0; x < WIDTH; x++) {
            const inside = x >= SQUARE.x && x < SQUARE.x + SQUARE.size && y >= SQUARE.y && y < SQUARE.y + SQUARE.size;
            image.data.set(inside ? [255, 255, 255, 255] : [20, 20, 20, 255], (y * WIDTH + x) * 4);
          }
        }
        // conv 1×1 (weights 1, bias 0) + ReLU → GAP → dense with positive weights: Grad-CAM ∝ brightness.
        const model = tfl.sequential();
        model.add(tfl.layers.conv2d({ inputShape: [224, 224, 3], filters: 1, kernelSize: 1, activation: 'relu', name: 'bright' }));
        model.add(tfl.layers.globalAveragePooling2d({ name: 'gap' }));
        model.add(tfl.layers.dense({ units: 2, name: 'logits' }));
        setWeights(model.getLayer('bright'), [[1, 1, 1], [0]]);
        setWeights(model.getLayer('logits'), [
          [1, 0.5],
          [0, 0],
        ]);
        const root = tempDir('cnnlens-crop-');
        cropDir = path.join(root, 'crop');
        stretchDir = path.join(root, 'stretch');
        mkdirSync(cropDir);
        mkdirSync(stretchDir);
        await saveModel(model, cropDir, { resize: { mode: 'center-crop' }, preprocess: 'zero-one', labels: ['light', 'dim'] });
        await saveModel(model, stretchDir, { preprocess: 'zero-one', labels: ['light', 'dim'] });
        model.dispose();
        engine = await Engine.create({ backend: 'cpu', onnxRuntime: 'off', log: () => undefined });
      });
      after(() => {
        engine?.dispose();
        if (cropDir) rmSync(path.dirname(cropDir), { recursive: true, force: true });
      });

      /** The strongest pixel of the map laid over the whole image (first of a plateau). */
      function peak(explanation: Explanation): { x: number; y: number } {
        const over = mapOver(explanation.heatmap, explanation.region, WIDTH, HEIGHT);
        let best = 0;
        for (let i = 1; i < over.data.length; i++) if (over.data[i] > over.data[best]) best = i;
        return { x: best % WIDTH, y: Math.floor(best / WIDTH) };
      }

      function assertInSquare(point: { x: number; y: number }, what: string): void {
        const inside = point.x >= SQUARE.x && point.x < SQUARE.x + SQUARE.size && point.y >= SQUARE.y && point.y < SQUARE.y + SQUARE.size;
        assert.ok(
          inside,
          `${what}: the map's peak is at (${point.x}, ${point.y}), the bright square spans x ${SQUARE.x}–${SQUARE.x + SQUARE.size - 1}, y ${SQUARE.y}–${SQUARE.y + SQUARE.size - 1}`,
        );
      }

      it('centre crop: the peak of the map over the image lies in the bright square', async () => {
        const model = await engine.loadModel(cropDir);
        assert.equal(model.summary.preprocessing.resize?.mode, 'center-crop');
        const start = tf.memory().numTensors;
        const explanation = await engine.explain(model, image, { classTarget: 0 });
        assert.equal(explanation.layer, 'bright');
        assert.deepEqual(
          [explanation.heatmap.width, explanation.heatmap.height],
          [224, 224],
          'the map at the layer resolution, not the image',
        );
        assert.ok(explanation.region.width < 1 && explanation.region.x > 0, 'only the centre was seen');
        assertInSquare(peak(explanation), 'center-crop');
        // Laid over the whole image instead (as if the crop were forgotten) it would miss the square.
        const misplaced = peak({ ...explanation, region: { x: 0, y: 0, width: 1, height: 1 } });
        assert.ok(misplaced.x < SQUARE.x, `the test can tell: ignoring the region puts the peak at x ${misplaced.x}`);
        assert.equal(tf.memory().numTensors, start, 'no tensors left behind');
      });

      it("centre crop: explanation.region is torchvision's Resize(256) + CenterCrop(224) window, as fractions", async () => {
        const model = await engine.loadModel(cropDir);
        const start = tf.memory().numTensors;
        const explanation = await engine.explain(model, image, { classTarget: 0 });
        // 400×300 → 341×256, crop at x = int(round(58.5)) = 58, y = 16 (see TORCHVISION).
        assertRegion(explanation.region, { x: 58 / 341, y: 16 / 256, width: 224 / 341, height: 224 / 256 }, '400×300 centre crop');
        assert.equal(tf.memory().numTensors, start, 'no tensors left behind');
      });

      it('stretch (the default): the region is the whole image and the peak still lies in the square', async () => {
        const model = await engine.loadModel(stretchDir);
        assert.equal((model.summary.preprocessing.resize ?? DEFAULT_RESIZE).mode, 'stretch');
        const start = tf.memory().numTensors;
        const explanation = await engine.explain(model, image, { classTarget: 0 });
        assert.deepEqual(explanation.region, { x: 0, y: 0, width: 1, height: 1 });
        assertInSquare(peak(explanation), 'stretch');
        assert.equal(tf.memory().numTensors, start, 'no tensors left behind');
      });
    });
  });

  describe('formats', () => {
    /** A 640×480 photo (smooth: lossy codecs keep it close) as PNG, and its pixels as readImage gives them. */
    let png: string;
    let reference: Uint8Array;
    let pixels: Buffer;
    const W = 640;
    const H = 480;

    before(async () => {
      pixels = await upscaledRaw(sharp, W, H, 0);
      png = path.join(dir, 'reference.png');
      writeFileSync(png, await sharp(pixels, raw(W, H)).png().toBuffer());
      reference = (await readImage(png, LIMITS)).image.data;
    });

    const cases: { name: string; file: string; encode: (s: ReturnType<Sharp>) => ReturnType<Sharp>; maxMeanDifference: number }[] = [
      { name: 'lossless WebP', file: 'lossless.webp', encode: (s) => s.webp({ lossless: true }), maxMeanDifference: 0 },
      { name: 'WebP at quality 95', file: 'q95.webp', encode: (s) => s.webp({ quality: 95 }), maxMeanDifference: 3 },
      { name: 'TIFF (LZW)', file: 'image.tiff', encode: (s) => s.tiff({ compression: 'lzw' }), maxMeanDifference: 0 },
    ];
    for (const { name, file, encode, maxMeanDifference } of cases) {
      const expected =
        CODEC === 'sharp'
          ? `decodes to the PNG's pixels${maxMeanDifference ? ` (mean |difference| < ${maxMeanDifference})` : ' (identical)'}`
          : 'is refused, naming the "sharp" package';
      it(`${name} ${expected}`, async () => {
        const target = path.join(dir, file);
        writeFileSync(target, await encode(sharp(pixels, raw(W, H))).toBuffer());
        if (!sharpCodec().sharp) return expectNeedsSharp(target);
        const decoded = await readImage(target, LIMITS);
        assert.deepEqual([decoded.width, decoded.height, decoded.image.width, decoded.image.height], [W, H, W, H]);
        if (maxMeanDifference === 0) {
          assert.ok(
            Buffer.from(decoded.image.data).equals(Buffer.from(reference)),
            `${name}: pixels differ (mean ${meanAbsRgbDifference(decoded.image.data, reference).toFixed(3)})`,
          );
        } else {
          const difference = meanAbsRgbDifference(decoded.image.data, reference);
          assert.ok(difference > 0 && difference < maxMeanDifference, `${name}: mean |difference| ${difference.toFixed(3)}`);
        }
      });
    }

    it("BMP decodes to the PNG's pixels whatever the codec (sharp's libvips has no BMP reader: the JS decoder serves it)", async () => {
      const rgba = Buffer.from(reference);
      // bmp-js writes ABGR: its first byte per pixel is alpha.
      const abgr = Buffer.alloc(rgba.length);
      for (let p = 0; p < rgba.length; p += 4) abgr.set([255, rgba[p + 2], rgba[p + 1], rgba[p]], p);
      const target = path.join(dir, 'image.bmp');
      writeFileSync(target, bmpJs.encode({ width: W, height: H, data: abgr }).data);
      const decoded = await readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE });
      assert.equal(decoded.format, 'bmp');
      assert.equal(decoded.codec, 'js');
      assert.ok(
        Buffer.from(decoded.image.data).equals(rgba),
        `BMP pixels differ (mean ${meanAbsRgbDifference(decoded.image.data, reference).toFixed(3)})`,
      );
    });

    it("a transparent PNG gives an opaque overlay (the exports never inherit the photo's alpha)", async () => {
      const target = path.join(dir, 'transparent.png');
      writeFileSync(
        target,
        await sharp(Buffer.alloc(64 * 48 * 4, 0), raw(64, 48, 4))
          .png()
          .toBuffer(),
      );
      const out = path.join(dir, 'transparent.overlay.png');
      const layer = {
        heatmap: { width: 2, height: 2, data: Float32Array.from([0, 1, 0.5, 0.25]) },
        colour: null,
        region: { x: 0, y: 0, width: 1, height: 1 },
        signed: false,
        imageSize: { width: 64, height: 48 },
      };
      await writeOverlayFiles(target, LIMITS, layer, { overlayPath: out, colormap: 'jet', opacity: 0.5 });
      const written = await sharp(out).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([written.info.width, written.info.height], [64, 48]);
      for (let p = 3; p < written.data.length; p += 4) assert.equal(written.data[p], 255, 'opaque');
      assert.ok(
        written.data.some((v, i) => i % 4 !== 3 && v > 0),
        'the map is drawn',
      );
    });

    it(`AVIF (where sharp can write it here) ${CODEC === 'sharp' ? 'decodes close to the PNG' : 'is refused, naming the "sharp" package'}`, async function () {
      let bytes: Buffer;
      try {
        bytes = await sharp(pixels, raw(W, H)).avif({ quality: 90 }).toBuffer();
      } catch (error) {
        console.log(`    (skipped: sharp cannot write AVIF here: ${(error as Error).message})`);
        return this.skip();
      }
      const target = path.join(dir, 'image.avif');
      writeFileSync(target, bytes);
      if (!sharpCodec().sharp) return expectNeedsSharp(target);
      const decoded = await readImage(target, LIMITS);
      assert.deepEqual([decoded.width, decoded.height, decoded.format], [W, H, 'avif']);
      const difference = meanAbsRgbDifference(decoded.image.data, reference);
      assert.ok(difference < 4, `AVIF: mean |difference| ${difference.toFixed(3)}`);
    });

    it(`a WebP whose middle bytes are damaged is refused ${CODEC === 'sharp' ? 'as corrupt' : 'naming the "sharp" package'}, naming the file`, async () => {
      // WebP has no checksum and libwebp decodes many damaged streams to garbage without a word (random bytes
      // in a grainy lossless file, for one); 1 KB zeroed in the middle of this smooth lossless one it does notice.
      const bytes = await sharp(await upscaledRaw(sharp, 1024, 768, 0), raw(1024, 768))
        .webp({ lossless: true })
        .toBuffer();
      const middle = bytes.length >> 1;
      bytes.fill(0, middle - 512, middle + 512);
      const target = path.join(dir, 'damaged.webp');
      writeFileSync(target, bytes);
      if (!sharpCodec().sharp) return expectNeedsSharp(target);
      await expectImageError(readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE }), ['corrupt', 'truncated'], 'damaged.webp');
    });

    it('a PNG cut in half is refused as truncated whatever the codec, naming the file', async () => {
      const bytes = await sharp(pixels, raw(W, H)).png().toBuffer();
      const target = path.join(dir, 'half.png');
      writeFileSync(target, bytes.subarray(0, bytes.length >> 1));
      // The pure-JS path judges this from the file's structure (no IEND); sharp's path only from libvips' wording.
      const error = await expectImageError(readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE }), ['truncated'], 'half.png');
      assert.match(error.message, /PNG data ends early/);
    });

    it('a 12 MP JPEG cut in half is refused as truncated, naming the file', async () => {
      const bytes = readFileSync(photo12);
      const target = path.join(dir, 'half.jpg');
      writeFileSync(target, bytes.subarray(0, bytes.length >> 1));
      const error = await expectImageError(readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE }), ['truncated'], 'half.jpg');
      assert.match(error.message, /JPEG data ends early/);
    });
  });

  describe('headers claiming 60 MP are refused before decoding', () => {
    it('a JPEG whose frame header says 10000×6000', async () => {
      const bytes = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 100, b: 50 } } })
        .jpeg()
        .toBuffer();
      const frame = jpegFrameOffset(bytes);
      // Length (2), precision (1), then height and width, big-endian.
      bytes.writeUInt16BE(6000, frame + 3);
      bytes.writeUInt16BE(10000, frame + 5);
      const target = path.join(dir, 'claims-60mp.jpg');
      writeFileSync(target, bytes);
      // 'too-large', not 'truncated' or 'corrupt': the header was checked before any decoder saw the 64×48 data.
      const error = await expectImageError(readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE }), ['too-large'], 'claims-60mp.jpg');
      assert.match(error.message, /10000×6000 pixels \(60 MP\) is over the 40 MP limit/);
    });

    it('a PNG whose IHDR says 10000×6000', async () => {
      const bytes = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 100, b: 50 } } })
        .png()
        .toBuffer();
      assert.equal(bytes.toString('latin1', 12, 16), 'IHDR');
      bytes.writeUInt32BE(10000, 16);
      bytes.writeUInt32BE(6000, 20);
      const target = path.join(dir, 'claims-60mp.png');
      writeFileSync(target, bytes);
      const error = await expectImageError(readImage(target, LIMITS), ['too-large'], 'claims-60mp.png');
      assert.match(error.message, /10000×6000 pixels \(60 MP\) is over the 40 MP limit/);
    });
  });

  describe('orientation and size', () => {
    it('a JPEG with EXIF orientation 6 is decoded upright, and its upright full size is reported', async () => {
      // Stored landscape 2400×1600 with a red block in its stored top-left corner; orientation 6 = turn 90° clockwise to show.
      const W = 2400;
      const H = 1600;
      const data = Buffer.alloc(W * H * 3, 90);
      for (let y = 0; y < 300; y++) for (let x = 0; x < 300; x++) data.set([230, 20, 20], (y * W + x) * 3);
      const target = path.join(dir, 'portrait-exif6.jpg');
      writeFileSync(target, await sharp(data, raw(W, H)).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toBuffer());
      assert.equal((await sharp(target).metadata()).orientation, 6, 'the file carries orientation 6');

      const decoded = await readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE });
      const { image } = decoded;
      const redAt = (x: number, y: number) => {
        const p = (y * image.width + x) * 4;
        return image.data[p] > 180 && image.data[p + 1] < 80 && image.data[p + 2] < 80;
      };
      assert.deepEqual([decoded.width, decoded.height], [H, W], 'the full size is reported upright (portrait)');
      assert.deepEqual([image.width, image.height], [1024, 1536], 'the working copy is portrait');
      // Turned clockwise, the stored top-left corner is the top-right one.
      assert.ok(redAt(image.width - 10, 10), 'the red block is at the top right');
      assert.ok(!redAt(10, 10) && !redAt(10, image.height - 10) && !redAt(image.width - 10, image.height - 10), 'and nowhere else');
    });

    it('a near-square photo without EXIF orientation (3073×3072) reports its own size, not the transposed one', async () => {
      const target = path.join(dir, 'near-square.jpg');
      writeFileSync(
        target,
        await sharp({ create: { width: 3073, height: 3072, channels: 3, background: { r: 90, g: 120, b: 150 } } })
          .jpeg()
          .toBuffer(),
      );
      assert.equal((await sharp(target).metadata()).orientation, undefined, 'no orientation tag');
      const decoded = await readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE });
      // The working copy rounds to 1536×1536; the file is still 3073 wide and 3072 high.
      assert.equal(Math.max(decoded.image.width, decoded.image.height), 1536);
      assert.deepEqual(
        [decoded.width, decoded.height],
        [3073, 3072],
        `reported ${decoded.width}×${decoded.height} for a 3073×3072 file (working copy ${decoded.image.width}×${decoded.image.height})`,
      );
    });
  });

  describe('cancel', () => {
    it('a checkCancelled that throws stops readImage of a 7000×5000 JPEG (sharp: while libvips decodes); the file still reads afterwards', async () => {
      const target = path.join(dir, 'large-7000x5000.jpg');
      writeFileSync(
        target,
        await sharp({ create: { width: 7000, height: 5000, channels: 3, background: { r: 90, g: 120, b: 150 } } })
          .jpeg({ quality: 90 })
          .toBuffer(),
      );
      const stop = new Error('stop: cancelled by the test');
      let calls = 0;
      const checkCancelled = () => {
        calls++;
        // The first call comes after the file is read and before decoding; from the second on, cancel.
        if (calls >= 2) throw stop;
      };
      const error = await rejection(readImage(target, LIMITS, { checkCancelled }));
      assert.equal(error, stop, `rejects with the error checkCancelled threw, got ${String(error)}`);
      // sharp: the second call is the first 20 ms poll while libvips decodes (there is no call after it);
      // js: the check after the (uninterruptible) decode. Either way it stops asking once it has thrown.
      assert.equal(calls, 2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(calls, 2, 'polling stopped after the cancel');

      const again = await readImage(target, LIMITS, { maxSide: WORKING_MAX_SIDE });
      assert.deepEqual([again.width, again.height, again.image.width, again.image.height], [7000, 5000, 1536, 1097]);
      const p = (548 * 1536 + 768) * 4;
      assert.ok(Math.abs(again.image.data[p] - 90) <= 3 && Math.abs(again.image.data[p + 2] - 150) <= 3, 'the pixels are the photo');
    });
  });
});
