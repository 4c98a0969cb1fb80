// Lint: the layering rules of README's Architecture section, enforced.
// engine ↛ vscode/host/webview/worker; worker ↛ vscode/host/webview; host ↛ anything that loads tfjs, onnxruntime,
// a model reader or an image codec (it talks to the engine through the worker: at run time it may import only the
// engine's plain-data and file modules listed below; types are free); shared ↛ anything but itself (the webview
// bundles it); webview ↛ anything but its own files and src/shared, types included.
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
/**
 * The engine modules the host may import at run time: plain data, the zoo catalog and download, model-file
 * kinds and cnnlens.json I/O. None of them reaches tfjs or a codec (test/unit/hostBundle.test.ts checks the bundle).
 */
const HOST_ENGINE_MODULES = [
  'types',
  'scalingChoices',
  'zoo/catalog',
  'zoo/download',
  'models/formats',
  'models/modelConfig',
  'models/modelFiles',
  'outputNames',
];
/** Any engine module but those. */
const ENGINE_BEYOND_HOST_MODULES = `(^|/)engine/(?!(${HOST_ENGINE_MODULES.join('|')})$)`;

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
      [...HEAVY_PACKAGES, { regex: ENGINE_BEYOND_HOST_MODULES }, '**/worker/engineWorker', '**/webview/**'],
      'The extension host talks to the engine only through its worker (EngineClient): import types, src/shared, or the engine modules listed in eslint.config.mjs.',
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
