/**
 * ONNX test models: torchvision architectures and small CNNs exported with random weights by
 * scripts/export-onnx-test-models.py (Debian's python3-torch) into test-results/onnx-models (not in git),
 * on first use; and onnxruntime-node as the independent runtime to compare with, reached only through
 * `onnxruntimeNode()` (privacy.test.ts checks that no other test file requires the package).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Acceleration } from '../../../src/engine/accel/ortRuntime';

export const ONNX_MODEL_DIR = path.resolve(__dirname, '../../../test-results/onnx-models');
const SCRIPT = path.resolve(__dirname, '../../../scripts/export-onnx-test-models.py');
const PYTHON = '/usr/bin/python3';

/** Paths of the named models, exporting the missing ones; or a reason why they cannot be made here. */
export function onnxTestModels(names: string[]): { paths: Record<string, string> } | { skip: string } {
  const paths = Object.fromEntries(names.map((name) => [name, path.join(ONNX_MODEL_DIR, `${name}.onnx`)]));
  const missing = names.filter((name) => !existsSync(paths[name]));
  if (missing.length === 0) return { paths };
  if (!existsSync(PYTHON)) return { skip: `${PYTHON} is missing; it exports the ONNX test models` };
  try {
    execFileSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
  } catch {
    return { skip: 'python3-torch / python3-torchvision are not installed; they export the ONNX test models' };
  }
  execFileSync(PYTHON, [SCRIPT, ONNX_MODEL_DIR], {
    stdio: 'ignore',
    env: { ...process.env, ONNX_MODELS: missing.join(',') },
    timeout: 600_000,
  });
  const still = missing.filter((name) => !existsSync(paths[name]));
  if (still.length) throw new Error(`The export script did not write ${still.join(', ')}.`);
  return { paths };
}

/**
 * onnxruntime-node's public API, for reference runs. Its native environment is created once per process, by
 * whoever asks first, and reads ORT_DISABLE_TELEMETRY only then: so CNN Lens's own loader (ortRuntime.ts,
 * which sets it) creates it first, and the package's InferenceSession reuses it. Required directly, the
 * package would start Microsoft's telemetry (a mat-debug-<pid>.log and a .ses file in the temp folder, an
 * event store under ~/.cache/Microsoft): rootHooks.ts fails the run if this process left such a log.
 */
export function onnxruntimeNode(): typeof import('onnxruntime-node') {
  const { reason } = new Acceleration('auto').state;
  if (/not available/.test(reason)) throw new Error(reason);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('onnxruntime-node') as typeof import('onnxruntime-node');
}

/** onnxruntime-node's output for an NCHW float input (the reference). */
export async function runOnnxRuntime(
  file: string,
  nchw: Float32Array,
  dims: number[],
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const ort = onnxruntimeNode();
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', nchw, dims) };
    const out = (await session.run(feeds))[session.outputNames[0]];
    return { data: out.data as Float32Array, dims: out.dims };
  } finally {
    await session.release();
  }
}

/** A deterministic pseudo-random NHWC image batch in [-1, 1), and the same data as NCHW for onnxruntime and PyTorch. */
export function randomInput(n: number, h: number, w: number, c: number, seed: number): { nhwc: Float32Array; nchw: Float32Array } {
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  const nhwc = Float32Array.from({ length: n * h * w * c }, next);
  const nchw = new Float32Array(nhwc.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) nchw[((b * c + k) * h + y) * w + x] = nhwc[((b * h + y) * w + x) * c + k];
  return { nhwc, nchw };
}
