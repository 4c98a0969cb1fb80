/**
 * Heatmap-over-image drawing for full-size files (a small map laid over any copy of the image, in place)
 * and display-size copies, without tfjs. The bilinear sampling it shares with the webview's overlay is
 * src/shared/mapDrawing.ts.
 */
import { resampleRgba } from '../image/resample';
import { colormapLut, lutIndex } from '../../shared/colormaps';
import { horizontal, mapOver, OUTSIDE_BRIGHTNESS, sampleRows, type AxisSamples } from '../../shared/mapDrawing';
import {
  WHOLE_IMAGE,
  type ColormapName,
  type Concepts,
  type Heatmap,
  type PackedPixels,
  type Region,
  type RgbaImage,
  type SegmentLabels,
} from '../types';

// Their home is shared/; engine code (evaluate, metrics tests) keeps importing them from here.
export { colourOver, heatmapToBytes, mapOver, OUTSIDE_BRIGHTNESS } from '../../shared/mapDrawing';

/** What a result lays over the image: its normalised map (or colour view) at its own resolution, and where. */
export interface MapLayer {
  heatmap: Heatmap;
  colour: RgbaImage | null;
  region: Region;
  /** Deep Feature Factorization's concepts: photoFiles draws them into `colour`. */
  concepts?: Concepts;
  /** The superpixels a map was measured on (LIME, KernelSHAP, feature ablation): their boundaries are drawn over it. */
  segments?: SegmentLabels | null;
}

/**
 * Draws the overlay into the image's own pixels (RGB, or RGBA made opaque): the map through the
 * colormap (or the colour view) blended over the region, the rest of the image dimmed. Rows are drawn
 * straight from the small map, in place: a 12 MP export needs no second full-size buffer and no full-size
 * float map. `checkCancelled` is called every 64 rows (a 12 MP photo: a few ms apart).
 */
export function drawOverlay(
  image: PackedPixels,
  layer: MapLayer,
  colormap: ColormapName,
  opacity: number,
  checkCancelled?: () => void,
): PackedPixels {
  const { width, height, channels } = image;
  // Blends of bytes with weights summing to 1 stay within 0..255: adding ½ and truncating rounds them.
  const px = image.data;
  const a = opacity > 0 ? Math.min(opacity, 1) : 0;
  const b = 1 - a;
  const lutA = Float64Array.from(colormapLut(colormap), (v) => v * a);
  // The heatmap blend in 16.16 fixed point (integer multiplies in the 12 MP loop), rounding included.
  const bFixed = Math.round(b * 65536);
  const lutFixed = Int32Array.from(lutA, (v) => Math.round(v * 65536) + 32768);
  const { heatmap, colour, region } = layer;
  const dim = (from: number, to: number) => {
    for (let p = from; p < to; p += channels) {
      px[p] = px[p] * OUTSIDE_BRIGHTNESS + 0.5;
      px[p + 1] = px[p + 1] * OUTSIDE_BRIGHTNESS + 0.5;
      px[p + 2] = px[p + 2] * OUTSIDE_BRIGHTNESS + 0.5;
    }
  };
  const rowBytes = width * channels;
  // Rows above the region, then per row the pixels beside it, are dimmed as the drawing passes them.
  let drawnTo = 0;
  const [r, g, bl] = Array.from({ length: colour ? 3 : 0 }, () => new Float32Array(width));
  const draw = (y: number, mapRows: Float32Array[], xs: AxisSamples) => {
    if ((y & 63) === 0) checkCancelled?.();
    const row = y * rowBytes;
    dim(drawnTo, row + xs.first * channels);
    drawnTo = row + xs.end * channels;
    if (colour) {
      horizontal(mapRows[0], xs, r);
      horizontal(mapRows[1], xs, g);
      horizontal(mapRows[2], xs, bl);
      for (let x = xs.first, p = row + x * channels; x < xs.end; x++, p += channels) {
        px[p] = px[p] * b + r[x] * a + 0.5;
        px[p + 1] = px[p + 1] * b + g[x] * a + 0.5;
        px[p + 2] = px[p + 2] * b + bl[x] * a + 0.5;
      }
      return;
    }
    // The heatmap's 12 M pixels: interpolated and blended in one pass (no intermediate row).
    const mapRow = mapRows[0];
    for (let x = xs.first, p = row + x * channels; x < xs.end;) {
      const i = xs.index[x];
      const m0 = mapRow[i];
      const slope = mapRow[i + 1] - m0;
      for (const stop = xs.runEnd[x]; x < stop; x++, p += channels) {
        const value = m0 + slope * xs.frac[x];
        // lutIndex inline: NaN and ≤ 0 → 0, ≥ 1 → 255.
        const l = value > 0 ? (value >= 1 ? 765 : ((value * 255 + 0.5) | 0) * 3) : 0;
        px[p] = (px[p] * bFixed + lutFixed[l]) >> 16;
        px[p + 1] = (px[p + 1] * bFixed + lutFixed[l + 1]) >> 16;
        px[p + 2] = (px[p + 2] * bFixed + lutFixed[l + 2]) >> 16;
      }
    }
  };
  if (colour) sampleRows(colour.data, colour.width, colour.height, 4, region, width, height, draw);
  else sampleRows(heatmap.data, heatmap.width, heatmap.height, 1, region, width, height, draw);
  dim(drawnTo, height * rowBytes);
  // The overlay is opaque, whatever the photo's alpha (a transparent PNG must not give an invisible export).
  if (channels === 4) for (let p = 3; p < px.length; p += 4) px[p] = 255;
  return image;
}

