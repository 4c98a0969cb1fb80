/**
 * The map itself as files, at its own resolution (the layer's, or the model input's): a 16-bit grayscale
 * PNG of the normalised map and a NumPy .npy of the raw values. No pixels of the photo are involved.
 */
import { PNG } from 'pngjs';
import { OutputStage, writeFileAtomic, type AtomicWriteOptions } from '../files/atomicWrite';
import type { Heatmap } from './types';

/**
 * The normalised map (0..1) as a 16-bit grayscale PNG (colour type 0, bit depth 16): value v is stored as
 * round(v · 65535), so 0 → 0 and 1 → 65535 (for signed maps 0.5, i.e. 32768, is zero). NaN and values
 * outside 0..1 are clamped (NaN → 0).
 */
export function encodeGray16Png(map: Heatmap): Buffer {
  const { width, height, data } = map;
  if (data.length !== width * height) throw new RangeError(`16-bit PNG encoder got ${data.length} values for ${width}×${height}`);
  // pngjs reads 16-bit input through a Uint16Array over the whole buffer, in the platform's byte order.
  const samples = new Uint16Array(width * height);
  for (let i = 0; i < samples.length; i++) {
    const v = data[i];
    samples[i] = v > 0 ? Math.round(Math.min(v, 1) * 65535) : 0;
  }
  const source = { width, height, data: Buffer.from(samples.buffer) };
  return PNG.sync.write(source as unknown as PNG, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 16 });
}

/**
 * A float32 array as a NumPy .npy file (format version 1.0, little-endian '<f4', C order): the magic
 * string, the header dict padded with spaces to a multiple of 64 bytes and ended by a newline, the data.
 */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`.npy encoder got ${data.length} values for shape [${shape.join(', ')}]`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const prefix = 10; // \x93NUMPY, version 1 0, header length (uint16 LE)
  header = header.padEnd(Math.ceil((prefix + header.length + 1) / 64) * 64 - prefix - 1, ' ') + '\n';
  const out = Buffer.alloc(prefix + header.length + data.length * 4);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, prefix, 'latin1');
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], prefix + header.length + i * 4);
  return out;
}

export interface RawMapFiles {
  /** The normalised map, 16-bit grayscale. */
  pngPath: string;
  /** The raw (un-normalised) map, float32 [height, width]. */
  npyPath: string;
}

/**
 * Writes both files as one set: each to its temporary file, then both moved into place (with `replace`
 * false, neither when either name is taken), so a failure or a cancel (`options.checkCancelled`) leaves neither.
 */
export async function writeRawMapFiles(
  heatmap: Heatmap,
  rawMap: Heatmap,
  files: RawMapFiles,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const png = encodeGray16Png(heatmap);
  const npy = encodeNpy(rawMap.data, [rawMap.height, rawMap.width]);
  const stage = new OutputStage();
  try {
    await writeFileAtomic(files.pngPath, png, { ...options, stage });
    await writeFileAtomic(files.npyPath, npy, { ...options, stage });
    await stage.commit();
  } finally {
    await stage.discard();
  }
}
