/**
 * Image resizing that matches Pillow's `Image.resize` (libImaging/Resample.c and, for nearest,
 * Geometry.c), which is what PIL / torchvision training pipelines feed their models; `area` is exact
 * area averaging, as TensorFlow's and OpenCV's.
 *
 * Separable convolution in two passes, horizontal then vertical as Pillow does (the intermediate is
 * clamped to 0..255 like Pillow's 8-bit intermediate, which matters only where bicubic overshoots).
 * Output pixel o of a resize from `in` to `out` pixels is centred on source position
 * (o + ½)·in/out; its taps are the source pixels whose centres lie within the filter's support,
 * weighted by the filter and normalised to sum to 1. When downscaling with antialiasing the filter
 * is stretched by the scale factor, so every source pixel contributes.
 *
 * Unlike Pillow we keep floats (no rounding to 8 bits between or after the passes), so results
 * differ from Pillow's by at most about one grey level.
 *
 * Pure TypeScript with no Node, tfjs or vscode imports: the webview bundles it too.
 */
import { INTERPOLATIONS, type Interpolation, type RgbaImage } from '../types';

export { INTERPOLATIONS, type Interpolation };

export interface ResampleOptions {
  interpolation: Interpolation;
  /**
   * Stretch the filter by the scale factor when downscaling (Pillow's behaviour). Without it the
   * support is never scaled: for bilinear and bicubic this is TensorFlow's
   * tf.image.resize(..., antialias=False) with half-pixel centres. 'area' averages exactly the
   * covered source pixels either way (an area filter that ignored most of the area would not be one),
   * and 'nearest' has no filter to stretch.
   */
  antialias: boolean;
}

/** A window of the resized image: the output is pixels [x, x+width) × [y, y+height) of `src` resized to fullWidth × fullHeight. */
export interface OutputWindow {
  fullWidth: number;
  fullHeight: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Resizes `src` to window.fullWidth × window.fullHeight and returns the window's pixels, computing
 * only those (the same numbers as resizing the whole image and then cropping).
 * Returns Float32Array of window.height*window.width*3 (RGB, 0..255, not rounded; alpha dropped).
 * `checkCancelled` is called every 64 source rows; whatever it throws propagates.
 */
export function resampleToRgb(src: RgbaImage, window: OutputWindow, options: ResampleOptions, checkCancelled?: () => void): Float32Array {
  return resample(src, window, options, 3, checkCancelled);
}

/**
 * Whole-image resize for display copies and working copies: rounded and clamped to bytes, alpha filtered
 * like the colour channels (not premultiplied). `checkCancelled` as for resampleToRgb (every 64 rows of
 * each pass).
 */
export function resampleRgba(
  src: RgbaImage,
  width: number,
  height: number,
  options: ResampleOptions,
  checkCancelled?: () => void,
): RgbaImage {
  const values = resample(src, { fullWidth: width, fullHeight: height, x: 0, y: 0, width, height }, options, 4, checkCancelled);
  checkCancelled?.();
  const data = new Uint8Array(values.length);
  // Values are already clamped to 0..255; round half up as Pillow's fixed point does.
  for (let i = 0; i < values.length; i++) data[i] = (values[i] + 0.5) | 0;
  return { width, height, data };
}

/** Output pixel i is Σ_k weights[i·stride + k] · source[start[i] + k] for k < count[i]. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  stride: number;
}

interface Filter {
  /** Half-width of the filter at scale 1, in source pixels. */
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<Exclude<Interpolation, 'nearest' | 'area'>, Filter> = {
  bilinear: {
    support: 1,
    weight: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  // Keys cubic convolution with a = -0.5 (Pillow's and TensorFlow's bicubic).
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = Math.abs(x);
      if (a < 1) return (1.5 * a - 2.5) * a * a + 1;
      if (a < 2) return -0.5 * (((a - 5) * a + 8) * a - 4);
      return 0;
    },
  },
};

