/**
 * The pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", 2016): a hit when
 * the map's maximum lies inside the object's box. Pixel-space maps are clipped at a percentile, so their
 * maximum is often a plateau: then it is a hit when most of the plateau lies inside the box.
 */
import type { Heatmap } from '../types';

/** [x0, y0, x1, y1] in image pixels, x1 and y1 exclusive. */
export type Box = [number, number, number, number];

export function pointingGame(map: Heatmap, box: Box): { hit: boolean; peak: [number, number] } {
  const { width, data } = map;
  let max = -Infinity;
  for (const v of data) if (v > max) max = v;
  const tolerance = 1e-6 * Math.max(1, Math.abs(max));
  let inside = 0;
  let total = 0;
  let sumX = 0;
  let sumY = 0;
  const [x0, y0, x1, y1] = box;
  for (let i = 0; i < data.length; i++) {
    if (max - data[i] > tolerance) continue;
    const x = i % width;
    const y = Math.floor(i / width);
    total++;
    sumX += x;
    sumY += y;
    if (x >= x0 && x < x1 && y >= y0 && y < y1) inside++;
  }
  return { hit: inside * 2 > total, peak: [Math.round(sumX / total), Math.round(sumY / total)] };
}
