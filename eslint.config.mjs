// Lint: the layering rules of README's Architecture section, enforced (type-only imports are free).
// engine ↛ vscode/host/webview; worker ↛ vscode/host; host ↛ anything that loads tfjs, onnxruntime, a
// model reader or an image codec (it talks to the engine through the worker); webview ↛ Node, vscode,
// host, worker, or the engine beyond its plain data and pure drawing code.
import tseslint from 'typescript-eslint';

const HEAVY_PACKAGES = [
  '@tensorflow/*',
  'onnxruntime-node',
  'onnxruntime-common',
  'protobufjs',
  'protobufjs/*',
  'h5wasm',
  'fflate',
  'pngjs',
  'jpeg-js',
  'omggif',
  'bmp-js',
  'sharp',
];
/** Engine modules that load tfjs or a codec when imported at run time. */
const ENGINE_RUNTIME = [
  '**/engine/tf',
  '**/engine/engine',
  '**/engine/backend',
  '**/engine/evaluate',
  '**/engine/preprocess',
  '**/engine/preprocessCheck',
  '**/engine/postprocess',
  '**/engine/photoFiles',
  '**/engine/models/loadModel',
  '**/engine/models/*Adapter',
  '**/engine/models/{layers,graph,onnx,keras}/**',
  '**/engine/accel/**',
  '**/engine/techniques/**',
  '**/engine/inspect/**',
  '**/engine/metrics/**',
  '**/engine/image',
  '**/engine/image/*',
];

const restricted = (patterns, message) => ({
  '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: patterns, message, allowTypeImports: true }] }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.vscode-test/**', 'test-results/**', 'scratch/**', 'models/training/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    // Optional native packages are required where they are needed, inside try/catch, each with a directive saying so.
    rules: { '@typescript-eslint/no-require-imports': 'error' },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: restricted(
      ['vscode', '**/host/**', '**/webview/**', '**/worker/**'],
      'The engine runs in plain Node: no vscode, host, worker or webview code.',
    ),
  },
  {
    files: ['src/worker/**/*.ts'],
    rules: restricted(
      ['vscode', '**/host/**', '**/webview/**'],
      'The worker runs the engine; it knows nothing of vscode, the host or the webview.',
    ),
  },
  {
    files: ['src/host/**/*.ts', 'src/extension.ts'],
    rules: restricted(
      [...HEAVY_PACKAGES, ...ENGINE_RUNTIME, '**/worker/engineWorker'],
      'The extension host talks to the engine only through its worker (EngineClient); import types, or tfjs-free modules.',
    ),
  },
  {
    files: ['webview/**/*.ts'],
    rules: restricted(
      [...HEAVY_PACKAGES, ...ENGINE_RUNTIME, 'vscode', 'node:*', 'fs', 'path', '**/host/**', '**/worker/**'],
      'The webview is a browser page: shared data and pure drawing code only.',
    ),
  },
);
