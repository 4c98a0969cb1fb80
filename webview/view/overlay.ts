/**
 * The overlay canvas and its colour bar. The heatmap arrives as bytes at its own resolution (a layer's
 * 7×7, or the model input's 224×224) with the region of the image it covers; it is scaled onto the display
 * image here once per result (bilinear, as the exports draw it) and coloured through the colormap's LUT,
 * so colormap and opacity changes never need a re-run.
 */
import { colormapLut, lutIndex } from '../../src/shared/colormaps';
import { colourOver, mapOver, OUTSIDE_BRIGHTNESS } from '../../src/shared/mapDrawing';
import { WHOLE_IMAGE, type ColormapName, type Region } from '../../src/shared/vocabulary';
import { conceptPicture } from '../../src/shared/conceptDrawing';
import type { ConceptsPart, PixelsMessagePart, ViewSettings } from '../../src/shared/protocol';
import { h } from './dom';

/** Images smaller than this (longest side) are scaled up by a whole factor, with crisp pixels. */
export const MIN_DISPLAY_SIDE = 256;
const COLORBAR_STOPS = 16;

const luts = new Map<ColormapName, Uint8Array>();
function lutFor(name: ColormapName): Uint8Array {
  const cached = luts.get(name);
  if (cached) return cached;
  const lut = colormapLut(name);
  luts.set(name, lut);
  return lut;
}

/**
 * Bytes from a message field: a Uint8Array normally, but tolerate an ArrayBuffer, another view, a plain
 * array or the `{"0":…}` object older serialisations produce. Null when the length is wrong.
 */
export function toBytes(data: unknown, expectedLength: number): Uint8Array | null {
  let bytes: Uint8Array | null = null;
  if (data instanceof Uint8Array) bytes = data;
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else if (Array.isArray(data)) bytes = Uint8Array.from(data as number[]);
  else if (typeof data === 'object' && data !== null) {
    const record = data as Record<string, unknown>;
    if (typeof record[String(expectedLength - 1)] === 'number') {
      bytes = new Uint8Array(expectedLength);
      for (let i = 0; i < expectedLength; i++) bytes[i] = Number(record[i]) || 0;
    }
  }
  return bytes && bytes.length === expectedLength ? bytes : null;
}

/** A valid region (fractions inside 0..1, non-empty), else the whole image. */
export function checkedRegion(region: unknown): Region {
  const r = region as Partial<Region> | null | undefined;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
  if (
    !r ||
    !ok(r.x) ||
    !ok(r.y) ||
    !ok(r.width) ||
    !ok(r.height) ||
    r.width <= 0 ||
    r.height <= 0 ||
    r.x + r.width > 1 + 1e-6 ||
    r.y + r.height > 1 + 1e-6
  )
    return WHOLE_IMAGE;
  return { x: r.x, y: r.y, width: r.width, height: r.height };
}

/**
 * Map bytes (0..255) at their own size → LUT indices at width × height over the region (bilinear, as the
 * exports draw it), and which pixels the region covers (null: all). Exported for tests.
 */
export function heatAt(
  heat: PixelsMessagePart & { data: Uint8Array },
  region: Region,
  width: number,
  height: number,
): { heat: Uint8Array; inside: Uint8Array | null } {
  const map = { width: heat.width, height: heat.height, data: Float32Array.from(heat.data, (v) => v / 255) };
  // NaN marks the pixels outside the region: the same rule the exports dim by.
  const sampled = mapOver(map, region, width, height, Number.NaN).data;
  const out = new Uint8Array(sampled.length);
  const inside = new Uint8Array(sampled.length);
  let outside = false;
  for (let i = 0; i < out.length; i++) {
    out[i] = lutIndex(sampled[i]);
    inside[i] = Number.isNaN(sampled[i]) ? 0 : 1;
    outside ||= !inside[i];
  }
  return { heat: out, inside: outside ? inside : null };
}

/** Superpixel boundaries (bytes, 255 on a boundary) scaled onto the display image: 1 where the sampled outline is at least half on. */
export function outlineAt(outline: PixelsMessagePart & { data: Uint8Array }, region: Region, width: number, height: number): Uint8Array {
  const map = { width: outline.width, height: outline.height, data: Float32Array.from(outline.data, (v) => v / 255) };
  return Uint8Array.from(mapOver(map, region, width, height, 0).data, (v) => (v >= 0.5 ? 1 : 0));
}

/** Lightens boundary pixels towards white, so the superpixels show on any colormap. Exported for tests. */
export function drawOutline(outline: Uint8Array, out: Uint8ClampedArray): void {
  for (let p = 0; p < outline.length; p++) {
    if (!outline[p]) continue;
    for (let c = 0; c < 3; c++) out[p * 4 + c] = 0.35 * out[p * 4 + c] + 0.65 * 255;
  }
}

