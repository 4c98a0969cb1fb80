/**
 * A small map (or colour view) sampled over its region of a larger picture: bilinear with half-pixel
 * centres, row by row, so no full-size float map is ever made. The webview's overlay and the engine's
 * full-size exports draw with the same sampling, which keeps the panel and the exported PNG identical.
 * Pure TS: the webview bundles it.
 */
import { lutIndex } from './colormaps';
import type { Heatmap, Region, RgbaImage, SegmentLabels } from './vocabulary';

/** How much of the image's brightness is kept where the model did not look (outside a centre crop). */
export const OUTSIDE_BRIGHTNESS = 0.35;

/** Per output pixel along one axis: the map cell it samples (bilinear, half-pixel centres), the next cell's weight, and whether it lies in the region. */
export interface AxisSamples {
  index: Int32Array;
  frac: Float32Array;
  /** Output pixels [first, end) lie inside the region. */
  first: number;
  end: number;
  /** For each output pixel, where its run of pixels sampling the same pair of cells ends (within [first, end)). */
  runEnd: Int32Array;
}

function axisSamples(mapLength: number, outLength: number, start: number, span: number): AxisSamples {
  const index = new Int32Array(outLength);
  const frac = new Float32Array(outLength);
  let first = outLength;
  let end = 0;
  for (let o = 0; o < outLength; o++) {
    const centre = o + 0.5;
    if (centre >= start && centre < start + span) {
      first = Math.min(first, o);
      end = o + 1;
    }
    const position = Math.min(Math.max(((centre - start) / span) * mapLength - 0.5, 0), mapLength - 1);
    const i = Math.min(Math.floor(position), Math.max(mapLength - 2, 0));
    index[o] = i;
    frac[o] = mapLength > 1 ? position - i : 0;
  }
  end = Math.max(end, first);
  const runEnd = new Int32Array(outLength);
  for (let o = end - 1, stop = end; o >= first; o--) {
    if (o + 1 < end && index[o + 1] !== index[o]) stop = o + 1;
    runEnd[o] = stop;
  }
  return { index, frac, first, end, runEnd };
}

/**
 * Calls `row(y, mapRows, xs)` for each output row inside the region, `mapRows[c]` being channel c of the
 * map interpolated vertically to that row (one map row's worth); `horizontal` then reads it at pixel x.
 */
export function sampleRows(
  data: ArrayLike<number>,
  mapWidth: number,
  mapHeight: number,
  channels: number,
  region: Region,
  width: number,
  height: number,
  row: (y: number, mapRows: Float32Array[], xs: AxisSamples) => void,
): void {
  const xs = axisSamples(mapWidth, width, region.x * width, region.width * width);
  const ys = axisSamples(mapHeight, height, region.y * height, region.height * height);
  // One spare cell, equal to the last, so a one-cell-wide map needs no special case.
  const mapRows = Array.from({ length: channels }, () => new Float32Array(mapWidth + 1));
  const next = mapHeight > 1 ? 1 : 0;
  for (let y = ys.first; y < ys.end; y++) {
    const r0 = ys.index[y] * mapWidth;
    const r1 = r0 + next * mapWidth;
    const f = ys.frac[y];
    for (let c = 0; c < channels; c++) {
      const mapRow = mapRows[c];
      for (let i = 0; i < mapWidth; i++) mapRow[i] = data[(r0 + i) * channels + c] * (1 - f) + data[(r1 + i) * channels + c] * f;
      mapRow[mapWidth] = mapRow[mapWidth - 1];
    }
    row(y, mapRows, xs);
  }
}

/** The row interpolated horizontally into `out` over [xs.first, xs.end): between two cell centres it is a straight line. */
export function horizontal(mapRow: Float32Array, xs: AxisSamples, out: Float32Array): Float32Array {
  for (let x = xs.first; x < xs.end;) {
    const i = xs.index[x];
    const m0 = mapRow[i];
    const slope = mapRow[i + 1] - m0;
    for (const stop = xs.runEnd[x]; x < stop; x++) out[x] = m0 + slope * xs.frac[x];
  }
  return out;
}

