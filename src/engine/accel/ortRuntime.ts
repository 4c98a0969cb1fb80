/**
 * onnxruntime-node, when installed (an optional dependency: its CPU library ships inside the npm package),
 * runs CNN Lens's own export of a model: ~10× TF.js wasm's forward speed on MobileNet, on every core.
 *
 * Techniques run synchronously inside tf.tidy in the engine's worker, so sessions are driven through the
 * package's native binding, whose `run` is synchronous (the public API wraps that same call in a Promise
 * and a setImmediate). A self-check at start-up runs a known convolution; if the binding is missing,
 * changed shape in a new version, or answers wrongly, CNN Lens says why in its log and stays on TF.js.
 */
import * as os from 'node:os';
import { OnnxGraph } from './onnxGraph';

export interface OrtArray {
  data: Float32Array;
  /** With the batch dimension. */
  dims: number[];
}

interface NativeTensor {
  data: unknown;
  dims: readonly number[];
}

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, offset: number, length: number, options: object): void;
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, NativeTensor>;
  dispose(): void;
}

interface Binding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

type TensorConstructor = new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;

export class OrtSession {
  constructor(
    private readonly native: NativeSession,
    private readonly makeTensor: TensorConstructor,
  ) {}

  run(feeds: Record<string, OrtArray>, outputs: string[]): Record<string, OrtArray> {
    const inputs = Object.fromEntries(
      Object.entries(feeds).map(([name, { data, dims }]) => [name, new this.makeTensor('float32', data, dims)]),
    );
    const results = this.native.run(inputs, Object.fromEntries(outputs.map((name) => [name, null])), {});
    return Object.fromEntries(outputs.map((name) => [name, { data: results[name].data as Float32Array, dims: [...results[name].dims] }]));
  }

  dispose(): void {
    this.native.dispose();
  }
}

export class OrtRuntime {
  readonly threads = Math.max(1, (os.availableParallelism?.() ?? os.cpus().length) || 1);

  constructor(
    private readonly binding: Binding,
    private readonly makeTensor: TensorConstructor,
    readonly version: string,
  ) {}

  session(model: Uint8Array): OrtSession {
    const native = new this.binding.binding.InferenceSession();
    // Copy: the binding reads the bytes during loadModel only, but must not see a view into a shared pool.
    const bytes = model.slice();
    // Each session has its own thread pool, whose threads spin after a run: the next run of another session
    // (integrated gradients' gradient and score sessions) then shared the second core with them, 1.6× slower
    // on the bundled model. Spinning stops when a run ends; within a run, between ops, it still spins.
    const extra = { session: { force_spinning_stop: '1' } };
    native.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: this.threads,
      executionMode: 'sequential',
      extra,
    });
    return new OrtSession(native, this.makeTensor);
  }
}

export type AccelerationChoice = 'auto' | 'off';

/** The native library loads once per process, whoever asks first; each Acceleration decides whether to use it. */
let loaded: { runtime: OrtRuntime | null; reason: string } | null = null;

/**
 * Whether a model runs on onnxruntime, and where it says what stays on TF.js: made by whoever loads models
 * (the engine from cnnLens.onnxRuntime or the CLI's --no-onnxruntime) and handed to each model's adapter.
 * The choice is always the caller's: nothing here reads the environment.
 */
export class Acceleration {
  constructor(
    private choice: AccelerationChoice,
    readonly log: (line: string) => void = () => undefined,
  ) {}

  /** The runtime, or null with the reason (not installed, refused the self-check, switched off). */
  get state(): { runtime: OrtRuntime | null; reason: string } {
    if (this.choice === 'off') return { runtime: null, reason: 'switched off (cnnLens.onnxRuntime)' };
    loaded ??= load();
    return loaded;
  }

  get runtime(): OrtRuntime | null {
    return this.state.runtime;
  }

  /** Runs `run` with every model of this acceleration on TF.js (reference results), then restores the choice. */
  withoutRuntime<T>(run: () => T): T {
    const before = this.choice;
    this.choice = 'off';
    try {
      return run();
    } finally {
      this.choice = before;
    }
  }
}

/**
 * onnxruntime-node's Linux and macOS libraries (1.2x and later) start Microsoft's 1DS telemetry when the
 * runtime's environment is created: a `mat-debug-<pid>.log` and a `.ses` file in the temp folder, a device
 * id and an SQLite event store under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`, and uploads of
 * process and session events. The library reads `ORT_DISABLE_TELEMETRY` (1 / true / yes) from the process's
 * real environment once, when that environment is created, and then neither writes nor sends anything; the
 * binding offers no option for it. So the variable is set around `initOrt` and the caller's value put back.
 *
 * A worker thread's `process.env` is its own copy that native code never sees: the engine's worker is
 * started with `env: SHARE_ENV` (host/engineClient.ts) so that this assignment reaches the process.
 * test/unit/privacy.test.ts runs both in an empty HOME and TMPDIR and asserts nothing appears there.
 */
export function withoutTelemetry<T>(run: () => T): T {
  const before = process.env.ORT_DISABLE_TELEMETRY;
  process.env.ORT_DISABLE_TELEMETRY = '1';
  try {
    return run();
  } finally {
    if (before === undefined) delete process.env.ORT_DISABLE_TELEMETRY;
    else process.env.ORT_DISABLE_TELEMETRY = before;
  }
}

function load(): { runtime: OrtRuntime | null; reason: string } {
  let runtime: OrtRuntime;
  try {
    // Computed names: optional native packages, resolved at run time and never bundled.
    const load: NodeRequire = require;
    const binding = load('onnxruntime-node/dist/binding') as Binding;
    const common = load('onnxruntime-common') as { Tensor: TensorConstructor };
    const version = (load('onnxruntime-node/package.json') as { version: string }).version;
    withoutTelemetry(() => binding.initOrt());
    runtime = new OrtRuntime(binding, common.Tensor, version);
  } catch (error) {
    return { runtime: null, reason: `onnxruntime-node is not available (${(error as Error).message.split('\n')[0]})` };
  }
  try {
    selfCheck(runtime);
  } catch (error) {
    return { runtime: null, reason: `onnxruntime-node ${runtime.version} failed its self-check (${(error as Error).message})` };
  }
  return { runtime, reason: `onnxruntime-node ${runtime.version}, ${runtime.threads} threads` };
}

/** A 2×2 convolution with a bias and a ReLU on a known input, and its backward pass's building block. */
function selfCheck(runtime: OrtRuntime): void {
  const graph = new OnnxGraph();
  graph.input('x', [1, 3, 3]);
  const weights = graph.floats(Float32Array.of(1, 2, 3, 4), [1, 1, 2, 2]);
  const conv = graph.op('Conv', ['x', weights, graph.floats(Float32Array.of(-10), [1])], {
    kernel_shape: [2, 2],
    pads: [0, 0, 0, 0],
    strides: [1, 1],
  });
  const relu = graph.op('Relu', [conv]);
  graph.nameOutput(relu, 'y');
  const session = runtime.session(graph.encode());
  try {
    const { y } = session.run({ x: { data: Float32Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8), dims: [1, 1, 3, 3] } }, ['y']);
    // [0 1; 3 4]·[1 2; 3 4] = 27, then 37, 57, 67; minus 10.
    const expected = [17, 27, 47, 57];
    if (y.dims.join() !== '1,1,2,2' || expected.some((v, i) => Math.abs(y.data[i] - v) > 1e-4))
      throw new Error(`got ${Array.from(y.data).join(', ')} for ${expected.join(', ')}`);
  } finally {
    session.dispose();
  }
}
