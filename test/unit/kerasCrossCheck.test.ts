/**
 * Keras files across tools: h5py (the HDF5 binding Keras itself writes with) writes a legacy .h5 the way
 * Keras 2's hdf5_format.save_model_to_hdf5 does — fixed-length byte-string attributes, `layer_names`,
 * `weight_names`, nested datasets — and CNN Lens reads it; h5py reads what the test helpers write with
 * h5wasm. Skipped with a reason where /usr/bin/python3 has no h5py (Debian: apt-get install python3-h5py).
 * Also: the imported model on the wasm backend (gradients through CNN Lens's own kernels) and the CLI.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli';
import { Engine } from '../../src/engine/engine';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { writeKeras3, writeLegacyH5 } from './helpers/kerasFiles';
import { noiseImage, tempDir, twoConvGapModel } from './helpers/tinyModels';

const PYTHON = '/usr/bin/python3';

function h5pyMissing(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import h5py'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} with h5py is not available (apt-get install python3-h5py)`;
  }
}

function python(script: string, args: string[]): string {
  return execFileSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8' });
}

/** Keras 2 legacy layout as tf_keras/saving/legacy/hdf5_format.py writes it (np.bytes_ attributes). */
const WRITE_LEGACY = `
import json, sys
import h5py, numpy as np
spec = json.load(open(sys.argv[1]))
with h5py.File(sys.argv[2], "w") as f:
    f.attrs["keras_version"] = "2.15.0".encode("utf8")
    f.attrs["backend"] = "tensorflow".encode("utf8")
    f.attrs["model_config"] = json.dumps(spec["config"]).encode("utf8")
    g = f.create_group("model_weights")
    g.attrs["layer_names"] = np.array([n.encode("utf8") for n in spec["layer_names"]])
    g.attrs["backend"] = "tensorflow".encode("utf8")
    g.attrs["keras_version"] = "2.15.0".encode("utf8")
    for layer in spec["layers"]:
        lg = g.create_group(layer["name"])
        names = [w["name"].encode("utf8") for w in layer["weights"]]
        lg.attrs["weight_names"] = np.array(names)
        for w in layer["weights"]:
            ds = lg.create_dataset(w["name"], tuple(w["shape"]), dtype="float32")
            ds[()] = np.array(w["values"], dtype="float32").reshape(w["shape"]) if w["shape"] else w["values"]
`;

/** What a Keras loader sees in a file: every weight by layer, with its shape and sum. */
const READ_WEIGHTS = `
import json, sys
import h5py, numpy as np
out = {}
with h5py.File(sys.argv[1], "r") as f:
    if sys.argv[2] == "legacy":
        json.loads(f.attrs["model_config"])
        g = f["model_weights"]
        for name in g.attrs["layer_names"]:
            name = name.decode() if isinstance(name, bytes) else name
            if name not in g: continue
            lg = g[name]
            wn = [n.decode() if isinstance(n, bytes) else n for n in lg.attrs["weight_names"]]
            out[name] = [[list(lg[n].shape), float(np.sum(lg[n][()]))] for n in wn]
    else:
        for key in f["layers"]:
            v = f["layers"][key]["vars"]
            out[key] = [[list(v[str(i)].shape), float(np.sum(v[str(i)][()]))] for i in range(len(v))]
print(json.dumps(out))
`;
import { SUITE_ONNXRUNTIME, loadModel } from './helpers/suiteAcceleration';

