/**
 * Backend selection: the first of tensorflow (GPU) → tensorflow (CPU) → wasm (SIMD) → cpu that loads,
 * or the one the user forces. A backend that fails to load is logged with its reason, never fatal
 * (except when forced, where the user asked for exactly that one).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { fixAvgPoolGradient } from './avgPoolGradientFix';
import { fixWasmMaxPoolGradient } from './maxPoolGradientFix';
import { tf } from './tf';

import type { BackendChoice } from '../types';

export { BACKEND_CHOICES, type BackendChoice } from '../types';

export interface BackendOptions {
  choice: BackendChoice;
  /** Folder holding tfjs-backend-wasm*.wasm; defaults to the bundle's `wasm/` or the package's `dist/`. */
  wasmDir?: string;
  log: (line: string) => void;
}

type Candidate = Exclude<BackendChoice, 'auto'>;
const CHAIN: Candidate[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

function defaultWasmDir(): string {
  const bundled = path.join(__dirname, 'wasm');
  if (existsSync(path.join(bundled, 'tfjs-backend-wasm-simd.wasm'))) return bundled;
  // Running from source (tests): the package's own dist folder.
  const resolve: NodeRequire['resolve'] = require.resolve;
  return path.join(path.dirname(resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}

/** Loads the native binding; its package registers the 'tensorflow' backend as a side effect. */
function requireNative(pkg: string): void {
  // Required by a computed name: the optional native package may be absent and must not be bundled.
  const load: NodeRequire = require;
  load(pkg);
}

async function tryBackend(candidate: Candidate, options: BackendOptions): Promise<boolean> {
  switch (candidate) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      requireNative(candidate === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
      return tf.setBackend('tensorflow');
    }
    case 'wasm': {
      const dir = options.wasmDir ?? defaultWasmDir();
      // tfjs turns threads off in Node (tensorflow/tfjs#3830); SIMD is what we get.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      setWasmPaths({
        'tfjs-backend-wasm.wasm': path.join(dir, 'tfjs-backend-wasm.wasm'),
        'tfjs-backend-wasm-simd.wasm': path.join(dir, 'tfjs-backend-wasm-simd.wasm'),
        'tfjs-backend-wasm-threaded-simd.wasm': path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm'),
      });
      return tf.setBackend('wasm');
    }
    case 'cpu':
      return withQuietConsole(() => tf.setBackend('cpu'));
  }
}

/** tfjs prints a banner recommending tfjs-node when the cpu backend starts in Node; it is noise here. */
async function withQuietConsole<T>(run: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    return await run();
  } finally {
    console.warn = warn;
  }
}

/**
 * The cpu backend prints a banner recommending tfjs-node on its first tensor write in Node; the engine
 * may move to cpu mid-run (graph-model gradients), so the banner is switched off once up front.
 */
function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

export interface SelectedBackend {
  name: string;
  /** Human-readable, for the status bar: e.g. "wasm (SIMD)". */
  label: string;
}

export async function selectBackend(options: BackendOptions): Promise<SelectedBackend> {
  const candidates = options.choice === 'auto' ? CHAIN : [options.choice];
  for (const candidate of candidates) {
    try {
      if (await tryBackend(candidate, options)) {
        await tf.ready();
        silenceCpuBanner();
        fixWasmMaxPoolGradient();
        fixAvgPoolGradient();
        return { name: tf.getBackend(), label: await labelFor(candidate) };
      }
      options.log(`Backend ${candidate}: did not initialise.`);
    } catch (error) {
      options.log(`Backend ${candidate}: not available (${describe(error)}).`);
    }
  }
  if (options.choice !== 'auto') {
    throw new Error(`The backend "${options.choice}" could not be loaded; see the CNN Lens output channel for why.`);
  }
  throw new Error('No TensorFlow.js backend could be loaded.');
}

async function labelFor(candidate: Candidate): Promise<string> {
  switch (candidate) {
    case 'tensorflow-gpu':
      return 'tensorflow (GPU)';
    case 'tensorflow':
      return 'tensorflow (CPU)';
    case 'wasm':
      return (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'wasm (SIMD)' : 'wasm';
    case 'cpu':
      return 'cpu (plain JS)';
  }
}
