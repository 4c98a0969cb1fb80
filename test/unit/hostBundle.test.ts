/**
 * The extension host talks to the engine only through its worker: the host bundle must not pull in tfjs,
 * onnxruntime, the model-format readers or the image codecs (issue: "the host is not thin"), nor any src/engine
 * module. Bundled here in memory with the build's own settings, so the rule holds for every import path, not
 * just today's.
 */
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(__dirname, '../..');
/** Packages only the engine (the worker, the CLI) may load. */
const ENGINE_ONLY_PACKAGES =
  /node_modules\/(@tensorflow|onnxruntime-node|onnxruntime-common|protobufjs|h5wasm|fflate|pngjs|jpeg-js|omggif|bmp-js|sharp)\//;
/**
 * The engine's sources: none reaches the host at run time (the onnxruntime machinery, for one, requires its
 * package by a computed name, invisible to the check above). Model files, their configuration and the zoo
 * live in src/files, which the host may bundle.
 */
const ENGINE_ONLY_SOURCES = ['src/engine/'];

/** Bundles `entry` as the build bundles the extension; its inputs and size. */
async function bundle(entry: string): Promise<{ inputs: string[]; bytes: number }> {
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, entry)],
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
  return { inputs: Object.keys(result.metafile.inputs), bytes: result.outputFiles[0].contents.byteLength };
}

/** The inputs a host bundle must not hold. */
function engineOnly(inputs: string[]): string[] {
  return inputs.filter((file) => ENGINE_ONLY_PACKAGES.test(file) || ENGINE_ONLY_SOURCES.some((source) => file.startsWith(source)));
}

describe('the extension host bundle', () => {
  it('holds no engine packages and no src/engine module (tfjs, onnxruntime, model readers, image codecs) and stays under 500 KB', async () => {
    const { inputs, bytes } = await bundle('src/extension.ts');
    assert.deepEqual(engineOnly(inputs), [], 'engine code reached from the host');
    for (const source of ENGINE_ONLY_SOURCES)
      assert.ok(existsSync(path.join(ROOT, source)), `${source} has moved: update ENGINE_ONLY_SOURCES`);
    assert.ok(bytes < 500 * 1024, `the host bundle is ${(bytes / 1024).toFixed(0)} KB`);
  });

  it("would notice tfjs: a bundle of the engine's one tfjs import fails the same check", async () => {
    const tfModule = 'src/engine/tfjs/tf.ts';
    const reached = engineOnly((await bundle(tfModule)).inputs);
    assert.ok(reached.includes(tfModule), `${tfModule} not flagged`);
    assert.ok(
      reached.some((file) => file.includes('node_modules/@tensorflow/tfjs-core/')),
      'tfjs-core not flagged',
    );
  });
});
