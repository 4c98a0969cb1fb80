import * as assert from 'node:assert/strict';
import { blendOverlay, drawOverlay, heatmapBytesOver, resizeHeatmap, resizeRgba } from '../../src/engine/render';
import { colorize, colormapLut } from '../../src/shared/colormaps';
import { colourOver, heatmapToBytes, mapOver, OUTSIDE_BRIGHTNESS } from '../../src/shared/mapDrawing';
import { COLORMAP_NAMES, WHOLE_IMAGE, type ColormapName, type Heatmap, type RgbaImage } from '../../src/shared/vocabulary';

function entry(name: ColormapName, index: number): number[] {
  return Array.from(colormapLut(name).subarray(index * 3, index * 3 + 3));
}

function hex(color: string): number[] {
  return [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
}

function assertColor(actual: number[], expected: number[], tolerance = 2): void {
  const off = actual.some((v, i) => Math.abs(v - expected[i]) > tolerance);
  assert.ok(!off, `got rgb(${actual}), expected rgb(${expected}) ±${tolerance}`);
}

function heatmap(width: number, height: number, values: number[]): Heatmap {
  return { width, height, data: Float32Array.from(values) };
}

function randomImage(width: number, height: number): RgbaImage {
  let seed = 3;
  const data = Uint8Array.from({ length: width * height * 4 }, () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 23);
  return { width, height, data };
}

describe('colormaps', () => {
  // Index 128 is what value 0.5 maps to (round(0.5 · 255)), and matplotlib's cmap(0.5) too.
  const known: [ColormapName, number, string][] = [
    ['viridis', 0, '#440154'],
    ['viridis', 128, '#21918c'],
    ['viridis', 255, '#fde725'],
    ['inferno', 0, '#000004'],
    ['inferno', 128, '#bc3754'],
    ['inferno', 255, '#fcffa4'],
    ['turbo', 0, '#30123b'],
    ['turbo', 128, '#a4fc3c'],
    ['turbo', 255, '#7a0403'],
    ['jet', 0, '#000080'],
    ['jet', 128, '#7dff7a'],
    ['jet', 255, '#800000'],
    ['gray', 0, '#000000'],
    ['gray', 128, '#808080'],
    ['gray', 255, '#ffffff'],
  ];
  for (const [name, index, color] of known) {
    it(`${name}[${index}] ≈ ${color}`, () => assertColor(entry(name, index), hex(color)));
  }

  it('entries between stored samples match the full published tables within ±1', () => {
    const between: [ColormapName, number, string][] = [
      ['viridis', 1, '#440256'],
      ['viridis', 2, '#450457'],
      ['viridis', 130, '#20928c'],
      ['inferno', 2, '#010106'],
      ['inferno', 253, '#f9fc9d'],
      ['turbo', 3, '#341b51'],
    ];
    for (const [name, index, color] of between) assertColor(entry(name, index), hex(color), 1);
  });

  it('jet starts dark blue and ends dark red', () => {
    const [r0, g0, b0] = entry('jet', 0);
    assert.ok(b0 > 100 && b0 < 160 && r0 === 0 && g0 === 0);
    const [r1, g1, b1] = entry('jet', 255);
    assert.ok(r1 > 100 && r1 < 160 && g1 === 0 && b1 === 0);
  });

  for (const name of ['viridis', 'inferno', 'gray'] as const) {
    it(`${name} gets brighter along the whole table`, () => {
      let previous = -Infinity;
      for (let i = 0; i < 256; i++) {
        const [r, g, b] = entry(name, i);
        const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        assert.ok(luma >= previous - 0.5, `${name}: luminance drops at ${i}`);
        previous = luma;
      }
    });
  }

  it('every colormap has 256 RGB entries and is cached', () => {
    for (const name of COLORMAP_NAMES) {
      assert.equal(colormapLut(name).length, 768);
      assert.equal(colormapLut(name), colormapLut(name));
    }
  });

  it('colorize maps floats (0..1) and bytes (0..255) alike, opaque', () => {
    const fromFloats = colorize(heatmap(4, 1, [0, 0.5, 1, 2]), 'viridis');
    const fromBytes = colorize({ width: 4, height: 1, data: Uint8Array.from([0, 128, 255, 255]) }, 'viridis');
    assert.deepEqual(Array.from(fromFloats.data), Array.from(fromBytes.data));
    assert.deepEqual(Array.from(fromFloats.data.subarray(0, 4)), [...hex('#440154'), 255]);
  });
});

describe('overlay', () => {
  const image = randomImage(5, 3);
  const heat = heatmap(
    5,
    3,
    Array.from({ length: 15 }, (_, i) => i / 14),
  );

  it('opacity 0 returns the image', () => {
    const opaque = { ...image, data: image.data.map((v, i) => (i % 4 === 3 ? 255 : v)) };
    assert.deepEqual(Array.from(blendOverlay(opaque, heat, 'jet', 0).data), Array.from(opaque.data));
  });

  it('opacity 1 returns the colorized map', () => {
    for (const name of COLORMAP_NAMES) {
      assert.deepEqual(Array.from(blendOverlay(image, heat, name, 1).data), Array.from(colorize(heat, name).data));
    }
  });

  it('opacity between mixes linearly, output opaque', () => {
    const out = blendOverlay(image, heat, 'gray', 0.25);
    for (let i = 0; i < 15; i++) {
      const gray = Math.round(heat.data[i] * 255);
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(out.data[i * 4 + c] - (0.75 * image.data[i * 4 + c] + 0.25 * gray)) <= 0.5);
      assert.equal(out.data[i * 4 + 3], 255);
    }
  });

  it('refuses a heatmap of another size', () => {
    assert.throws(() => blendOverlay(image, heatmap(2, 2, [0, 0, 0, 0]), 'jet', 0.5), RangeError);
  });

  it('heatmapToBytes rounds, clamps and zeroes NaN', () => {
    assert.deepEqual(Array.from(heatmapToBytes(heatmap(7, 1, [0, 0.5, 1, 1.5, -1, NaN, 0.1]))), [0, 128, 255, 255, 0, 0, 26]);
  });
});

