/**
 * Heatmap-over-image blending and the resizing that builds display-size copies without tfjs.
 * Pure TS: the webview bundle imports this too, so no Node APIs here.
 */
import type { ColormapName, Heatmap, RgbaImage } from '../types';
import { colormapLut, lutIndex } from './colormaps';

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

/** out = (1 − α)·image + α·top, opaque: colour-gradient views over the photo they explain. */
export function blendImages(image: RgbaImage, top: RgbaImage, opacity: number): RgbaImage {
  if (top.width !== image.width || top.height !== image.height) {
    throw new RangeError(`Image ${top.width}×${top.height} does not match image ${image.width}×${image.height}`);
  }
  const a = opacity > 0 ? Math.min(opacity, 1) : 0;
  const out = new Uint8ClampedArray(image.data.length);
  for (let p = 0; p < out.length; p += 4) {
    for (let c = 0; c < 3; c++) out[p + c] = image.data[p + c] * (1 - a) + top.data[p + c] * a;
    out[p + 3] = 255;
  }
  return { width: image.width, height: image.height, data: new Uint8Array(out.buffer) };
}

/** What a result draws over the image: its colour view when it has one, else its map through the colormap. */
export function renderOverlay(image: RgbaImage, result: { heatmap: Heatmap; colour: RgbaImage | null }, colormap: ColormapName, opacity: number): RgbaImage {
  return result.colour ? blendImages(image, result.colour, opacity) : blendOverlay(image, result.heatmap, colormap, opacity);
}

/** round(v·255), clamped; 255 is the strongest evidence, NaN becomes 0. */
export function heatmapToBytes(map: Heatmap): Uint8Array {
  const bytes = new Uint8Array(map.data.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = lutIndex(map.data[i]);
  return bytes;
}

/**
 * Per axis: area average when shrinking (every source pixel counts, no aliasing), bilinear when
 * enlarging. Channels are averaged as stored, not premultiplied by alpha.
 */
export function resizeRgba(image: RgbaImage, width: number, height: number): RgbaImage {
  const pick = (from: number, to: number) => (to < from ? areaTaps(from, to) : bilinearTaps(from, to));
  const values = resample(image.data, image.width, image.height, 4, pick(image.width, width), pick(image.height, height));
  return { width, height, data: new Uint8Array(Uint8ClampedArray.from(values).buffer) };
}

/**
 * Bilinear with half-pixel centres: output pixel o samples source position (o + ½)·in/out − ½,
 * clamped at the edges. This is align_corners=false in PyTorch and TF2's tf.image.resize, i.e.
 * tfjs `tf.image.resizeBilinear(x, size, false, true)`; tfjs's default (halfPixelCenters=false)
 * instead samples o·in/out, which shifts the map up and left by half a source pixel.
 */
export function resizeHeatmap(map: Heatmap, width: number, height: number): Heatmap {
  const taps = [bilinearTaps(map.width, width), bilinearTaps(map.height, height)] as const;
  return { width, height, data: resample(map.data, map.width, map.height, 1, ...taps) };
}

/** Output position o is Σ weights[j] · source[start + j]. */
interface Tap {
  start: number;
  weights: number[];
}

function bilinearTaps(from: number, to: number): Tap[] {
  return Array.from({ length: to }, (_, o) => {
    const position = Math.max(0, ((o + 0.5) * from) / to - 0.5);
    const start = Math.min(Math.floor(position), from - 1);
    const f = position - start;
    return start + 1 < from && f > 0 ? { start, weights: [1 - f, f] } : { start, weights: [1] };
  });
}

/** Output pixel o covers source span [o·s, (o+1)·s), s = from/to; each source pixel weighs its overlap. */
function areaTaps(from: number, to: number): Tap[] {
  const scale = from / to;
  return Array.from({ length: to }, (_, o) => {
    const begin = o * scale;
    const end = (o + 1) * scale;
    const start = Math.floor(begin);
    const weights: number[] = [];
    for (let i = start; i < end && i < from; i++) weights.push((Math.min(i + 1, end) - Math.max(i, begin)) / scale);
    return { start, weights };
  });
}

/** Separable resampling: rows first, then columns; float output. */
function resample(src: ArrayLike<number>, width: number, height: number, channels: number, tapsX: Tap[], tapsY: Tap[]): Float32Array {
  const outWidth = tapsX.length;
  const rows = new Float32Array(height * outWidth * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const { start, weights } = tapsX[x];
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let j = 0; j < weights.length; j++) sum += weights[j] * src[(y * width + start + j) * channels + c];
        rows[(y * outWidth + x) * channels + c] = sum;
      }
    }
  }
  const out = new Float32Array(tapsY.length * outWidth * channels);
  const stride = outWidth * channels;
  for (let y = 0; y < tapsY.length; y++) {
    const { start, weights } = tapsY[y];
    for (let i = 0; i < stride; i++) {
      let sum = 0;
      for (let j = 0; j < weights.length; j++) sum += weights[j] * rows[(start + j) * stride + i];
      out[y * stride + i] = sum;
    }
  }
  return out;
}