/**
 * The map as 8-bit gray at width × height over its region, 0 outside (signed maps: 128 = zero, also
 * outside). Stretched so the strongest drawn pixel is 255 (signed: the largest magnitude reaches 0 or
 * 255): bilinear sampling rarely lands exactly on the peak cell's centre, and a mask file's users expect
 * its maximum at 255. Two passes over the rows; no full-size float map.
 */
export function heatmapBytesOver(map: Heatmap, region: Region, width: number, height: number, signed: boolean): Uint8Array {
  let low = Infinity;
  let high = -Infinity;
  const values = new Float32Array(width);
  sampleRows(map.data, map.width, map.height, 1, region, width, height, (_y, [mapRow], xs) => {
    horizontal(mapRow, xs, values);
    for (let x = xs.first; x < xs.end; x++) {
      if (values[x] < low) low = values[x];
      if (values[x] > high) high = values[x];
    }
  });
  const magnitude = Math.max(Math.abs(high - 0.5), Math.abs(low - 0.5));
  const stretch = signed
    ? (v: number) => 0.5 + (v - 0.5) * (magnitude > 1e-9 ? 0.5 / magnitude : 1)
    : (v: number) => (high - low > 1e-9 ? (v - low) / (high - low) : v);
  const bytes = new Uint8Array(width * height).fill(signed ? 128 : 0);
  sampleRows(map.data, map.width, map.height, 1, region, width, height, (y, [mapRow], xs) => {
    horizontal(mapRow, xs, values);
    for (let x = xs.first; x < xs.end; x++) bytes[y * width + x] = lutIndex(stretch(values[x]));
  });
  return bytes;
}

/**
 * out = (1 − α)·image + α·colormap(heat), opaque. Every pixel gets the same α whatever its heat
 * (the usual Grad-CAM look: cold areas take the colormap's low colour too). The image's own alpha
 * is ignored; transparent pixels show their stored colour.
 */
export function blendOverlay(image: RgbaImage, heat: Heatmap, colormap: ColormapName, opacity: number): RgbaImage {
  if (heat.width !== image.width || heat.height !== image.height) {
    throw new RangeError(`Heatmap ${heat.width}×${heat.height} does not match image ${image.width}×${image.height}`);
  }
  const lut = colormapLut(colormap);
  const a = opacity > 0 ? Math.min(opacity, 1) : 0;
  const b = 1 - a;
  const src = image.data;
  // Uint8ClampedArray rounds and clamps on assignment.
  const out = new Uint8ClampedArray(src.length);
  for (let i = 0, p = 0; i < heat.data.length; i++, p += 4) {
    const l = lutIndex(heat.data[i]) * 3;
    out[p] = src[p] * b + lut[l] * a;
    out[p + 1] = src[p + 1] * b + lut[l + 1] * a;
    out[p + 2] = src[p + 2] * b + lut[l + 2] * a;
    out[p + 3] = 255;
  }
  return { width: image.width, height: image.height, data: new Uint8Array(out.buffer) };
}

/**
 * Display copies: exact area average when shrinking (every source pixel counts, no aliasing), bilinear
 * when enlarging. Channels are averaged as stored, not premultiplied by alpha. `checkCancelled` is called
 * every 64 rows.
 */
export function resizeRgba(image: RgbaImage, width: number, height: number, checkCancelled?: () => void): RgbaImage {
  const shrinking = width < image.width || height < image.height;
  return resampleRgba(image, width, height, { interpolation: shrinking ? 'area' : 'bilinear', antialias: true }, checkCancelled);
}

/**
 * Bilinear with half-pixel centres: output pixel o samples source position (o + ½)·in/out − ½,
 * clamped at the edges. This is align_corners=false in PyTorch and TF2's tf.image.resize, i.e.
 * tfjs `tf.image.resizeBilinear(x, size, false, true)`; tfjs's default (halfPixelCenters=false)
 * instead samples o·in/out, which shifts the map up and left by half a source pixel.
 */
export function resizeHeatmap(map: Heatmap, width: number, height: number): Heatmap {
  return mapOver(map, WHOLE_IMAGE, width, height);
}