/** out = image·(1−α) + colormap(heat)·α, opaque; pixels outside `inside` (when given) dimmed. Exported for tests. */
export function blend(
  image: Uint8Array,
  heat: Uint8Array,
  lut: Uint8Array,
  opacity: number,
  out: Uint8ClampedArray,
  inside: Uint8Array | null = null,
): void {
  const a = Math.min(1, Math.max(0, opacity));
  const b = 1 - a;
  for (let i = 0, p = 0; i < heat.length; i++, p += 4) {
    if (inside && !inside[i]) {
      dim(image, p, out);
      continue;
    }
    const l = heat[i] * 3;
    out[p] = image[p] * b + lut[l] * a;
    out[p + 1] = image[p + 1] * b + lut[l + 1] * a;
    out[p + 2] = image[p + 2] * b + lut[l + 2] * a;
    out[p + 3] = 255;
  }
}

/** out = image·(1−α) + top·α, opaque: the colour-gradient view over the photo. Exported for tests. */
export function blendRgba(
  image: Uint8Array,
  top: Uint8Array,
  opacity: number,
  out: Uint8ClampedArray,
  inside: Uint8Array | null = null,
): void {
  const a = Math.min(1, Math.max(0, opacity));
  for (let p = 0; p < image.length; p += 4) {
    if (inside && !inside[p >> 2]) {
      dim(image, p, out);
      continue;
    }
    out[p] = image[p] * (1 - a) + top[p] * a;
    out[p + 1] = image[p + 1] * (1 - a) + top[p + 1] * a;
    out[p + 2] = image[p + 2] * (1 - a) + top[p + 2] * a;
    out[p + 3] = 255;
  }
}

/**
 * The concepts drawn at the region's size on the display image, then laid over it like the colour view
 * (a 1:1 resample), so the picture has the size and alignment of every other overlay.
 */
function conceptsOver(concepts: ConceptsPart, region: Region, width: number, height: number): Uint8Array {
  const maps = concepts.maps.map((m) => ({ width: m.width, height: m.height, data: Float32Array.from(m.data, (v) => v / 255) }));
  const picture = conceptPicture(maps, Math.max(1, Math.round(region.width * width)), Math.max(1, Math.round(region.height * height)));
  return colourOver(picture, region, width, height).data;
}

function dim(image: Uint8Array, p: number, out: Uint8ClampedArray): void {
  out[p] = image[p] * OUTSIDE_BRIGHTNESS;
  out[p + 1] = image[p + 1] * OUTSIDE_BRIGHTNESS;
  out[p + 2] = image[p + 2] * OUTSIDE_BRIGHTNESS;
  out[p + 3] = 255;
}

/** How a result is drawn: a map through the picked colormap, a signed map (diverging), a colour image, or DFF's concepts. */
export type OverlayMode = 'map' | 'signed' | 'colour' | 'concepts';

interface Pixels {
  width: number;
  height: number;
  image: Uint8Array;
  heat: Uint8Array;
  colour: Uint8Array | null;
  /** 1 where the model looked; null = everywhere. */
  inside: Uint8Array | null;
  /** 1 on a superpixel boundary (superpixel techniques); null = none. */
  outline: Uint8Array | null;
  mode: OverlayMode;
}

export class OverlayView {
  readonly canvas: HTMLCanvasElement;
  /** The colour ramp of the legend (low → high) and its end labels. */
  readonly ramp: HTMLElement;
  readonly highLabel: HTMLElement;
  readonly lowLabel: HTMLElement;
  private pixels: Pixels | undefined;
  private view: ViewSettings;
  private frame = 0;
  private imageData: ImageData | undefined;

  constructor(view: ViewSettings) {
    this.view = view;
    this.canvas = h('canvas', { id: 'overlay', 'data-testid': 'overlay', role: 'img', 'aria-label': 'No explanation yet' });
    this.canvas.width = 0;
    this.canvas.height = 0;
    this.ramp = h('div', { class: 'colorbar-ramp', 'data-testid': 'colorbar' });
    this.highLabel = h('span', { class: 'colorbar-label high' }, 'high');
    this.lowLabel = h('span', { class: 'colorbar-label low' }, 'low');
    this.drawRamp();
  }

  get hasPixels(): boolean {
    return this.pixels !== undefined;
  }

