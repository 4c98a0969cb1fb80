/**
 * SLIC superpixels: Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods", TPAMI
 * 2012, with scikit-image's conventions (skimage.segmentation.slic, the segmentation LIME users know) so the
 * two agree: colours scaled to 0..1 over the whole image and taken to CIELAB (D65), seeds on skimage's regular
 * grid, k-means in (L, a, b, y, x) with distance ‖Δlab‖²/m² + ‖Δyx‖²/S² searched within 2S of each centre, the
 * first pass measuring colour from 0 as skimage does, then connectivity enforced (pieces smaller than half a
 * superpixel join the last neighbour seen, pieces grow to at most three superpixels). No npm package does
 * SLIC (the registry has none kept up), and this is short.
 */

import type { SegmentLabels } from '../../shared/vocabulary';

/** Labels 0 … count − 1, row-major, at the image's size. */
export type Segmentation = SegmentLabels;

export interface SlicOptions {
  /** About how many superpixels (skimage's n_segments). */
  segments: number;
  /** Colour against space: higher, squarer superpixels (skimage's compactness). */
  compactness: number;
  iterations?: number;
}

/** numpy's round: halves to even. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** skimage.util.regular_grid for a (1, height, width) volume: the start and step of the seeds along y and x. */
function regularGrid(height: number, width: number, points: number): { start: [number, number]; step: [number, number] } {
  const shape = [1, height, width];
  const order = [0, 1, 2].sort((a, b) => shape[a] - shape[b]);
  const sorted = order.map((i) => shape[i]);
  let space = height * width;
  if (space <= points) return { start: [0, 0], step: [1, 1] };
  const sizes = [0, 1, 2].map(() => (space / points) ** (1 / 3));
  if (sorted.some((d, i) => d < sizes[i])) {
    for (let dim = 0; dim < 3; dim++) {
      sizes[dim] = sorted[dim];
      space = sorted.slice(dim + 1).reduce((a, b) => a * b, 1);
      for (let rest = dim + 1; rest < 3; rest++) sizes[rest] = (space / points) ** (1 / (3 - dim - 1));
      if (sorted.every((d, i) => d >= sizes[i])) break;
    }
  }
  const bySorted = { start: sizes.map((s) => Math.floor(s / 2)), step: sizes.map(roundHalfEven) };
  const at = (axis: number) => order.indexOf(axis);
  return { start: [bySorted.start[at(1)], bySorted.start[at(2)]], step: [bySorted.step[at(1)], bySorted.step[at(2)]] };
}

/** CIELAB (D65, 2°) of RGB scaled to 0..1 over the whole image, as skimage's slic prepares it. */
function toLab(rgb: ArrayLike<number>, pixels: number, channels: number): Float64Array {
  let low = Infinity;
  let high = -Infinity;
  // Over the colour channels only (an alpha channel is not part of the image).
  const colours = Math.min(channels, 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < colours; c++) {
      low = Math.min(low, rgb[p * channels + c]);
      high = Math.max(high, rgb[p * channels + c]);
    }
  }
  const range = high - low || 1;
  const linear = (v: number) => {
    const s = (v - low) / range;
    return s > 0.04045 ? ((s + 0.055) / 1.055) ** 2.4 : s / 12.92;
  };
  const f = (t: number) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
  const lab = new Float64Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const [r, g, b] = channels >= 3 ? [0, 1, 2].map((c) => linear(rgb[p * channels + c])) : [0, 0, 0].map(() => linear(rgb[p * channels]));
    const x = f((0.412453 * r + 0.35758 * g + 0.180423 * b) / 0.95047);
    const y = f(0.212671 * r + 0.71516 * g + 0.072169 * b);
    const z = f((0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883);
    lab[p * 3] = 116 * y - 16;
    lab[p * 3 + 1] = 500 * (x - y);
    lab[p * 3 + 2] = 200 * (y - z);
  }
  return lab;
}

