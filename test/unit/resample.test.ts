import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reduceToWorkingCopy } from '../../src/engine/image';
import { INTERPOLATIONS, type Interpolation, type OutputWindow, resampleRgba, resampleToRgb } from '../../src/engine/image/resample';
import { resizeRgba } from '../../src/engine/render/overlay';
import { tf } from '../../src/engine/tfjs/tf';
import type { RgbaImage } from '../../src/engine/types';

const PYTHON = '/usr/bin/python3';

/**
 * Gradients in R and G, a 4-px checkerboard in B (sharp edges, so bicubic overshoots and clamps),
 * a seeded random patch in all colour channels, and an alpha that varies everywhere (so a result
 * that let alpha leak into the colours would not match Pillow's RGB resize).
 */
function synthetic(width: number, height: number, seed: number, opaque = false): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  let state = seed;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      const inPatch = x >= width / 4 && x < width / 2 && y >= height / 3 && y < (2 * height) / 3;
      data[p] = inPatch ? random() : Math.round((255 * x) / (width - 1));
      data[p + 1] = inPatch ? random() : Math.round((255 * y) / (height - 1));
      data[p + 2] = inPatch ? random() : ((x >> 2) ^ (y >> 2)) & 1 ? 230 : 20;
      data[p + 3] = opaque ? 255 : (x * 7 + y * 13) % 256;
    }
  }
  return { width, height, data };
}

function constant(width: number, height: number, rgba: number[]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(rgba, i);
  return { width, height, data };
}

function rgbBytes(image: RgbaImage): Uint8Array {
  const out = new Uint8Array(image.width * image.height * 3);
  for (let i = 0, j = 0; j < out.length; i += 4, j += 3) out.set(image.data.subarray(i, i + 3), j);
  return out;
}

function whole(width: number, height: number): OutputWindow {
  return { fullWidth: width, fullHeight: height, x: 0, y: 0, width, height };
}

/** Rows [y, y+height) and columns [x, x+width) of an interleaved image `fullWidth` wide. */
function crop(
  values: ArrayLike<number>,
  fullWidth: number,
  channels: number,
  window: { x: number; y: number; width: number; height: number },
): number[] {
  const out: number[] = [];
  for (let y = window.y; y < window.y + window.height; y++) {
    const row = (y * fullWidth + window.x) * channels;
    for (let i = 0; i < window.width * channels; i++) out.push(values[row + i]);
  }
  return out;
}

function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): { max: number; at: number } {
  assert.equal(actual.length, expected.length, 'lengths differ');
  let max = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= max)) {
      max = d;
      at = i;
    }
  }
  return { max, at };
}

function meanAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < actual.length; i++) total += Math.abs(actual[i] - expected[i]);
  return total / actual.length;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  const { max, at } = maxAbsDifference(actual, expected);
  assert.ok(
    max <= tolerance,
    `${label}: max |difference| ${max} > ${tolerance} at value ${at} (got ${actual[at]}, expected ${expected[at]})`,
  );
}

const IMAGES = {
  a: synthetic(97, 61, 1),
  b: synthetic(13, 9, 2),
  c: synthetic(301, 203, 3),
  opaque: synthetic(97, 61, 4, true),
};
type ImageName = keyof typeof IMAGES;

/** A Pillow `resize` (and optionally a crop of it) to compare with. */
interface PillowCase {
  label: string;
  image: ImageName;
  window: OutputWindow;
}

const PILLOW_CASES: PillowCase[] = [
  { label: '97×61 → 30×17 (downscale by 3.23 and 3.59)', image: 'a', window: whole(30, 17) },
  { label: '13×9 → 40×31 (upscale)', image: 'b', window: whole(40, 31) },
  { label: '97×61 → 120×20 (up across, down vertically)', image: 'a', window: whole(120, 20) },
  // torchvision Resize(32) + CenterCrop(28): shorter side 61 → 32, so 97 → int(32·97/61) = 50.
  { label: '97×61 Resize(32) + CenterCrop(28)', image: 'a', window: { fullWidth: 50, fullHeight: 32, x: 11, y: 2, width: 28, height: 28 } },
  // Resize(64) + CenterCrop(56): 301×203 → 94×64, crop at (19, 4).
  {
    label: '301×203 Resize(64) + CenterCrop(56)',
    image: 'c',
    window: { fullWidth: 94, fullHeight: 64, x: 19, y: 4, width: 56, height: 56 },
  },
];