  /** Takes a result's pixels; returns an error text when they are malformed. */
  setPixels(
    image: PixelsMessagePart,
    heatmap: PixelsMessagePart,
    description: string,
    extras: {
      signed?: boolean;
      colour?: PixelsMessagePart | null;
      region?: Region;
      outline?: PixelsMessagePart | null;
      concepts?: ConceptsPart | null;
    } = {},
  ): string | null {
    const { width, height } = image;
    const validSize = (w: unknown, h: unknown) =>
      Number.isInteger(w) && Number.isInteger(h) && (w as number) > 0 && (h as number) > 0 && (w as number) * (h as number) <= 2 ** 24;
    if (!validSize(width, height)) return 'The result has no image.';
    if (!validSize(heatmap.width, heatmap.height)) return 'The heatmap has no size.';
    const imageBytes = toBytes(image.data, width * height * 4);
    const mapBytes = toBytes(heatmap.data, heatmap.width * heatmap.height);
    if (!imageBytes || !mapBytes) return 'The result’s pixels are malformed.';
    const region = checkedRegion(extras.region);
    let colour: Uint8Array | null = null;
    if (extras.colour) {
      if (!validSize(extras.colour.width, extras.colour.height)) return 'The colour view has no size.';
      const colourBytes = toBytes(extras.colour.data, extras.colour.width * extras.colour.height * 4);
      if (!colourBytes) return 'The colour view’s pixels are malformed.';
      colour = colourOver({ width: extras.colour.width, height: extras.colour.height, data: colourBytes }, region, width, height).data;
    }
    if (extras.concepts) colour = conceptsOver(extras.concepts, region, width, height);
    const { heat, inside } = heatAt({ width: heatmap.width, height: heatmap.height, data: mapBytes }, region, width, height);
    let outline: Uint8Array | null = null;
    if (extras.outline) {
      if (!validSize(extras.outline.width, extras.outline.height)) return 'The superpixel outline has no size.';
      const outlineBytes = toBytes(extras.outline.data, extras.outline.width * extras.outline.height);
      if (!outlineBytes) return 'The superpixel outline is malformed.';
      outline = outlineAt({ width: extras.outline.width, height: extras.outline.height, data: outlineBytes }, region, width, height);
    }
    const mode: OverlayMode = extras.concepts ? 'concepts' : colour ? 'colour' : extras.signed ? 'signed' : 'map';
    const modeChanged = mode !== this.pixels?.mode;
    this.pixels = { width, height, image: imageBytes, heat, colour, inside, outline, mode };
    if (modeChanged) this.drawRamp();
    this.canvas.width = width;
    this.canvas.height = height;
    this.imageData = undefined;
    const longest = Math.max(width, height);
    const tiny = longest < MIN_DISPLAY_SIDE;
    this.canvas.classList.toggle('pixelated', tiny);
    // CSSOM (not a style attribute), which the CSP allows.
    if (tiny) this.canvas.style.width = `${width * Math.ceil(MIN_DISPLAY_SIDE / longest)}px`;
    else this.canvas.style.removeProperty('width');
    this.canvas.style.setProperty('--aspect', String(width / height));
    this.canvas.setAttribute('aria-label', description);
    this.canvas.dataset.width = String(width);
    this.canvas.dataset.height = String(height);
    this.draw();
    return null;
  }

  /** Back to no picture (a cancelled first run must not leave its half-done preview). */
  clear(): void {
    this.pixels = undefined;
    this.canvas.width = 0;
    this.canvas.height = 0;
    this.canvas.setAttribute('aria-label', 'No explanation yet');
    delete this.canvas.dataset.mode;
    this.drawRamp();
  }

  setView(view: ViewSettings): void {
    const colormapChanged = view.colormap !== this.view.colormap;
    this.view = view;
    if (colormapChanged) this.drawRamp();
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const pixels = this.pixels;
    if (!pixels) return;
    const context = this.canvas.getContext('2d');
    if (!context) return;
    if (!this.imageData) this.imageData = context.createImageData(pixels.width, pixels.height);
    if (pixels.colour) blendRgba(pixels.image, pixels.colour, this.view.opacity, this.imageData.data, pixels.inside);
    else blend(pixels.image, pixels.heat, lutFor(this.colormap), this.view.opacity, this.imageData.data, pixels.inside);
    if (pixels.outline) drawOutline(pixels.outline, this.imageData.data);
    context.putImageData(this.imageData, 0, 0);
    this.canvas.dataset.colormap = this.colormap;
    this.canvas.dataset.mode = pixels.mode;
    this.canvas.dataset.opacity = String(this.view.opacity);
  }

  /** Signed maps always use the diverging map: a sequential one would hide where zero is. */
  private get colormap(): ColormapName {
    return this.pixels?.mode === 'signed' ? 'diverging' : this.view.colormap;
  }

  private drawRamp(): void {
    const mode = this.pixels?.mode ?? 'map';
    const pictured = mode === 'colour' || mode === 'concepts';
    this.ramp.hidden = pictured;
    this.highLabel.textContent = mode === 'signed' ? 'for' : pictured ? '' : 'high';
    this.lowLabel.textContent = mode === 'signed' ? 'against' : pictured ? '' : 'low';
    const lut = lutFor(this.colormap);
    const stops: string[] = [];
    for (let s = 0; s <= COLORBAR_STOPS; s++) {
      const i = Math.round((s / COLORBAR_STOPS) * 255) * 3;
      stops.push(`rgb(${lut[i]}, ${lut[i + 1]}, ${lut[i + 2]}) ${((s / COLORBAR_STOPS) * 100).toFixed(2)}%`);
    }
    this.ramp.style.setProperty('--colorbar-stops', stops.join(', '));
    const scale = mode === 'signed' ? 'evidence against (blue) to for (red) the class, white = none' : 'low to high relevance';
    this.ramp.setAttribute('aria-label', `Colour scale (${this.colormap}): ${scale}`);
    this.ramp.setAttribute('role', 'img');
  }
}