function checkSize(value: number, what: string): void {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${what} must be a positive integer, got ${value}`);
}

function checkOffset(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
}

function validate(src: RgbaImage, window: OutputWindow, options: ResampleOptions): void {
  checkSize(src.width, 'source width');
  checkSize(src.height, 'source height');
  if (src.data.length < src.width * src.height * 4) {
    throw new RangeError(
      `source data has ${src.data.length} bytes; a ${src.width}×${src.height} RGBA image needs ${src.width * src.height * 4}`,
    );
  }
  checkSize(window.fullWidth, 'output width');
  checkSize(window.fullHeight, 'output height');
  checkOffset(window.x, 'window x');
  checkOffset(window.y, 'window y');
  checkSize(window.width, 'window width');
  checkSize(window.height, 'window height');
  if (window.x + window.width > window.fullWidth || window.y + window.height > window.fullHeight) {
    throw new RangeError(
      `window ${window.width}×${window.height} at (${window.x}, ${window.y}) lies outside the ${window.fullWidth}×${window.fullHeight} output`,
    );
  }
  if (!(INTERPOLATIONS as readonly string[]).includes(options.interpolation)) {
    throw new RangeError(`unknown interpolation "${String(options.interpolation)}"; expected one of ${INTERPOLATIONS.join(', ')}`);
  }
}

/** Taps of output pixels [first, first + count) of a resize from inSize to outSize pixels. */
function filterTaps(inSize: number, outSize: number, first: number, count: number, filter: Filter, stretch: boolean): Taps {
  const scale = inSize / outSize;
  const filterScale = stretch && scale > 1 ? scale : 1;
  const support = filter.support * filterScale;
  const inverse = 1 / filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(count);
  const counts = new Int32Array(count);
  const weights = new Float32Array(count * stride);
  const raw = new Float64Array(stride);
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    // Source pixel j's centre is j + ½; take those within the support (rounded as Pillow does).
    let lo = Math.max(0, Math.trunc(center - support + 0.5));
    let hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const w = filter.weight((j - center + 0.5) * inverse);
      raw[j - lo] = w;
      sum += w;
    }
    // Drop zero taps at either end (the support's edges): same sums, fewer reads.
    let skip = 0;
    while (lo + skip < hi && raw[skip] === 0) skip++;
    while (hi > lo + skip && raw[hi - 1 - lo] === 0) hi--;
    const n = hi - lo - skip;
    const norm = sum !== 0 ? 1 / sum : 1;
    for (let k = 0; k < n; k++) weights[i * stride + k] = raw[skip + k] * norm;
    lo += skip;
    start[i] = lo;
    counts[i] = n;
  }
  return { start, count: counts, weights, stride };
}

/**
 * Nearest neighbour as Pillow's ImagingScaleAffine: the source position starts at ½·scale and
 * advances by `scale` per output pixel (accumulated, so the floating-point rounding matches Pillow's
 * in the rare exact-tie cases); output o takes source pixel floor(position), i.e. ⌊(o + ½)·scale⌋.
 */
function nearestTaps(inSize: number, outSize: number, first: number, count: number): Taps {
  const scale = inSize / outSize;
  const start = new Int32Array(count);
  const counts = new Int32Array(count).fill(1);
  const weights = new Float32Array(count).fill(1);
  let position = scale * 0.5;
  for (let o = 0; o < first; o++) position += scale;
  for (let i = 0; i < count; i++) {
    start[i] = Math.min(inSize - 1, Math.max(0, Math.trunc(position)));
    position += scale;
  }
  return { start, count: counts, weights, stride: 1 };
}

/**
 * Area averaging as TensorFlow's `area` and OpenCV's INTER_AREA: output pixel o covers the source span
 * [o·s, (o+1)·s), s = in/out, and each source pixel weighs the part of it inside the span, fractions
 * included (Pillow's BOX instead takes whole pixels whose centres fall inside, which differs at
 * non-integer ratios). Enlarging, a span lies within one or two pixels: nearest, blended at the seams.
 */
function areaTaps(inSize: number, outSize: number, first: number, count: number): Taps {
  const scale = inSize / outSize;
  const stride = Math.ceil(scale) + 1;
  const start = new Int32Array(count);
  const counts = new Int32Array(count);
  const weights = new Float32Array(count * stride);
  for (let i = 0; i < count; i++) {
    const begin = (first + i) * scale;
    const end = Math.min(inSize, (first + i + 1) * scale);
    const lo = Math.floor(begin);
    let n = 0;
    for (let j = lo; j < end && n < stride; j++, n++) weights[i * stride + n] = (Math.min(j + 1, end) - Math.max(j, begin)) / scale;
    start[i] = lo;
    counts[i] = n;
  }
  return { start, count: counts, weights, stride };
}

function taps(inSize: number, outSize: number, first: number, count: number, options: ResampleOptions): Taps {
  if (options.interpolation === 'nearest') return nearestTaps(inSize, outSize, first, count);
  if (options.interpolation === 'area') return areaTaps(inSize, outSize, first, count);
  return filterTaps(inSize, outSize, first, count, FILTERS[options.interpolation], options.antialias);
}

function resample(
  src: RgbaImage,
  window: OutputWindow,
  options: ResampleOptions,
  channels: 3 | 4,
  checkCancelled?: () => void,
): Float32Array {
  validate(src, window, options);
  const outWidth = window.width;
  const outHeight = window.height;
  const across = taps(src.width, window.fullWidth, window.x, outWidth, options);
  const down = taps(src.height, window.fullHeight, window.y, outHeight, options);

  // The source rows the window's vertical taps read; the first pass filters only those.
  let rowFirst = src.height;
  let rowEnd = 0;
  for (let i = 0; i < outHeight; i++) {
    rowFirst = Math.min(rowFirst, down.start[i]);
    rowEnd = Math.max(rowEnd, down.start[i] + down.count[i]);
  }
  if (rowEnd <= rowFirst) rowEnd = rowFirst = 0;
  const rows = rowEnd - rowFirst;
  const used = new Uint8Array(rows);
  for (let i = 0; i < outHeight; i++) used.fill(1, down.start[i] - rowFirst, down.start[i] + down.count[i] - rowFirst);

  // First pass: horizontal, source rows → rows of the window's width.
  const rowLength = outWidth * channels;
  const middle = new Float32Array(rows * rowLength);
  const data = src.data;
  const sourceStride = src.width * 4;
  const aStart = across.start;
  const aCount = across.count;
  const aWeights = across.weights;
  const aStride = across.stride;
  for (let r = 0; r < rows; r++) {
    if (checkCancelled && (r & 63) === 0) checkCancelled();
    if (!used[r]) continue;
    const rowBase = (rowFirst + r) * sourceStride;
    let q = r * rowLength;
    for (let o = 0; o < outWidth; o++) {
      let p = rowBase + aStart[o] * 4;
      const n = aCount[o];
      let w0 = o * aStride;
      const wEnd = w0 + n;
      let c0 = 0;
      let c1 = 0;
      let c2 = 0;
      if (channels === 3) {
        for (; w0 < wEnd; w0++, p += 4) {
          const w = aWeights[w0];
          c0 += data[p] * w;
          c1 += data[p + 1] * w;
          c2 += data[p + 2] * w;
        }
      } else {
        let c3 = 0;
        for (; w0 < wEnd; w0++, p += 4) {
          const w = aWeights[w0];
          c0 += data[p] * w;
          c1 += data[p + 1] * w;
          c2 += data[p + 2] * w;
          c3 += data[p + 3] * w;
        }
        middle[q + 3] = c3 < 0 ? 0 : c3 > 255 ? 255 : c3;
      }
      middle[q] = c0 < 0 ? 0 : c0 > 255 ? 255 : c0;
      middle[q + 1] = c1 < 0 ? 0 : c1 > 255 ? 255 : c1;
      middle[q + 2] = c2 < 0 ? 0 : c2 > 255 ? 255 : c2;
      q += channels;
    }
  }

  // Second pass: vertical, a row of the output at a time.
  const out = new Float32Array(outHeight * rowLength);
  const sum = new Float64Array(rowLength);
  for (let o = 0; o < outHeight; o++) {
    if (checkCancelled && (o & 63) === 0) checkCancelled();
    sum.fill(0);
    const first = down.start[o] - rowFirst;
    const n = down.count[o];
    for (let k = 0; k < n; k++) {
      const w = down.weights[o * down.stride + k];
      const base = (first + k) * rowLength;
      for (let i = 0; i < rowLength; i++) sum[i] += middle[base + i] * w;
    }
    const q = o * rowLength;
    for (let i = 0; i < rowLength; i++) {
      const v = sum[i];
      out[q + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}
