// One script builds every bundle. `tsc --noEmit` type-checks first (npm run compile); esbuild only bundles.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// Native / optional packages (tfjs backends, onnxruntime) are resolved at run time and may be absent.
const nodeExternals = ['vscode', 'sharp', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'onnxruntime-node', 'onnxruntime-common'];

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'info' };

// h5wasm (Keras .h5 / .keras import) is ESM and finds Node's `require` through `import.meta.url`, which a CJS
// bundle leaves empty: give it the bundle's own file URL. (Its WebAssembly is inlined: nothing to copy.)
const importMetaUrl = {
  define: { 'import.meta.url': '__cnnLensImportMetaUrl' },
  banner: { js: 'var __cnnLensImportMetaUrl = require("url").pathToFileURL(__filename).href;' },
};

const builds = [
  {
    ...common,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
    ...importMetaUrl,
    // tfjs backend packages register themselves on import yet declare "sideEffects": false; honouring
    // that annotation drops the cpu backend from the bundle.
    ignoreAnnotations: true,
    entryPoints: {
      extension: 'src/extension.ts',
      engineWorker: 'src/worker/engineWorker.ts',
      cli: 'src/cli.ts',
      bench: 'bench/bench.ts',
      // One cold start of dist/extension.js with a stub vscode, in its own process (node dist/bench.js activation).
      activationProbe: 'bench/activationProbe.ts',
    },
    outdir: 'dist',
  },
  {
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    entryPoints: { webview: 'webview/main.ts' },
    outdir: 'dist',
    loader: { '.css': 'css' },
  },
  {
    // The integration suites run inside VS Code's extension host (extensionTestsPath); never packaged.
    ...common,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: [...nodeExternals, 'mocha'],
    entryPoints: {
      index: 'test/integration/index.ts',
      trusted: 'test/integration/trusted.ts',
      restricted: 'test/integration/restricted.ts',
    },
    outdir: 'dist/test/integration',
  },
];

// esbuild does not copy the wasm binaries; the wasm backend is pointed at dist/wasm at run time.
mkdirSync('dist/wasm', { recursive: true });
for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  cpSync(`node_modules/@tensorflow/tfjs-backend-wasm/dist/${file}`, `dist/wasm/${file}`);
}
cpSync('node_modules/@vscode/codicons/dist/codicon.css', 'dist/codicon.css');
cpSync('node_modules/@vscode/codicons/dist/codicon.ttf', 'dist/codicon.ttf');

// The model zoo writes these ImageNet class names (Apache-2.0, from @tensorflow-models/mobilenet, a dev
// dependency) next to each downloaded model: an array, index = class id.
const { IMAGENET_CLASSES } = createRequire(import.meta.url)('@tensorflow-models/mobilenet/dist/imagenet_classes.js');
mkdirSync('dist/zoo', { recursive: true });
writeFileSync('dist/zoo/imagenet_classes.json', JSON.stringify(Object.keys(IMAGENET_CLASSES).map((i) => IMAGENET_CLASSES[i])));

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
