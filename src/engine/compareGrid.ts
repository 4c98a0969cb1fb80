/**
 * The Compare view as files: every technique's overlay tile in one PNG grid (row-major, at most three to a
 * row, in the order compared) and the metrics as CSV, one line per technique naming its tile. Text is not
 * drawn into the picture (no font rasteriser here): the CSV carries the names and numbers.
 */
import { OutputStage, writeFileAtomic, type AtomicWriteOptions } from '../files/atomicWrite';
import { writePngFile } from './image';
import { drawOverlay } from './render/overlay';
import { GRID_COLUMNS, tilePosition } from './compareCsv';
import type { ColormapName, Heatmap, Region, RgbaImage } from './types';

export const GRID_GAP = 8;
const BACKGROUND = 32;

/** One technique's tile: its map (and colour view) over the region, or null when it did not run (left blank). */
export interface GridTile {
  heatmap: Heatmap;
  colour: RgbaImage | null;
  region: Region;
  signed: boolean;
}

/**
 * The tiles drawn over copies of `image` and laid out in a grid with GRID_GAP pixels between them (RGB).
 * `checkCancelled` is called before each tile and while it is drawn.
 */
export function drawCompareGrid(
  image: RgbaImage,
  tiles: readonly (GridTile | null)[],
  colormap: ColormapName,
  opacity: number,
  checkCancelled?: () => void,
) {
  const count = tiles.length;
  const columns = Math.min(GRID_COLUMNS, Math.max(1, count));
  const rows = Math.max(1, Math.ceil(count / columns));
  const { width: tw, height: th } = image;
  const width = columns * tw + (columns - 1) * GRID_GAP;
  const height = rows * th + (rows - 1) * GRID_GAP;
  const out = new Uint8Array(width * height * 3).fill(BACKGROUND);
  tiles.forEach((tile, index) => {
    const { row, column } = tilePosition(index, count);
    const x0 = column * (tw + GRID_GAP);
    const y0 = row * (th + GRID_GAP);
    if (!tile) return;
    checkCancelled?.();
    const copy = { width: tw, height: th, channels: 4 as const, data: image.data.slice() };
    // As the panel draws them: signed maps always with the diverging colormap.
    const drawn = drawOverlay(copy, tile, tile.signed ? 'diverging' : colormap, opacity, checkCancelled);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const from = (y * tw + x) * drawn.channels;
        const to = ((y0 + y) * width + x0 + x) * 3;
        out[to] = drawn.data[from];
        out[to + 1] = drawn.data[from + 1];
        out[to + 2] = drawn.data[from + 2];
      }
    }
  });
  return { width, height, data: out };
}

export interface CompareFiles {
  pngPath: string;
  csvPath: string;
}

/**
 * Writes the grid PNG and the metrics CSV as one set (see mapFiles.ts's writeRawMapFiles): both or neither.
 * A cancel (`options.checkCancelled`) is heard while the grid is drawn and the files are written.
 */
export async function writeCompareFiles(
  image: RgbaImage,
  tiles: readonly (GridTile | null)[],
  csv: string,
  view: { colormap: ColormapName; opacity: number },
  files: CompareFiles,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const grid = drawCompareGrid(image, tiles, view.colormap, view.opacity, options.checkCancelled);
  const stage = new OutputStage();
  try {
    await writePngFile(files.pngPath, grid.data, grid.width, grid.height, 3, { ...options, stage });
    await writeFileAtomic(files.csvPath, csv, { ...options, stage });
    await stage.commit();
  } finally {
    await stage.discard();
  }
}