/** Superpixels of an image given as [height · width · channels] values (any range; 3 channels read as RGB). */
export function slic(pixels: ArrayLike<number>, width: number, height: number, channels: number, options: SlicOptions): Segmentation {
  const n = width * height;
  const lab = toLab(pixels, n, channels);
  const ratio = 1 / options.compactness;
  for (let i = 0; i < lab.length; i++) lab[i] *= ratio;

  const grid = regularGrid(height, width, options.segments);
  const centres: number[][] = [];
  for (let y = grid.start[0]; y < height; y += grid.step[0])
    for (let x = grid.start[1]; x < width; x += grid.step[1]) centres.push([y, x, 0, 0, 0]);
  const k = centres.length;
  // skimage takes the step from the grid once more, for the number of seeds it actually placed.
  const search = regularGrid(height, width, k).step;
  const step = Math.max(1, ...grid.step);
  const spatialWeight = 1 / (step * step);

  const labels = new Int32Array(n);
  const distance = new Float64Array(n);
  for (let iteration = 0; iteration < (options.iterations ?? 10); iteration++) {
    distance.fill(Infinity);
    let changed = false;
    centres.forEach(([cy, cx, cl, ca, cb], label) => {
      if (Number.isNaN(cy)) return; // emptied in the last pass: skimage's NaN centre never wins
      const [y0, y1] = [Math.trunc(Math.max(cy - 2 * search[0], 0)), Math.trunc(Math.min(cy + 2 * search[0] + 1, height))];
      const [x0, x1] = [Math.trunc(Math.max(cx - 2 * search[1], 0)), Math.trunc(Math.min(cx + 2 * search[1] + 1, width))];
      for (let y = y0; y < y1; y++) {
        const dy = (cy - y) * (cy - y);
        for (let x = x0; x < x1; x++) {
          const p = y * width + x;
          const [dl, da, db] = [lab[p * 3] - cl, lab[p * 3 + 1] - ca, lab[p * 3 + 2] - cb];
          const d = (dy + (cx - x) * (cx - x)) * spatialWeight + dl * dl + da * da + db * db;
          if (distance[p] > d) {
            distance[p] = d;
            labels[p] = label;
            changed = true;
          }
        }
      }
    });
    if (!changed) break;
    const sums = centres.map(() => [0, 0, 0, 0, 0, 0]);
    for (let p = 0; p < n; p++) {
      const s = sums[labels[p]];
      s[0] += Math.floor(p / width);
      s[1] += p % width;
      for (let c = 0; c < 3; c++) s[2 + c] += lab[p * 3 + c];
      s[5] += 1;
    }
    sums.forEach((s, label) => (centres[label] = s.slice(0, 5).map((v) => (s[5] ? v / s[5] : NaN))));
  }
  return connected(labels, width, height, Math.trunc((0.5 * n) / k), Math.trunc((3 * n) / k));
}

/**
 * skimage's _enforce_label_connectivity_cython: flood-fills each piece in raster order (4-neighbours: right,
 * left, down, up), up to `maxSize` pixels; a piece under `minSize` takes the label of the last labelled
 * neighbour it touched (or, with none, the next piece's).
 */
function connected(labels: Int32Array, width: number, height: number, minSize: number, maxSize: number): Segmentation {
  const out = new Int32Array(labels.length).fill(-1);
  const queue = new Int32Array(labels.length);
  const steps: [number, number][] = [
    [0, 1],
    [0, -1],
    [1, 0],
    [-1, 0],
  ];
  let next = 0;
  for (let start = 0; start < labels.length; start++) {
    if (out[start] >= 0) continue;
    const label = labels[start];
    let adjacent = next;
    out[start] = next;
    queue[0] = start;
    let size = 1;
    for (let visited = 0; visited < size && size < maxSize; visited++) {
      const [y, x] = [Math.floor(queue[visited] / width), queue[visited] % width];
      for (const [sy, sx] of steps) {
        const [yy, xx] = [y + sy, x + sx];
        if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
        const q = yy * width + xx;
        if (labels[q] === label && out[q] < 0) {
          out[q] = next;
          queue[size++] = q;
          if (size >= maxSize) break;
        } else if (out[q] >= 0 && out[q] !== next) {
          adjacent = out[q];
        }
      }
    }
    if (size < minSize) for (let i = 0; i < size; i++) out[queue[i]] = adjacent;
    else next++;
  }
  let count = 0;
  for (const label of out) count = Math.max(count, label + 1);
  return { width, height, count, labels: out };
}
