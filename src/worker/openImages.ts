/**
 * The worker's open images: each panel's photo decoded once, so class, layer, technique and parameter
 * changes redo only the model work (the resize to the model input is kept per image object too, in
 * preprocess.ts). Most models read the working copy (longest side WORKING_MAX_SIDE); a model whose resize
 * samples (no antialiasing, nearest) reads the full image, as its training pipeline did. Bounded by bytes;
 * the least recently used image goes first.
 */
import { promises as fs } from 'node:fs';
import { readImage, WORKING_MAX_SIDE, type DecodedImage, type ImageLimits } from '../engine/image';
import { resizeRgba } from '../engine/render';
import type { RgbaImage } from '../engine/types';
import { fitWithin } from '../shared/display';

interface Entry {
  /** What the decode depended on: the file as it was and the limits it was checked against. */
  key: string;
  decoded: DecodedImage;
  bytes: number;
  /** The decode's time, until a result has reported it (the panel's first run shows it, not its re-runs). */
  unreportedDecodeMs: number;
}

const MAX_BYTES = 256 * 2 ** 20;

export class OpenImages {
  private readonly entries = new Map<string, Entry>();
  /** Display copies per image and size: the panel asks for one with every run (a class change too). */
  private readonly displayCopies = new WeakMap<RgbaImage, Map<number, RgbaImage>>();

  constructor(private readonly maxBytes = MAX_BYTES) {}

  /**
   * The image (full size when `full`), decoded now or earlier. `decodeMs` is the decode's time the first
   * time a caller that reports it asks (`report`), then 0: the panel's display copy, asked first, does not.
   */
  async open(
    path: string,
    limits: ImageLimits,
    full: boolean,
    checkCancelled?: () => void,
    report = true,
  ): Promise<{ decoded: DecodedImage; decodeMs: number }> {
    const stats = await fs.stat(path).catch(() => null);
    const key = JSON.stringify([stats?.mtimeMs, stats?.size, limits.maxPixels, limits.maxBytes]);
    const name = `${full ? 'full' : 'working'}:${path}`;
    let entry = this.entries.get(name);
    if (entry?.key !== key) {
      const started = performance.now();
      const decoded = await readImage(path, limits, { maxSide: full ? undefined : WORKING_MAX_SIDE, checkCancelled });
      entry = { key, decoded, bytes: decoded.image.data.byteLength, unreportedDecodeMs: performance.now() - started };
    }
    this.entries.delete(name);
    this.entries.set(name, entry);
    this.evict();
    const decodeMs = report ? entry.unreportedDecodeMs : 0;
    if (report) entry.unreportedDecodeMs = 0;
    return { decoded: entry.decoded, decodeMs };
  }

  /** A copy at most `maxSide` on its longest side, made once per image and size (`checkCancelled`: every 64 rows). */
  display(image: RgbaImage, maxSide: number, checkCancelled?: () => void): RgbaImage {
    let sizes = this.displayCopies.get(image);
    if (!sizes) this.displayCopies.set(image, (sizes = new Map()));
    let shown = sizes.get(maxSide);
    if (!shown) {
      const size = fitWithin(image.width, image.height, maxSide);
      shown = size.width < image.width || size.height < image.height ? resizeRgba(image, size.width, size.height, checkCancelled) : image;
      sizes.set(maxSide, shown);
    }
    return shown;
  }

  /** Drops the least recently used images until the rest fit (the newest always stays). */
  private evict(): void {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.bytes;
    for (const [name, entry] of this.entries) {
      if (total <= this.maxBytes || this.entries.size <= 1) break;
      this.entries.delete(name);
      total -= entry.bytes;
    }
  }
}