/**
 * Pillow rounds to bytes after each pass and we keep floats, so we differ by up to ½ from its final
 * rounding plus its intermediate rounding error (≤ ½) carried through the vertical filter, i.e.
 * ½ + ½·Σ|weights|. That is 1 for the non-negative filters, but bicubic's negative lobes make
 * Σ|weights| up to 1.25 (taps −1/16, 9/16, 9/16, −1/16 at upscaling's half-way points), so up to
 * 1.125 (1.04 is seen here). Nearest copies pixels: exact.
 */
const PILLOW_TOLERANCE: Record<PillowInterpolation, number> = { bilinear: 1, bicubic: 1.125, nearest: 0 };

/** `area` is exact area averaging (TF, OpenCV), which Pillow lacks (its BOX takes whole pixels): checked below against a direct integral. */
type PillowInterpolation = Exclude<Interpolation, 'area'>;
const PILLOW_INTERPOLATIONS: PillowInterpolation[] = ['bilinear', 'bicubic', 'nearest'];
const PILLOW_FILTERS: Record<PillowInterpolation, string> = { bilinear: 'BILINEAR', bicubic: 'BICUBIC', nearest: 'NEAREST' };

/** Reads raw RGB or RGBA files, resizes them with Pillow (no reducing_gap), crops, and writes the bytes back. */
const PILLOW_SCRIPT = `
import json, sys
from PIL import Image
filters = getattr(Image, 'Resampling', Image)
for job in json.loads(sys.argv[1]):
    with open(job['src'], 'rb') as f:
        image = Image.frombytes(job['mode'], (job['srcWidth'], job['srcHeight']), f.read())
    out = image.resize((job['width'], job['height']), getattr(filters, job['filter']), reducing_gap=None)
    if job.get('crop'):
        out = out.crop(tuple(job['crop']))
    with open(job['dst'], 'wb') as f:
        f.write(out.tobytes())
`;

interface PillowJob {
  src: string;
  mode: 'RGB' | 'RGBA';
  srcWidth: number;
  srcHeight: number;
  width: number;
  height: number;
  filter: string;
  crop?: [number, number, number, number];
  dst: string;
}