/** The map sampled at width × height over its region (bilinear); `outside` elsewhere. */
export function mapOver(map: Heatmap, region: Region, width: number, height: number, outside = 0): Heatmap {
  const data = new Float32Array(width * height).fill(outside);
  const values = new Float32Array(width);
  sampleRows(map.data, map.width, map.height, 1, region, width, height, (y, [mapRow], xs) => {
    data.set(horizontal(mapRow, xs, values).subarray(xs.first, xs.end), y * width + xs.first);
  });
  return { width, height, data };
}

/** The colour view as RGBA at width × height over its region; transparent outside. */
export function colourOver(colour: RgbaImage, region: Region, width: number, height: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  const values = Array.from({ length: 4 }, () => new Float32Array(width));
  sampleRows(colour.data, colour.width, colour.height, 4, region, width, height, (y, mapRows, xs) => {
    mapRows.forEach((mapRow, c) => horizontal(mapRow, xs, values[c]));
    for (let x = xs.first; x < xs.end; x++) for (let c = 0; c < 4; c++) data[(y * width + x) * 4 + c] = values[c][x];
  });
  return { width, height, data: new Uint8Array(data.buffer) };
}

/** round(v·255), clamped; 255 is the strongest evidence, NaN becomes 0. */
export function heatmapToBytes(map: Heatmap): Uint8Array {
  const bytes = new Uint8Array(map.data.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = lutIndex(map.data[i]);
  return bytes;
}

/** The superpixels' boundaries at their own size: 255 where a pixel's label differs from its right or lower neighbour's, else 0. */
export function segmentOutline({ width, height, labels }: SegmentLabels): Uint8Array {
  const outline = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if ((x + 1 < width && labels[p + 1] !== labels[p]) || (y + 1 < height && labels[p + width] !== labels[p])) outline[p] = 255;
    }
  }
  return outline;
}

/**
 * Lightens, in place, the pixels of `image` (packed, `channels` per pixel) on a boundary between superpixels,
 * the segmentation laid over `region`: a pixel is on one where the label `thickness` pixels to its right or
 * below differs (nearest sampling of the labels). As the panel draws them, towards white, so they show on
 * any colormap; lines a few pixels wide on a 12 MP photo.
 */
export function drawSegmentBoundaries(
  image: { width: number; height: number; channels: number; data: Uint8Array | Uint8ClampedArray },
  segments: SegmentLabels,
  region: Region,
  thickness = Math.max(1, Math.round(Math.max(image.width * region.width, image.height * region.height) / 600)),
): void {
  const { width, height, channels, data } = image;
  const [x0, y0] = [Math.round(region.x * width), Math.round(region.y * height)];
  const [x1, y1] = [
    Math.min(width, Math.round((region.x + region.width) * width)),
    Math.min(height, Math.round((region.y + region.height) * height)),
  ];
  const column = Int32Array.from({ length: x1 - x0 }, (_, i) => Math.min(segments.width - 1, Math.floor((i * segments.width) / (x1 - x0))));
  const rowOf = (y: number) => Math.min(segments.height - 1, Math.floor(((y - y0) * segments.height) / (y1 - y0))) * segments.width;
  for (let y = y0; y < y1; y++) {
    const here = rowOf(y);
    const below = rowOf(Math.min(y + thickness, y1 - 1));
    for (let x = x0; x < x1; x++) {
      const i = x - x0;
      const label = segments.labels[here + column[i]];
      const right = segments.labels[here + column[Math.min(i + thickness, x1 - x0 - 1)]];
      if (label === right && label === segments.labels[below + column[i]]) continue;
      const p = (y * width + x) * channels;
      for (let c = 0; c < 3; c++) data[p + c] = 0.35 * data[p + c] + 0.65 * 255 + 0.5;
    }
  }
}
