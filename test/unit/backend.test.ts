import { strict as assert } from 'node:assert';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { tf } from '../../src/engine/tfjs/tf';

describe('backend selection', () => {
  after(() => selectBackend({ choice: 'cpu', log: () => undefined }));

  it('auto falls through the chain, logging why each unavailable backend was skipped', async function () {
    const lines: string[] = [];
    const selected = await selectBackend({ choice: 'auto', log: (line) => lines.push(line) });
    let nativeInstalled = true;
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      nativeInstalled = false;
    }
    if (!nativeInstalled) {
      assert.equal(selected.name, 'wasm');
      assert.match(selected.label, /^wasm/);
      assert.ok(
        lines.some((l) => /tensorflow-gpu: not available/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /tensorflow: not available/.test(l)),
        lines.join('\n'),
      );
    } else {
      assert.equal(selected.name, 'tensorflow');
    }
    assert.equal(tf.getBackend(), selected.name);
  });

  it('a forced backend that cannot load is a clear error, not a crash', async function () {
    let nativeInstalled = true;
    try {
      require.resolve('@tensorflow/tfjs-node-gpu');
    } catch {
      nativeInstalled = false;
    }
    if (nativeInstalled) {
      console.log('    (skipped: @tensorflow/tfjs-node-gpu is installed here)');
      this.skip();
    }
    await assert.rejects(selectBackend({ choice: 'tensorflow-gpu', log: () => undefined }), /backend "tensorflow-gpu" could not be loaded/);
  });

  it('can force cpu and wasm', async () => {
    assert.equal((await selectBackend({ choice: 'cpu', log: () => undefined })).name, 'cpu');
    assert.equal((await selectBackend({ choice: 'wasm', log: () => undefined })).name, 'wasm');
  });
});
