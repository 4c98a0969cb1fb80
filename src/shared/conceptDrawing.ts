/**
 * Deep Feature Factorization's picture, as pytorch-grad-cam's show_factorization_on_image draws it: every
 * concept map upsampled (bilinear), each pixel given to the concept whose map is largest there, in that
 * concept's colour (matplotlib's gist_rainbow at i/k) with its brightness scaled by the map's value. The
 * panel and the exports blend it over the photo like the colour view. Pure TS: the webview bundles it.
 */
import { mapOver } from './mapDrawing';
import { WHOLE_IMAGE, type Heatmap, type RgbaImage } from './vocabulary';

/** matplotlib's gist_rainbow: (position, r, g, b) stops. */
const GIST_RAINBOW: [number, number, number, number][] = [
  [0, 1, 0, 0.16],
  [0.03, 1, 0, 0],
  [0.215, 1, 1, 0],
  [0.4, 0, 1, 0],
  [0.586, 0, 1, 1],
  [0.77, 0, 0, 1],
  [0.954, 1, 0, 1],
  [1, 1, 0, 0.75],
];

/** Concept i of k's colour, 0..255 RGB: gist_rainbow(i / k) read from matplotlib's 256-entry table, as pytorch-grad-cam picks it. */
export function conceptColour(i: number, k: number): [number, number, number] {
  const position = Math.min(Math.floor((i / k) * 256), 255) / 255;
  let s = 1;
  while (s < GIST_RAINBOW.length - 1 && GIST_RAINBOW[s][0] < position) s++;
  const [p0, ...c0] = GIST_RAINBOW[s - 1];
  const [p1, ...c1] = GIST_RAINBOW[s];
  const f = (position - p0) / (p1 - p0);
  return [0, 1, 2].map((c) => Math.round((c0[c] + (c1[c] - c0[c]) * f) * 255)) as [number, number, number];
}

/** The concepts drawn at width × height (RGBA, opaque): per pixel the strongest concept's colour × its strength. */
export function conceptPicture(maps: Heatmap[], width: number, height: number): RgbaImage {
  const sampled = maps.map((map) => mapOver(map, WHOLE_IMAGE, width, height).data);
  const colours = maps.map((_, i) => conceptColour(i, maps.length));
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    let best = 0;
    for (let t = 1; t < sampled.length; t++) if (sampled[t][p] > sampled[best][p]) best = t;
    const strength = Math.min(1, Math.max(0, sampled[best]?.[p] ?? 0));
    const colour = colours[best] ?? [0, 0, 0];
    data[p * 4] = colour[0] * strength;
    data[p * 4 + 1] = colour[1] * strength;
    data[p * 4 + 2] = colour[2] * strength;
    data[p * 4 + 3] = 255;
  }
  return { width, height, data };
}
