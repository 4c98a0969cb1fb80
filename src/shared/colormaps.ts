/**
 * Colormap lookup tables (256 RGB entries) and colouring of single-channel maps. Pure TS: the
 * webview bundle imports this too, so no Node APIs here.
 */
import type { ColormapName, Heatmap, RgbaImage } from './vocabulary';

/** A single-channel map: floats in 0..1 or bytes in 0..255 (255 = strongest). */
export type ScalarMap = Heatmap | { width: number; height: number; data: Float32Array | Uint8Array };

/**
 * Entries 0, 4, 8, …, 252 and 255 of the published 256-entry tables, as hex RGB: turbo from
 * Google's LUT (Mikhailov, 2019), viridis and inferno from matplotlib's listed data. Linear
 * interpolation between these reproduces every entry of the full tables within ±1 per channel
 * (checked against them when this was written).
 */
const SAMPLED_TABLES = {
  turbo:
    '30123b351e58392a733d358b4040a2424bb54456c74661d6466be34776ee4680f6458afc4294ff3d9efe37a8fa2fb2f4' +
    '28bceb22c5e21ccdd819d5cd18ddc219e3b91fe9af27eea432f2983ff68a4ef97d5dfc6f6dfe627dff568bff4b99fe42' +
    'a4fc3caffa37b9f635c3f134cdec34d7e535dfdf37e7d739eecf3af4c73af8be39fbb637fdac34fea130fe962bfd8a26' +
    'fb7e21f8721cf46617f05b12eb500ee5470bdf3f08d83706d02f05c82803be2102b41b01a916019e1001920b01850702' +
    '7a0403',
  viridis:
    '44015446075a470d6047136548186a481d6f482374482878472d7b46327e453781443b844240864045883e49893d4e8a' +
    '3b528b39568c375b8d355f8d33638d31678e2f6b8e2e6f8e2c728e2a768e297a8e277e8e26828e25858e23898e228d8d' +
    '21918c1f948c1f988b1e9c891fa08820a38622a78525ab8228ae802db27d32b67a38b9773fbc7346c06f4ec36b56c667' +
    '5ec96267cc5c70cf577ad15184d44b8ed64598d83ea2da37addc30b8de29c2df23cde11dd8e219e2e418ece51bf6e620' +
    'fde725',
  inferno:
    '00000402010a04031207051b0b072410092d150b371b0c41210c4a280b532f0a5b3609613d0965440a684a0c6b510e6c' +
    '57106e5d126e64156e6a176e71196e771c6d7d1e6d84206b8a226a9025689727669d2964a32c61a92e5eb0315bb63458' +
    'bc3754c13a50c73e4ccc4248d24644d74b3fdb503be05536e45a31e8602deb6628ef6c23f1731df47918f68013f8870e' +
    'f98e09fb9606fb9d07fca50afcac11fcb418fbbc21fac42af9cb35f7d340f5db4cf3e35af2ea69f1f179f3f68af8fb9a' +
    'fcffa4',
};
const SAMPLE_STEP = 4;

/** matplotlib's jet: per channel, (position, value) breakpoints joined by straight lines. */
const JET_SEGMENTS: readonly (readonly [number, number])[][] = [
  [
    [0, 0],
    [0.35, 0],
    [0.66, 1],
    [0.89, 1],
    [1, 0.5],
  ],
  [
    [0, 0],
    [0.125, 0],
    [0.375, 1],
    [0.64, 1],
    [0.91, 0],
    [1, 0],
  ],
  [
    [0, 0.5],
    [0.11, 1],
    [0.34, 1],
    [0.65, 0],
    [1, 0],
  ],
];

/**
 * Diverging map for signed attributions: ColorBrewer's RdBu reversed (matplotlib RdBu_r) at 5 of its
 * 11 classes — dark blue (against) through near-white (zero) to dark red (for).
 */
const DIVERGING_STOPS: readonly (readonly [number, number, number])[] = [
  [5, 48, 97],
  [67, 147, 195],
  [247, 247, 247],
  [214, 96, 77],
  [103, 0, 31],
];

const cache = new Map<ColormapName, Uint8Array>();

/** 256 × RGB. Shared and cached: treat it as read-only. */
export function colormapLut(name: ColormapName): Uint8Array {
  let lut = cache.get(name);
  if (!lut) {
    lut = buildLut(name);
    cache.set(name, lut);
  }
  return lut;
}

/** Opaque RGBA image of the map through the colormap. NaN counts as 0 (no evidence). */
export function colorize(map: ScalarMap, name: ColormapName): RgbaImage {
  const lut = colormapLut(name);
  const { data } = map;
  const isBytes = data instanceof Uint8Array;
  const out = new Uint8Array(map.width * map.height * 4);
  for (let i = 0, p = 0; i < data.length; i++, p += 4) {
    const l = (isBytes ? data[i] : lutIndex(data[i])) * 3;
    out[p] = lut[l];
    out[p + 1] = lut[l + 1];
    out[p + 2] = lut[l + 2];
    out[p + 3] = 255;
  }
  return { width: map.width, height: map.height, data: out };
}

/** 0..1 → 0..255, rounded and clamped, the same mapping `heatmapToBytes` uses. */
export function lutIndex(value: number): number {
  if (!(value > 0)) return 0;
  return value >= 1 ? 255 : Math.round(value * 255);
}

function buildLut(name: ColormapName): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const rgb =
      name === 'gray'
        ? [i, i, i]
        : name === 'jet'
          ? jet(i / 255)
          : name === 'diverging'
            ? diverging(i / 255)
            : sampled(SAMPLED_TABLES[name], i);
    lut.set(rgb, i * 3);
  }
  return lut;
}

function jet(x: number): number[] {
  return JET_SEGMENTS.map((points) => {
    let k = 1;
    while (k < points.length - 1 && points[k][0] < x) k++;
    const [x0, y0] = points[k - 1];
    const [x1, y1] = points[k];
    return Math.round(255 * (y0 + ((y1 - y0) * (x - x0)) / (x1 - x0)));
  });
}

function diverging(x: number): number[] {
  const position = x * (DIVERGING_STOPS.length - 1);
  const k = Math.min(Math.floor(position), DIVERGING_STOPS.length - 2);
  const t = position - k;
  return [0, 1, 2].map((c) => Math.round(DIVERGING_STOPS[k][c] + (DIVERGING_STOPS[k + 1][c] - DIVERGING_STOPS[k][c]) * t));
}

/** Entry i of a table stored as every SAMPLE_STEP-th entry plus the last one. */
function sampled(hex: string, i: number): number[] {
  const lastSample = hex.length / 6 - 1;
  const k = Math.min(Math.floor(i / SAMPLE_STEP), lastSample - 1);
  const start = k * SAMPLE_STEP;
  const end = k + 1 === lastSample ? 255 : start + SAMPLE_STEP;
  const t = (i - start) / (end - start);
  return [0, 1, 2].map((c) => {
    const a = hexByte(hex, k * 6 + c * 2);
    return Math.round(a + (hexByte(hex, (k + 1) * 6 + c * 2) - a) * t);
  });
}

function hexByte(hex: string, at: number): number {
  return parseInt(hex.slice(at, at + 2), 16);
}
