/** Tiles in a grid: feature maps, filter kernels. Pure TS (the webview may use it too). */
import type { ColormapName, RgbaImage } from '../types';
import { colorize } from '../../shared/colormaps';

/** Nearest-neighbour enlargement by a whole factor (kernels are 3×3: they must stay crisp). */
export function enlarge(image: RgbaImage, factor: number): RgbaImage {
  if (factor <= 1) return image;
  const width = image.width * factor;
  const height = image.height * factor;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (Math.floor(y / factor) * image.width + Math.floor(x / factor)) * 4;
      data.set(image.data.subarray(from, from + 4), (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

/** Same-sized tiles in rows of `columns`, `gap` pixels apart on a transparent background. */
export function gridOf(tiles: RgbaImage[], columns: number, gap = 1): RgbaImage {
  if (tiles.length === 0) return { width: 0, height: 0, data: new Uint8Array(0) };
  const { width: tw, height: th } = tiles[0];
  const cols = Math.max(1, Math.min(columns, tiles.length));
  const rows = Math.ceil(tiles.length / cols);
  const width = cols * tw + (cols - 1) * gap;
  const height = rows * th + (rows - 1) * gap;
  const data = new Uint8Array(width * height * 4);
  tiles.forEach((tile, i) => {
    if (tile.width !== tw || tile.height !== th) throw new RangeError('Grid tiles must all have the same size.');
    const x0 = (i % cols) * (tw + gap);
    const y0 = Math.floor(i / cols) * (th + gap);
    for (let y = 0; y < th; y++) data.set(tile.data.subarray(y * tw * 4, (y + 1) * tw * 4), ((y0 + y) * width + x0) * 4);
  });
  return { width, height, data };
}

/** Min-max scales `values` to 0..1 (a constant becomes 0). */
export function scaleToUnit(values: ArrayLike<number>): Float32Array {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  const range = max - min;
  return Float32Array.from(values, (v) => (range > 0 ? (v - min) / range : 0));
}

/** One single-channel map as a colormapped tile, scaled on its own. */
export function mapTile(values: ArrayLike<number>, width: number, height: number, colormap: ColormapName): RgbaImage {
  return colorize({ width, height, data: scaleToUnit(values) }, colormap);
}