describe('Keras files across tools (h5py) and backends', () => {
  const missing = h5pyMissing();

  it('reads a legacy .h5 that h5py wrote as Keras 2 does', async function () {
    if (missing) this.skip();
    const original = twoConvGapModel(41);
    const spec = {
      config: original.toJSON(null, false),
      layer_names: original.layers.map((l) => l.name),
      layers: original.layers
        .filter((l) => l.weights.length)
        .map((l) => ({
          name: l.name,
          weights: l.weights.map((w) => ({ name: `${w.originalName}:0`, shape: w.shape, values: Array.from(w.read().dataSync()) })),
        })),
    };
    const dir = tempDir();
    const specFile = path.join(dir, 'spec.json');
    await fs.writeFile(specFile, JSON.stringify(spec));
    const file = path.join(dir, 'from_h5py.h5');
    python(WRITE_LEGACY, [specFile, file]);
    const loaded = await loadModel(file);
    tf.tidy(() => {
      const x = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 4);
      const want = (original.predict(x) as tf.Tensor).dataSync();
      const got = loaded.adapter.scores(x as tf.Tensor4D).dataSync();
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(want[i] - got[i]) < 1e-5);
    });
    loaded.adapter.dispose();
    original.dispose();
  });

  it('h5py reads the legacy .h5 and Keras 3 weights the test helpers write, as Keras would', async function () {
    if (missing) this.skip();
    const original = twoConvGapModel(42);
    const dir = tempDir();
    const sums = (layer: tfl.layers.Layer) => layer.weights.map((w) => [w.shape, w.read().sum().dataSync()[0]]);
    const legacy = JSON.parse(python(READ_WEIGHTS, [await writeLegacyH5(original, path.join(dir, 'm.h5')), 'legacy']));
    assert.deepEqual(Object.keys(legacy), ['conv_a', 'conv_b', 'logits']);
    for (const [name, weights] of Object.entries(legacy) as [string, [number[], number][]][]) {
      const expected = sums(original.getLayer(name));
      weights.forEach(([shape, sum], i) => {
        assert.deepEqual(shape, expected[i][0]);
        assert.ok(Math.abs(sum - (expected[i][1] as number)) < 1e-4);
      });
    }
    // Keras 3: unzip model.weights.h5 and let h5py walk layers/*/vars/*.
    const { unzipSync } = await import('fflate');
    const archive = unzipSync(await fs.readFile(await writeKeras3(original, path.join(dir, 'm.keras'))));
    const weightsFile = path.join(dir, 'model.weights.h5');
    await fs.writeFile(weightsFile, archive['model.weights.h5']);
    const keras3 = JSON.parse(python(READ_WEIGHTS, [weightsFile, 'keras3']));
    assert.deepEqual(Object.keys(keras3).sort(), ['conv2d', 'conv2d_1', 'dense']);
    assert.deepEqual(keras3.conv2d_1[0][0], [1, 1, 4, 3]);
    original.dispose();
  });

  it('explains an imported Keras model on wasm, gradients included', async () => {
    const engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    const original = twoConvGapModel(43, 8);
    const dir = tempDir();
    const loaded = await loadModel(await writeKeras3(original, path.join(dir, 'm.keras')));
    const before = tf.memory().numTensors;
    for (const technique of ['gradcam', 'guided-backprop', 'integrated-gradients']) {
      const result = await engine.explain(loaded, noiseImage(16, 16, 7), {
        technique,
        classTarget: 0,
        parameters: technique === 'integrated-gradients' ? { steps: 4 } : undefined,
      });
      assert.ok(result.heatmap.data.length > 0, technique);
    }
    assert.equal(tf.memory().numTensors, before);
    loaded.adapter.dispose();
    original.dispose();
    await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
  });

  it('the CLI lists the layers of a .keras and an .h5 model', async () => {
    const original = twoConvGapModel(44);
    const dir = tempDir();
    const files = [await writeKeras3(original, path.join(dir, 'm.keras')), await writeLegacyH5(original, path.join(dir, 'm.h5'))];
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      for (const file of files) assert.equal(await main(['layers', '--model', file, '--json', '--backend', 'cpu']), 0);
    } finally {
      console.log = log;
    }
    for (const line of lines) {
      const json = JSON.parse(line);
      assert.equal(json.format, 'keras');
      assert.deepEqual(
        json.layers.map((l: { name: string }) => l.name),
        ['conv_a', 'conv_b', 'gap', 'logits'],
      );
    }
    original.dispose();
  });
});