describe('resizing', () => {
  it('resizeHeatmap 2×2 → 4×4 matches hand-computed bilinear (half-pixel centres, edge clamp)', () => {
    // [[0, 1], [2, 3]] is the plane v = x + 2y. Output i samples source (i + ½)/2 − ½ = −¼, ¼, ¾, 1¼,
    // clamped to 0, ¼, ¾, 1; so out[y][x] = w[x] + 2·w[y] with w = [0, ¼, ¾, 1].
    const out = resizeHeatmap(heatmap(2, 2, [0, 1, 2, 3]), 4, 4);
    const w = [0, 0.25, 0.75, 1];
    const expected = w.flatMap((wy) => w.map((wx) => wx + 2 * wy));
    assert.equal(out.width, 4);
    assert.equal(out.height, 4);
    assert.deepEqual(Array.from(out.data), expected);
  });

  it('resizeHeatmap to the same size is the identity, and a constant stays constant', () => {
    const map = heatmap(3, 2, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
    assert.deepEqual(Array.from(resizeHeatmap(map, 3, 2).data), Array.from(map.data));
    for (const v of resizeHeatmap(heatmap(3, 3, Array(9).fill(0.7)), 7, 2).data) assert.ok(Math.abs(v - 0.7) < 1e-6);
  });

  it('resizeRgba downscale averages whole blocks', () => {
    // 4×2 → 2×1: each output pixel is the mean of a 2×2 block.
    const data = Uint8Array.from([
      ...[0, 0, 0, 255],
      ...[10, 20, 30, 255],
      ...[100, 100, 100, 255],
      ...[200, 200, 200, 255],
      ...[20, 40, 60, 255],
      ...[30, 60, 90, 255],
      ...[100, 100, 100, 255],
      ...[0, 0, 0, 255],
    ]);
    const out = resizeRgba({ width: 4, height: 2, data }, 2, 1);
    assert.deepEqual(Array.from(out.data), [15, 30, 45, 255, 100, 100, 100, 255]);
  });

  it('resizeRgba downscale by a non-integer factor weighs partial pixels', () => {
    // 3 → 2 columns: output 0 covers source [0, 1.5) = 1·p0 + ½·p1, normalised by 1.5.
    const data = Uint8Array.from([...[0, 0, 0, 255], ...[90, 90, 90, 255], ...[180, 180, 180, 255]]);
    assert.deepEqual(Array.from(resizeRgba({ width: 3, height: 1, data }, 2, 1).data), [30, 30, 30, 255, 150, 150, 150, 255]);
  });

  it('resizeRgba upscale is bilinear and keeps corners', () => {
    const data = Uint8Array.from([...[0, 0, 0, 255], ...[200, 100, 40, 255]]);
    const out = resizeRgba({ width: 2, height: 1, data }, 4, 2);
    // Columns sample source x = 0, ¼, ¾, 1 (clamped), the same in both rows.
    const row = [0, 0.25, 0.75, 1].flatMap((t) => [200 * t, 100 * t, 40 * t, 255].map(Math.round));
    assert.deepEqual(Array.from(out.data), [...row, ...row]);
  });
});

describe('drawing a small map over a photo (drawOverlay, heatmapBytesOver, colourOver)', () => {
  const photo = randomImage(61, 45);
  const map = heatmap(4, 3, [0, 0.2, 0.9, 1, 0.1, 0.5, 0.4, 0.3, 0.7, 0.05, 0.6, 0.8]);
  const rgb = (image: RgbaImage) => ({
    width: image.width,
    height: image.height,
    channels: 3 as const,
    data: Uint8Array.from(image.data.filter((_, i) => i % 4 !== 3)),
  });

  it('over the whole image it equals blending the map resized to the image (an independent path: float map, lutIndex, float blend)', () => {
    for (const opacity of [0, 0.35, 1]) {
      const drawn = drawOverlay(rgb(photo), { heatmap: map, colour: null, region: WHOLE_IMAGE }, 'turbo', opacity);
      const expected = blendOverlay(photo, resizeHeatmap(map, photo.width, photo.height), 'turbo', opacity);
      for (let i = 0, p = 0; i < photo.width * photo.height; i++, p += 3) {
        for (let c = 0; c < 3; c++)
          assert.ok(Math.abs(drawn.data[p + c] - expected.data[i * 4 + c]) <= 1, `pixel ${i} channel ${c} at opacity ${opacity}`);
      }
    }
  });

  it('a centre-crop region: the map is laid on the region only, the rest is dimmed; RGBA comes out opaque', () => {
    const region = { x: 0.2, y: 0.1, width: 0.6, height: 0.75 };
    const drawn = drawOverlay({ ...photo, channels: 4, data: photo.data.slice() }, { heatmap: map, colour: null, region }, 'jet', 0.5);
    const inside = mapOver(map, region, photo.width, photo.height, Number.NaN);
    const lut = colormapLut('jet');
    let insideCount = 0;
    for (let i = 0; i < photo.width * photo.height; i++) {
      const p = i * 4;
      const v = inside.data[i];
      const x = i % photo.width;
      const y = Math.floor(i / photo.width);
      const centreInside = x + 0.5 >= 0.2 * 61 && x + 0.5 < 0.8 * 61 && y + 0.5 >= 0.1 * 45 && y + 0.5 < 0.85 * 45;
      assert.equal(!Number.isNaN(v), centreInside, `pixel (${x}, ${y}) inside the region exactly when its centre is`);
      for (let c = 0; c < 3; c++) {
        const expected = Number.isNaN(v)
          ? photo.data[p + c] * OUTSIDE_BRIGHTNESS
          : 0.5 * photo.data[p + c] + 0.5 * lut[Math.round(Math.min(1, Math.max(0, v)) * 255) * 3 + c];
        assert.ok(Math.abs(drawn.data[p + c] - expected) <= 1, `pixel (${x}, ${y}) channel ${c}: ${drawn.data[p + c]} vs ${expected}`);
      }
      assert.equal(drawn.data[p + 3], 255, "opaque, whatever the photo's alpha");
      if (!Number.isNaN(v)) insideCount++;
    }
    assert.ok(insideCount > 0.4 * 61 * 45 && insideCount < 0.5 * 61 * 45);
  });

  it('the colour view is blended as an image over its region', () => {
    const colour = randomImage(5, 4);
    const drawn = drawOverlay(rgb(photo), { heatmap: map, colour, region: WHOLE_IMAGE }, 'jet', 0.25);
    const top = colourOver(colour, WHOLE_IMAGE, photo.width, photo.height);
    for (let i = 0; i < photo.width * photo.height; i++) {
      for (let c = 0; c < 3; c++)
        assert.ok(Math.abs(drawn.data[i * 3 + c] - (0.75 * photo.data[i * 4 + c] + 0.25 * top.data[i * 4 + c])) <= 1);
    }
  });

  it('heatmapBytesOver: the strongest drawn pixel is 255, 0 outside the region; signed maps keep 128 as zero', () => {
    const region = { x: 0, y: 0.25, width: 1, height: 0.5 };
    const bytes = heatmapBytesOver(map, region, 40, 20, false);
    assert.equal(Math.max(...bytes), 255);
    assert.equal(bytes[0], 0, 'outside the region');
    const signed = heatmapBytesOver(heatmap(2, 1, [0.25, 0.5]), WHOLE_IMAGE, 8, 1, true);
    assert.equal(Math.min(...signed), 0, 'the largest magnitude (against) reaches 0');
    assert.equal(signed[7], 128, 'zero stays at 128');
  });
});
