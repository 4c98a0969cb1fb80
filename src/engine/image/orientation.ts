/** EXIF orientation for the pure-JS path (sharp applies it itself while decoding). */
import type { RgbaImage } from '../types';

/**
 * The image as it is meant to be seen under EXIF orientation `orientation` (2–8: mirrored and/or turned;
 * 5–8 swap width and height), as sharp's rotate() does on the native path.
 */
export function upright(image: RgbaImage, orientation: number): RgbaImage {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, data } = image;
  const swap = orientation >= 5;
  const width = swap ? h : w;
  const height = swap ? w : h;
  const out = new Uint32Array(width * height);
  const aligned = data.byteOffset % 4 === 0 ? data : data.slice();
  const src = new Uint32Array(aligned.buffer, aligned.byteOffset, w * h);
  // For each output pixel (x, y), the stored pixel it shows.
  const from: Record<number, (x: number, y: number) => number> = {
    2: (x, y) => y * w + (w - 1 - x),
    3: (x, y) => (h - 1 - y) * w + (w - 1 - x),
    4: (x, y) => (h - 1 - y) * w + x,
    5: (x, y) => x * w + y,
    6: (x, y) => (h - 1 - x) * w + y,
    7: (x, y) => (h - 1 - x) * w + (w - 1 - y),
    8: (x, y) => x * w + (w - 1 - y),
  };
  const pick = from[orientation];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = src[pick(x, y)];
  return { width, height, data: new Uint8Array(out.buffer) };
}
