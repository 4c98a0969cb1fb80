// Lint: the layering rules of README's Architecture section, enforced.
// engine ↛ vscode/host/webview/worker; worker ↛ vscode/host/webview; host ↛ src/engine and anything that loads
// tfjs, onnxruntime, a model reader or an image codec at run time (it talks to the engine through the worker and
// reads model files through src/files; types are free); files ↛ engine/host/webview/worker, vscode or the heavy
// packages at run time (only Node, itself and src/shared); shared ↛ anything but itself (the webview bundles it);
// webview ↛ anything but its own files and src/shared, types included.
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
/** `patterns`: gitignore-style groups, or `{ regex }`. Type-only imports pass unless `types` is set. */
const restricted = (patterns, message, { types = false } = {}) => ({
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: [
        ...patterns.filter((p) => typeof p === 'string').map((p) => ({ group: [p], message, allowTypeImports: !types })),
        ...patterns.filter((p) => typeof p !== 'string').map(({ regex }) => ({ regex, message, allowTypeImports: !types })),
      ],
    },
  ],
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
      [...HEAVY_PACKAGES, '**/engine/**', '**/worker/engineWorker', '**/webview/**'],
      'The extension host talks to the engine only through its worker (EngineClient): at run time it imports src/files and src/shared; from src/engine, types only.',
    ),
  },
  {
    files: ['src/files/**/*.ts'],
    rules: restricted(
      ['vscode', ...HEAVY_PACKAGES, '**/engine/**', '**/host/**', '**/webview/**', '**/worker/**'],
      'src/files is model files, their configuration and the zoo without tfjs: the host imports it, so it imports only Node, its own files and src/shared (types aside).',
    ),
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: restricted(
      // Bare imports: packages, Node and vscode alike.
      [{ regex: '^[^.]' }, '**/engine/**', '**/host/**', '**/webview/**', '**/worker/**'],
      'src/shared is the vocabulary of every side, bundled into the webview too: it imports only its own files.',
      { types: true },
    ),
  },
  {
    files: ['webview/**/*.ts'],
    rules: restricted(
      [{ regex: '^[^.]' }, { regex: '(^|/)src/(?!shared/)' }],
      'The webview is a browser page: it imports its own files and src/shared only (types too).',
      { types: true },
    ),
  },
);
