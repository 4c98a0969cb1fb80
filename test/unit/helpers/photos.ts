/**
 * Phone-size test photos made on the fly with sharp (never committed): the cat_dog fixture upscaled,
 * with seeded grain so a JPEG of it weighs what a camera's does.
 */
import { fixture } from './fixtures';

type Sharp = typeof import('sharp');

/** Seeded LCG bytes (no Math.random: a failure must reproduce). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24;
}

/** The fixture photo upscaled to width × height (RGB, raw), with seeded grain of ±`grain` grey levels. */
export async function upscaledRaw(sharp: Sharp, width: number, height: number, grain: number, seed = 7): Promise<Buffer> {
  const source = fixture('images/pytorch-cnn-visualizations/cat_dog.png');
  const { data } = await sharp(source)
    .removeAlpha()
    .resize(width, height, { fit: 'cover', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (grain > 0) {
    const random = seeded(seed);
    for (let i = 0; i < data.length; i++) {
      const v = data[i] + Math.round(((random() - 127.5) / 127.5) * grain);
      data[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return data;
}

/** Options for sharp reading raw pixels. */
export function raw(width: number, height: number, channels: 3 | 4 = 3) {
  return { raw: { width, height, channels } };
}