/** Why Pillow cannot be run here, or undefined when it can. */
function pillowMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing; it runs Pillow, the reference for resizing`;
  try {
    execFileSync(PYTHON, ['-c', 'import PIL.Image'], { stdio: 'ignore' });
  } catch {
    return 'Pillow (python3-pil) is not installed; it is the reference for resizing';
  }
  return undefined;
}

describe('resample', () => {
  describe('matches Pillow Image.resize', () => {
    let dir = '';
    const results = new Map<string, Uint8Array>();
    const key = (label: string, interpolation: string) => `${label} / ${interpolation}`;

    before(function () {
      const missing = pillowMissing();
      if (missing) {
        console.log(`      skipped: ${missing}`);
        this.skip();
      }
      dir = mkdtempSync(join(tmpdir(), 'cnn-lens-resample-'));
      const jobs: PillowJob[] = [];
      for (const [name, image] of Object.entries(IMAGES)) {
        writeFileSync(join(dir, `${name}.rgb`), rgbBytes(image));
        writeFileSync(join(dir, `${name}.rgba`), image.data);
      }
      PILLOW_CASES.forEach((c, i) => {
        for (const interpolation of PILLOW_INTERPOLATIONS) {
          const { fullWidth, fullHeight, x, y, width, height } = c.window;
          const dst = join(dir, `out-${i}-${interpolation}.rgb`);
          jobs.push({
            src: join(dir, `${c.image}.rgb`),
            mode: 'RGB',
            srcWidth: IMAGES[c.image].width,
            srcHeight: IMAGES[c.image].height,
            width: fullWidth,
            height: fullHeight,
            filter: PILLOW_FILTERS[interpolation],
            crop: [x, y, x + width, y + height],
            dst,
          });
        }
      });
      for (const interpolation of PILLOW_INTERPOLATIONS) {
        const dst = join(dir, `opaque-${interpolation}.rgba`);
        jobs.push({
          src: join(dir, 'opaque.rgba'),
          mode: 'RGBA',
          srcWidth: 97,
          srcHeight: 61,
          width: 30,
          height: 17,
          filter: PILLOW_FILTERS[interpolation],
          dst,
        });
      }
      execFileSync(PYTHON, ['-c', PILLOW_SCRIPT, JSON.stringify(jobs)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
      let j = 0;
      for (const c of PILLOW_CASES) {
        for (const interpolation of PILLOW_INTERPOLATIONS) results.set(key(c.label, interpolation), readFileSync(jobs[j++].dst));
      }
      for (const interpolation of PILLOW_INTERPOLATIONS) results.set(key('opaque rgba', interpolation), readFileSync(jobs[j++].dst));
    });

    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const c of PILLOW_CASES) {
      for (const interpolation of PILLOW_INTERPOLATIONS) {
        it(`${interpolation}: ${c.label}`, () => {
          const expected = results.get(key(c.label, interpolation))!;
          const actual = resampleToRgb(IMAGES[c.image], c.window, { interpolation, antialias: true });
          assert.equal(expected.length, c.window.width * c.window.height * 3);
          assertClose(actual, expected, PILLOW_TOLERANCE[interpolation], `${interpolation} ${c.label}`);
          assert.ok(meanAbsDifference(actual, expected) <= 0.4, 'no bias: rounding errors average about ¼');
        });
      }
    }

    for (const interpolation of PILLOW_INTERPOLATIONS) {
      it(`resampleRgba, ${interpolation}: opaque 97×61 → 30×17 as Pillow's RGBA resize`, () => {
        const expected = results.get(key('opaque rgba', interpolation))!;
        const actual = resampleRgba(IMAGES.opaque, 30, 17, { interpolation, antialias: true });
        assert.equal(actual.width, 30);
        assert.equal(actual.height, 17);
        assertClose(actual.data, expected, interpolation === 'nearest' ? 0 : 1, interpolation);
        assert.ok(
          meanAbsDifference(actual.data, expected) <= 0.1,
          'both round: they differ only where Pillow rounded its intermediate the other way',
        );
        assert.ok(
          actual.data.every((v, i) => i % 4 !== 3 || v === 255),
          'opaque stays opaque',
        );
      });
    }
  });

  describe('area is exact area averaging', () => {
    /** Each output pixel as a 2-D integral of the source over its span, computed directly (not separably). */
    function areaIntegral(image: RgbaImage, width: number, height: number): number[] {
      const sx = image.width / width;
      const sy = image.height / height;
      const out: number[] = [];
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const sums = [0, 0, 0];
          for (let j = Math.floor(y * sy); j < Math.min(image.height, (y + 1) * sy); j++) {
            const wy = Math.min(j + 1, (y + 1) * sy) - Math.max(j, y * sy);
            for (let i = Math.floor(x * sx); i < Math.min(image.width, (x + 1) * sx); i++) {
              const wx = Math.min(i + 1, (x + 1) * sx) - Math.max(i, x * sx);
              for (let c = 0; c < 3; c++) sums[c] += wx * wy * image.data[(j * image.width + i) * 4 + c];
            }
          }
          out.push(...sums.map((v) => v / (sx * sy)));
        }
      }
      return out;
    }

    for (const [name, width, height] of [
      ['a', 30, 17],
      ['c', 57, 38],
      ['b', 40, 31],
    ] as [ImageName, number, number][]) {
      it(`${IMAGES[name].width}×${IMAGES[name].height} → ${width}×${height} equals the direct integral`, () => {
        const actual = resampleToRgb(IMAGES[name], whole(width, height), { interpolation: 'area', antialias: true });
        assertClose(actual, areaIntegral(IMAGES[name], width, height), 1e-3, `${name} area`);
      });
    }
  });

  describe('antialias=false bilinear matches tf.image.resizeBilinear(halfPixelCenters)', () => {
    const cases: [ImageName, number, number][] = [
      ['a', 30, 17],
      ['b', 40, 31],
      ['a', 120, 20],
      ['c', 57, 38],
      ['c', 301, 203],
    ];
    for (const [name, width, height] of cases) {
      const image = IMAGES[name];
      it(`${image.width}×${image.height} → ${width}×${height}`, () => {
        const expected = tf.tidy(() => {
          const x = tf.tensor4d(Float32Array.from(rgbBytes(image)), [1, image.height, image.width, 3]);
          return tf.image.resizeBilinear(x, [height, width], false, true).dataSync();
        });
        const actual = resampleToRgb(image, whole(width, height), { interpolation: 'bilinear', antialias: false });
        assertClose(actual, expected, 1e-3, `${name} → ${width}×${height}`);
      });
    }
  });

  describe('known answers', () => {
    const rgba = [10, 200, 77, 33];
    const sizes: [number, number, number, number][] = [
      [97, 61, 30, 17],
      [13, 9, 40, 31],
      [301, 203, 7, 5],
    ];
    for (const interpolation of INTERPOLATIONS) {
      for (const antialias of [true, false]) {
        it(`a constant image stays constant (${interpolation}, antialias ${antialias})`, () => {
          for (const [w0, h0, w, h] of sizes) {
            const out = resampleToRgb(constant(w0, h0, rgba), whole(w, h), { interpolation, antialias });
            assert.equal(out.length, w * h * 3);
            const expected = Array.from({ length: w * h }, () => rgba.slice(0, 3)).flat();
            assertClose(out, expected, 1e-4, `${w0}×${h0} → ${w}×${h}`);
            const bytes = resampleRgba(constant(w0, h0, rgba), w, h, { interpolation, antialias });
            assert.deepEqual(Array.from(bytes.data), Array.from({ length: w * h }, () => rgba).flat());
          }
        });
      }
    }

    /** The means of the 2×2 blocks, RGB. */
    function blockMeans(image: RgbaImage): number[] {
      const out: number[] = [];
      for (let y = 0; y < image.height / 2; y++) {
        for (let x = 0; x < image.width / 2; x++) {
          for (let c = 0; c < 3; c++) {
            const at = (dx: number, dy: number) => image.data[((2 * y + dy) * image.width + 2 * x + dx) * 4 + c];
            out.push((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4);
          }
        }
      }
      return out;
    }

    for (const antialias of [true, false]) {
      it(`area downscale by exactly 2 gives the 2×2 means (antialias ${antialias})`, () => {
        const image = synthetic(24, 16, 9);
        const out = resampleToRgb(image, whole(12, 8), { interpolation: 'area', antialias });
        assert.deepEqual(Array.from(out), blockMeans(image));
      });
    }

    it('bilinear without antialias, halving, also gives the 2×2 means (two taps at ±½)', () => {
      const image = synthetic(24, 16, 10);
      const out = resampleToRgb(image, whole(12, 8), { interpolation: 'bilinear', antialias: false });
      assert.deepEqual(Array.from(out), blockMeans(image));
    });

    it('bilinear with antialias, halving, weighs 1/8, 3/8, 3/8, 1/8 (edges renormalised)', () => {
      // One row: out[o] = Σ triangle((j + ½ − (2o + 1)) / 2) · in[j], normalised.
      const values = [0, 40, 80, 160, 200, 240];
      const data = new Uint8Array(values.length * 4);
      values.forEach((v, i) => data.set([v, v, v, 255], i * 4));
      const out = resampleToRgb({ width: values.length, height: 1, data }, whole(3, 1), { interpolation: 'bilinear', antialias: true });
      const expected = [(3 * 0 + 3 * 40 + 1 * 80) / 7, (40 + 3 * 80 + 3 * 160 + 200) / 8, (160 + 3 * 200 + 3 * 240) / 7];
      assertClose(
        Array.from(out).filter((_, i) => i % 3 === 0),
        expected,
        1e-4,
        'one row',
      );
    });

    it('nearest upscale by exactly 2 repeats each pixel twice each way', () => {
      const image = synthetic(9, 7, 11);
      const out = resampleToRgb(image, whole(18, 14), { interpolation: 'nearest', antialias: true });
      const expected: number[] = [];
      for (let y = 0; y < 14; y++) {
        for (let x = 0; x < 18; x++) {
          const p = ((y >> 1) * 9 + (x >> 1)) * 4;
          expected.push(image.data[p], image.data[p + 1], image.data[p + 2]);
        }
      }
      assert.deepEqual(Array.from(out), expected);
    });

    it('nearest downscale picks the pixel at ⌊(o + ½)·scale⌋', () => {
      const image = synthetic(97, 61, 12);
      const out = resampleToRgb(image, whole(30, 17), { interpolation: 'nearest', antialias: true });
      const expected: number[] = [];
      for (let y = 0; y < 17; y++) {
        for (let x = 0; x < 30; x++) {
          const p = (Math.floor(((y + 0.5) * 61) / 17) * 97 + Math.floor(((x + 0.5) * 97) / 30)) * 4;
          expected.push(image.data[p], image.data[p + 1], image.data[p + 2]);
        }
      }
      assert.deepEqual(Array.from(out), expected);
    });

    for (const interpolation of INTERPOLATIONS) {
      for (const antialias of [true, false]) {
        it(`a window equals the same crop of the whole resize (${interpolation}, antialias ${antialias})`, () => {
          const image = IMAGES.c;
          const full = resampleToRgb(image, whole(94, 64), { interpolation, antialias });
          const windows = [
            { x: 19, y: 4, width: 56, height: 56 },
            { x: 0, y: 0, width: 1, height: 1 },
            { x: 93, y: 63, width: 1, height: 1 },
            { x: 10, y: 20, width: 40, height: 5 },
            { x: 0, y: 0, width: 94, height: 64 },
          ];
          for (const w of windows) {
            const part = resampleToRgb(image, { fullWidth: 94, fullHeight: 64, ...w }, { interpolation, antialias });
            assert.deepEqual(Array.from(part), crop(full, 94, 3, w), JSON.stringify(w));
          }
          // And upscaling.
          const up = resampleToRgb(IMAGES.b, whole(40, 31), { interpolation, antialias });
          const w = { x: 7, y: 3, width: 20, height: 25 };
          assert.deepEqual(
            Array.from(resampleToRgb(IMAGES.b, { fullWidth: 40, fullHeight: 31, ...w }, { interpolation, antialias })),
            crop(up, 40, 3, w),
          );
        });
      }
    }

    it('resampleRgba is resampleToRgb rounded, with alpha filtered like a colour', () => {
      const image = IMAGES.a;
      for (const interpolation of INTERPOLATIONS) {
        const options = { interpolation, antialias: true };
        const bytes = resampleRgba(image, 30, 17, options);
        const floats = resampleToRgb(image, whole(30, 17), options);
        const rgb = Array.from(bytes.data).filter((_, i) => i % 4 !== 3);
        assert.deepEqual(
          rgb,
          Array.from(floats, (v) => Math.round(v)),
          interpolation,
        );
        // Alpha alone: put it in the red channel of an opaque copy.
        const alphaAsRed = new Uint8Array(image.data.length);
        for (let i = 0; i < alphaAsRed.length; i += 4) alphaAsRed.set([image.data[i + 3], 0, 0, 255], i);
        const alpha = resampleToRgb({ ...image, data: alphaAsRed }, whole(30, 17), options);
        assert.deepEqual(
          Array.from(bytes.data).filter((_, i) => i % 4 === 3),
          Array.from(alpha, (v) => Math.round(v)).filter((_, i) => i % 3 === 0),
          `${interpolation} alpha`,
        );
      }
    });

    it('calls checkCancelled while it works and lets its error through', () => {
      const image = synthetic(40, 300, 13);
      let calls = 0;
      resampleToRgb(image, whole(10, 30), { interpolation: 'bilinear', antialias: true }, () => void calls++);
      assert.ok(calls >= 300 / 64, `checkCancelled called ${calls} times for 300 source rows`);
      const cancelled = new Error('cancelled');
      assert.throws(
        () =>
          resampleToRgb(image, whole(10, 30), { interpolation: 'bilinear', antialias: true }, () => {
            throw cancelled;
          }),
        (err) => err === cancelled,
      );
    });

    it('the RGBA resize (display and working copies) and the JS decoder’s reduction check it too', async () => {
      const image = synthetic(40, 300, 13);
      let calls = 0;
      const plain = resampleRgba(image, 10, 30, { interpolation: 'area', antialias: true });
      const checked = resampleRgba(image, 10, 30, { interpolation: 'area', antialias: true }, () => void calls++);
      assert.deepEqual(checked, plain, 'the same pixels');
      assert.ok(calls >= 300 / 64 + 1, `checkCancelled called ${calls} times for 300 source rows`);
      const cancelled = new Error('cancelled');
      const stop = () => {
        throw cancelled;
      };
      assert.throws(
        () => resizeRgba(image, 10, 30, stop),
        (err) => err === cancelled,
      );
      // A full-size image reduced to the working copy: checked as it is reduced (every 64 rows).
      const tall = { ...synthetic(8, 3000, 5), channels: 4 as const };
      let reductionCalls = 0;
      reduceToWorkingCopy(tall, () => void reductionCalls++);
      assert.ok(reductionCalls >= 3000 / 64, `the reduction checked ${reductionCalls} times`);
      assert.throws(
        () => reduceToWorkingCopy(tall, stop),
        (err) => err === cancelled,
      );
    });
  });

  describe('errors', () => {
    const image = synthetic(8, 6, 1);
    const options = { interpolation: 'bilinear', antialias: true } as const;
    const bad: [string, () => unknown][] = [
      ['zero width', () => resampleToRgb(image, whole(0, 4), options)],
      ['negative height', () => resampleToRgb(image, whole(4, -1), options)],
      ['fractional width', () => resampleToRgb(image, whole(2.5, 4), options)],
      ['NaN height', () => resampleToRgb(image, whole(4, NaN), options)],
      ['window past the right edge', () => resampleToRgb(image, { fullWidth: 4, fullHeight: 4, x: 2, y: 0, width: 3, height: 4 }, options)],
      ['window past the bottom', () => resampleToRgb(image, { fullWidth: 4, fullHeight: 4, x: 0, y: 4, width: 4, height: 1 }, options)],
      ['negative window x', () => resampleToRgb(image, { fullWidth: 4, fullHeight: 4, x: -1, y: 0, width: 2, height: 2 }, options)],
      ['empty window', () => resampleToRgb(image, { fullWidth: 4, fullHeight: 4, x: 0, y: 0, width: 0, height: 2 }, options)],
      ['fractional window y', () => resampleToRgb(image, { fullWidth: 4, fullHeight: 4, x: 0, y: 0.5, width: 2, height: 2 }, options)],
      ['empty source', () => resampleToRgb({ width: 0, height: 6, data: new Uint8Array(0) }, whole(4, 4), options)],
      ['short source data', () => resampleToRgb({ width: 8, height: 6, data: new Uint8Array(10) }, whole(4, 4), options)],
      ['resampleRgba to zero height', () => resampleRgba(image, 4, 0, options)],
      ['resampleRgba to a fractional width', () => resampleRgba(image, 1.5, 3, options)],
      ['unknown interpolation', () => resampleToRgb(image, whole(4, 4), { interpolation: 'lanczos' as Interpolation, antialias: true })],
    ];
    for (const [label, run] of bad) {
      it(`${label} throws RangeError`, () => {
        assert.throws(run, RangeError);
      });
    }
  });
});
