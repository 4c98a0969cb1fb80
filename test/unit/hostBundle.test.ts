/**
 * The extension host talks to the engine only through its worker: the host bundle must not pull in tfjs,
 * onnxruntime, the model-format readers or the image codecs (issue: "the host is not thin"). Bundled here
 * in memory with the build's own settings, so the rule holds for every import path, not just today's.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(__dirname, '../..');
/** Packages only the engine (the worker, the CLI) may load. */
const ENGINE_ONLY =
  /node_modules\/(@tensorflow|onnxruntime-node|onnxruntime-common|protobufjs|h5wasm|fflate|pngjs|jpeg-js|omggif|bmp-js|sharp)\//;

describe('the extension host bundle', () => {
  it('holds no engine packages (tfjs, onnxruntime, model readers, image codecs) and stays under 500 KB', async () => {
    const result = await esbuild.build({
      entryPoints: [path.join(ROOT, 'src/extension.ts')],
      absWorkingDir: ROOT,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['vscode'],
      ignoreAnnotations: true,
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    const engineOnly = inputs.filter((file) => ENGINE_ONLY.test(file));
    assert.deepEqual(engineOnly, [], 'engine packages reached from the host');
    assert.ok(!inputs.includes('src/engine/tf.ts'), 'src/engine/tf.ts reached from the host');
    const bytes = result.outputFiles[0].contents.byteLength;
    assert.ok(bytes < 500 * 1024, `the host bundle is ${(bytes / 1024).toFixed(0)} KB`);
  });
});
