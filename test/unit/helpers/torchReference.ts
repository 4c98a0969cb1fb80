/**
 * The PyTorch reference maps (scripts/torch_reference.py, Debian's python3-torch) for the models of
 * scripts/modern_models.py: Grad-CAM, saliency, attention rollout and the attention-gradient rule, computed
 * the textbook way on the very weights the ONNX test models carry. The script's docstring defines each map;
 * the engine's techniques are written to match it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../../scripts/torch_reference.py');
const PYTHON = '/usr/bin/python3';

export interface TorchReferenceOptions {
  /** A dotted module path (encoder.layers.encoder_layer_1.ln_1, features.7); the script's default otherwise. */
  layer?: string;
  discardRatio?: number;
  headFusion?: 'mean' | 'max' | 'min';
  /** float64 for finite-difference checks; the maps the engine is compared with come from float32. */
  dtype?: 'float32' | 'float64';
  /** The intermediate arrays (channel weights and maps, every block's attention and its gradient, …). */
  details?: boolean;
  /** Scores with eps added to one channel of the Grad-CAM layer's map. */
  offsets?: { channel: number; eps: number }[];
  /** Scores with eps added to one input value. */
  inputOffsets?: { channel: number; y: number; x: number; eps: number }[];
  /** Scores with a block's attention output at one query row (or all) scaled as its probabilities would be. */
  attentionOffsets?: { block: number; row: number | 'all'; eps: number }[];
  threads?: number;
}

/** A --details array: shape and values. */
export interface Packed {
  shape: number[];
  data: Float64Array | Float32Array;
}

/** A map at its own resolution, row-major, unnormalised. */
export interface TorchMap {
  grid: [number, number];
  map: number[];
}

export interface TorchReference {
  class: number;
  logits: number[];
  score: number;
  topClass: number;
  capture: { maxAbsDiff: number; logitRange: number };
  gradcam: TorchMap & { layer: string; layout: 'tokens' | 'nhwc' | 'nchw'; weights?: Packed; activations?: Packed };
  saliency: TorchMap;
  tokens?: { count: number; special: number; grid: [number, number]; blocks: number; heads: number };
  rollout?: TorchMap & { headFusion: string; discardRatio: number; fused?: Packed; prefixes?: Packed };
  attentionGradient?: TorchMap & { products?: Packed; relevance?: Packed };
  attention?: Packed;
  attentionGrad?: Packed;
  offsets?: { channel: number; eps: number; score: number }[];
  inputOffsets?: { channel: number; y: number; x: number; eps: number; score: number }[];
  attentionOffsets?: { block: number; row: number | 'all'; eps: number; score: number }[];
  notApplicable?: Record<string, string>;
}

let missing: string | null | undefined;

/** Why the reference cannot run here, or null. */
export function torchReferenceMissing(): string | null {
  if (missing !== undefined) return missing;
  if (!existsSync(PYTHON)) return (missing = `${PYTHON} is missing; it runs the PyTorch reference`);
  try {
    execFileSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    missing = null;
  } catch {
    missing = 'python3-torch / python3-torchvision are not installed; they run the PyTorch reference';
  }
  return missing;
}

/** The reference for one NCHW image (batch 1) and class, or why it cannot run here. */
export function torchReference(
  name: string,
  nchw: Float32Array,
  shape: number[],
  classIndex: number,
  options: TorchReferenceOptions = {},
): TorchReference | { skip: string } {
  const reason = torchReferenceMissing();
  if (reason) return { skip: reason };
  if (os.endianness() !== 'LE') throw new Error('the reference reads little-endian float32');
  if (nchw.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${nchw.length} values do not fill the shape [${shape}]`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cnn-lens-torchref-'));
  try {
    const input = path.join(dir, 'input.f32');
    writeFileSync(input, new Uint8Array(nchw.buffer, nchw.byteOffset, nchw.byteLength));
    const args = [SCRIPT, name, input, shape.join(','), String(classIndex), '--threads', String(options.threads ?? 2)];
    if (options.layer) args.push('--layer', options.layer);
    if (options.headFusion) args.push('--head-fusion', options.headFusion);
    if (options.discardRatio !== undefined) args.push('--discard-ratio', String(options.discardRatio));
    if (options.dtype) args.push('--dtype', options.dtype);
    if (options.details) args.push('--details');
    if (options.offsets?.length) args.push('--offsets', options.offsets.map((o) => `${o.channel}:${o.eps}`).join(','));
    if (options.inputOffsets?.length)
      args.push('--input-offsets', options.inputOffsets.map((o) => `${o.channel}:${o.y}:${o.x}:${o.eps}`).join(','));
    if (options.attentionOffsets?.length)
      args.push('--attention-offsets', options.attentionOffsets.map((o) => `${o.block}:${o.row}:${o.eps}`).join(','));
    const out = execFileSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 512 * 2 ** 20, timeout: 600_000 });
    return camelCase(JSON.parse(out)) as TorchReference;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The script's snake_case keys as this file's camelCase, and its packed arrays as typed arrays. */
function camelCase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCase);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if (typeof record.base64 === 'string') return unpack(record as { shape: number[]; dtype: string; base64: string });
  return Object.fromEntries(
    Object.entries(record).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), camelCase(v)]),
  );
}

function unpack(packed: { shape: number[]; dtype: string; base64: string }): Packed {
  const bytes = Buffer.from(packed.base64, 'base64');
  // A copy, so the typed array starts on its own aligned buffer.
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (packed.dtype === 'float64') return { shape: packed.shape, data: new Float64Array(buffer) };
  if (packed.dtype === 'float32') return { shape: packed.shape, data: new Float32Array(buffer) };
  throw new Error(`packed array of ${packed.dtype}`);
}
