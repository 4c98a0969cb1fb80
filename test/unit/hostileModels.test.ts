/**
 * Model folders built to hurt: links out of the folder and to devices, named pipes, sparse gigabyte files,
 * manifests and topologies that declare more than the budgets, labels that do not fit. Each is refused
 * quickly, before anything large is read or allocated, with a ModelError naming the file, and leaves no
 * tensor behind.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Engine } from '../../src/engine/engine';
import { outputAndLimits } from '../../src/host/modelSetting';
import { fitLabelsNoted, parseLabels } from '../../src/files/modelConfig';
import { readModelFiles } from '../../src/files/modelFiles';
import { DEFAULT_MODEL_LIMITS } from '../../src/files/modelFolder';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { zipSync } from 'fflate';
import { MODEL_LIMITS_ENV } from '../../src/files/modelFolder';
import { functional, inputLayer, layer as kerasLayer } from './helpers/kerasArchive';
import { keras3Config, writeKeras3, writeLegacyH5 } from './helpers/kerasFiles';
import { encodeModel, type GraphSpec } from './helpers/onnxBuilder';
import { runCli } from './helpers/cli';
import { encodePng } from '../../src/engine/image';
import { modelOutline } from '../../src/host/modelView/modelOutline';
import { describeForPanel } from '../../src/host/panel/panelInit';
import type { EngineApi } from '../../src/host/engineApi';
import { saveModel, solidImage, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME, loadModel } from './helpers/suiteAcceleration';

const GiB = 1024 ** 3;
const SHARD = 'group1-shard1of1.bin';
const posix = process.platform !== 'win32';

async function tinyFolder(sidecar?: object, classes = 4): Promise<string> {
  const dir = tempDir();
  const model = twoConvGapModel(1, 6, 3, classes);
  await saveModel(model, dir, sidecar);
  model.dispose();
  return dir;
}

async function editJson(file: string, edit: (json: Record<string, any>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8'));
  edit(json);
  await fs.writeFile(file, JSON.stringify(json));
}

/** Loading `modelPath` fails fast with a ModelError matching every pattern, nothing left allocated. */
async function refused(modelPath: string, patterns: RegExp[], options: Parameters<typeof loadModel>[1] = {}): Promise<string> {
  const tensors = tf.memory().numTensors;
  const bytes = tf.memory().numBytes;
  const started = performance.now();
  let message = '';
  await assert.rejects(loadModel(modelPath, options), (error: Error) => {
    assert.equal(error.name, 'ModelError', error.stack);
    for (const pattern of patterns) assert.match(error.message, pattern);
    message = error.message;
    return true;
  });
  const ms = performance.now() - started;
  assert.ok(ms < 2000, `refused after ${ms.toFixed(0)} ms`);
  assert.equal(tf.memory().numTensors, tensors, 'tensors left behind');
  assert.ok(tf.memory().numBytes - bytes < 1024 * 1024, `${tf.memory().numBytes - bytes} bytes left allocated`);
  return message;
}

/** A sparse file: its size on paper, no disk blocks. */
async function sparse(file: string, size: number): Promise<void> {
  await fs.writeFile(file, '');
  await fs.truncate(file, size);
}

function mkfifo(file: string): void {
  execFileSync('mkfifo', [file]);
}

describe('hostile model folders', function () {
  before(async function () {
    if (!posix) this.skip();
    await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
  });

  describe('TF.js weight shards', () => {
    it('a shard linked to /dev/zero is refused (outside the folder), not read', async () => {
      const dir = await tinyFolder();
      await fs.rm(path.join(dir, SHARD));
      await fs.symlink('/dev/zero', path.join(dir, SHARD));
      await refused(dir, [
        /model\.json: weight file "group1-shard1of1\.bin" points outside the model's folder \(it resolves to \/dev\/zero\)/,
      ]);
    });

    it('a shard linked to a file outside the folder is refused; a link inside the folder is followed', async () => {
      const dir = await tinyFolder();
      const elsewhere = tempDir();
      await fs.rename(path.join(dir, SHARD), path.join(elsewhere, SHARD));
      await fs.symlink(path.join(elsewhere, SHARD), path.join(dir, SHARD));
      await refused(path.join(dir, 'model.json'), [/model\.json: weight file "group1-shard1of1\.bin" points outside the model's folder/]);
      await fs.rm(path.join(dir, SHARD));
      await fs.mkdir(path.join(dir, 'weights'));
      await fs.rename(path.join(elsewhere, SHARD), path.join(dir, 'weights', SHARD));
      await fs.symlink(path.join('weights', SHARD), path.join(dir, SHARD));
      const loaded = await loadModel(dir);
      assert.equal(loaded.summary.numClasses, 4);
      loaded.adapter.dispose();
    });

    it('a named pipe as a shard fails fast instead of hanging', async () => {
      const dir = await tinyFolder();
      await fs.rm(path.join(dir, SHARD));
      mkfifo(path.join(dir, SHARD));
      await refused(dir, [/model\.json: weight file "group1-shard1of1\.bin" is a named pipe \(FIFO\), not a regular file/]);
    });

    it('a named pipe as model.json fails fast', async () => {
      const dir = tempDir();
      mkfifo(path.join(dir, 'model.json'));
      await refused(dir, [/model\.json is a named pipe \(FIFO\), not a regular file/]);
    });

    it('a shard longer than declared is refused by its size, before it is read', async () => {
      const dir = await tinyFolder();
      await sparse(path.join(dir, SHARD), GiB);
      await refused(dir, [/model\.json: weight file\(s\) group1-shard1of1\.bin hold 1073741824 bytes but the weight specs need \d+/]);
    });

    it('a 1 KB model.json declaring a 150528×3000 Dense kernel is refused from its manifest', async () => {
      const dir = tempDir();
      const topology = {
        class_name: 'Sequential',
        config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'd', units: 3000, batch_input_shape: [null, 150528] } }] },
      };
      const manifest = [
        {
          paths: [SHARD],
          weights: [
            { name: 'd/kernel', shape: [150528, 3000], dtype: 'float32' },
            { name: 'd/bias', shape: [3000], dtype: 'float32' },
          ],
        },
      ];
      await fs.writeFile(
        path.join(dir, 'model.json'),
        JSON.stringify({ format: 'layers-model', modelTopology: topology, weightsManifest: manifest }),
      );
      await sparse(path.join(dir, SHARD), 150528 * 3000 * 4 + 3000 * 4);
      const message = await refused(dir, [
        /model\.json: weight "d\/kernel" \[150528,3000\] has 451584000 elements, over CNN Lens's limit of 268435456 \(maxTensorElements\)/,
      ]);
      assert.match(
        message,
        /raise the limit: --model-limits '\{"maxTensorElements": 536870912\}' \(CLI\), "cnnLens.modelLimits": \{"maxTensorElements": 536870912\} \(settings\) or CNN_LENS_MODEL_LIMITS='\{"maxTensorElements": 536870912\}'/,
      );
    });

    it('a topology implying a huge Dense kernel the manifest does not declare is refused before tfjs allocates it', async () => {
      const dir = tempDir();
      const small = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [10], units: 3, name: 'd' })] });
      await saveModel(small, dir);
      small.dispose();
      await editJson(path.join(dir, 'model.json'), (json) => {
        const layer = json.modelTopology.config.layers[0].config;
        layer.units = 3000;
        layer.batch_input_shape = [null, 150528];
      });
      await refused(dir, [
        /model\.json: layer "d" would create weight "kernel" \[150528,3000\], which the weightsManifest does not declare/,
      ]);
    });

    it('20,000 layers are refused by count, without a stack overflow', async () => {
      const dir = tempDir();
      const layers = Array.from({ length: 20_000 }, (_, i) => ({
        class_name: 'Activation',
        config: { name: `a${i}`, activation: 'relu', ...(i === 0 ? { batch_input_shape: [null, 4] } : {}) },
      }));
      await fs.writeFile(
        path.join(dir, 'model.json'),
        JSON.stringify({
          format: 'layers-model',
          modelTopology: { class_name: 'Sequential', config: { name: 's', layers } },
          weightsManifest: [],
        }),
      );
      await refused(dir, [/model\.json: the modelTopology has 20000 layers, over CNN Lens's limit of 5000 \(maxLayers\)/]);
    });

    it('a topology nested 100,000 deep is refused by depth, without a stack overflow', async () => {
      const dir = tempDir();
      const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
      await fs.writeFile(
        path.join(dir, 'model.json'),
        `{"format":"layers-model","modelTopology":{"class_name":"Sequential","config":${deep}},"weightsManifest":[]}`,
      );
      await refused(dir, [/model\.json: the modelTopology nests at least 101 levels deep, over CNN Lens's limit of 100 \(maxNesting\)/]);
    });

    it('a cancelled read stops: an aborted signal rejects before the shards are read', async () => {
      const dir = await tinyFolder();
      await assert.rejects(readModelFiles(dir, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    });

    it('weights over the memory budget are refused with the limit and how to raise it', async () => {
      const dir = await tinyFolder();
      const message = await refused(
        dir,
        [/model\.json: the weightsManifest declares \d+ bytes of weights, over CNN Lens's limit of 100 bytes \(maxWeightBytes\)/],
        {
          limits: { maxWeightBytes: 100 },
        },
      );
      assert.match(message, /CNN_LENS_MODEL_LIMITS='\{"maxWeightBytes": \d+\}'/);
      assert.ok(DEFAULT_MODEL_LIMITS.maxWeightBytes >= GiB);
    });

    it('the budgets come from --model-limits, then the cnnLens.modelLimits setting, then CNN_LENS_MODEL_LIMITS', async () => {
      const dir = await tinyFolder({ preprocess: 'zero-one' });
      const over = /model\.json: the weightsManifest declares \d+ bytes of weights, over CNN Lens's limit of 100 bytes \(maxWeightBytes\)/;
      // The settings' budgets are the loader's defaults; the CLI's are overrides and win.
      await assert.rejects(loadModel(dir, {}, { limits: { maxWeightBytes: 100 } }), over);
      (await loadModel(dir, { limits: { maxWeightBytes: 10_000 } }, { limits: { maxWeightBytes: 100 } })).adapter.dispose();
      const previous = process.env.CNN_LENS_MODEL_LIMITS;
      process.env.CNN_LENS_MODEL_LIMITS = '{"maxWeightBytes": 100}';
      try {
        await refused(dir, [over]);
        (await loadModel(dir, {}, { limits: { maxWeightBytes: 10_000 } })).adapter.dispose();
        const cli = (...args: string[]) => runCli(['layers', '--model', dir, '--backend', 'cpu', '--no-onnxruntime', ...args]);
        const refusedByEnv = await cli();
        assert.equal(refusedByEnv.code, 1);
        assert.match(refusedByEnv.err, over);
        const raised = await cli('--model-limits', '{"maxWeightBytes": 10000}');
        assert.equal(raised.code, 0, raised.err);
        const lowered = await cli('--model-limits', '{"maxLayers": 2}');
        assert.equal(lowered.code, 1);
        for (const [flag, message] of [
          ['lots', /--model-limits takes a JSON object such as --model-limits '\{"maxWeightBytes": 4294967296\}'; got "lots"/],
          ['{"maxWeights": 1}', /--model-limits: there is no model limit "maxWeights" \(the limits are maxWeightBytes, .*\)\. For example/],
          ['{"maxLayers": -1}', /--model-limits: "maxLayers" must be a positive whole number\./],
          ['[1]', /--model-limits must be an object of model limits\./],
        ] as const) {
          const bad = await cli('--model-limits', flag);
          assert.equal(bad.code, 2, bad.err);
          assert.match(bad.err, message);
        }
      } finally {
        if (previous === undefined) delete process.env.CNN_LENS_MODEL_LIMITS;
        else process.env.CNN_LENS_MODEL_LIMITS = previous;
      }
    });

    it('cnnLens.modelOutput and cnnLens.modelLimits: checked as the engine checks them, withheld in Restricted Mode', () => {
      assert.deepEqual(outputAndLimits(' colour ', { maxWeightBytes: 4 * GiB }), {
        output: 'colour',
        limits: { maxWeightBytes: 4 * GiB },
        problem: null,
      });
      assert.deepEqual(outputAndLimits('', {}), { problem: null });
      assert.match(
        outputAndLimits('', { maxWeight: 1 }).problem ?? '',
        /The cnnLens.modelLimits setting: there is no model limit "maxWeight"/,
      );
      assert.match(outputAndLimits('', { maxLayers: 0.5 }).problem ?? '', /"maxLayers" must be a positive whole number/);
      assert.match(outputAndLimits(3, {}).problem ?? '', /cnnLens.modelOutput setting must be a string/);
      // package.json: the settings exist, their budgets are the engine's, and a workspace cannot set them untrusted.
      const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));
      const settings = manifest.contributes.configuration.properties;
      assert.deepEqual(Object.keys(settings['cnnLens.modelLimits'].properties).sort(), Object.keys(DEFAULT_MODEL_LIMITS).sort());
      assert.equal(settings['cnnLens.modelOutput'].type, 'string');
      const restricted: string[] = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
      for (const key of ['cnnLens.model', 'cnnLens.labels', 'cnnLens.modelOutput', 'cnnLens.modelLimits']) {
        assert.ok(restricted.includes(key), `${key} is withheld in Restricted Mode`);
        assert.equal(settings[key].scope, 'resource', key);
      }
    });
  });

  describe('Keras files (.keras and .h5)', () => {
    /** A .keras archive of `config` alone (no weights entry), or with `entries` added. */
    async function configOnly(config: unknown, entries: Record<string, Uint8Array> = {}): Promise<string> {
      const file = path.join(tempDir(), 'model.keras');
      await fs.writeFile(file, zipSync({ 'config.json': new TextEncoder().encode(JSON.stringify(config)), ...entries }));
      return file;
    }

    /** A functional chain: an input, `n` ReLU activations, a global average pool (3 outputs, no weights). */
    function chain(n: number): Record<string, any> {
      const layers = [inputLayer('in', [4, 4, 3])];
      for (let i = 0; i < n; i++) layers.push(kerasLayer('Activation', `a${i}`, { activation: 'relu' }, [i ? `a${i - 1}` : 'in']));
      layers.push(kerasLayer('GlobalAveragePooling2D', 'gap', { data_format: 'channels_last', keepdims: false }, [n ? `a${n - 1}` : 'in']));
      return functional('chain', layers, 'in', 'gap');
    }

    it('20,000 layers are refused by count from the config, without a stack overflow (.keras and .h5)', async () => {
      await refused(await configOnly(chain(20_000)), [
        /model\.keras: the model config has 20002 layers, over CNN Lens's limit of 5000 \(maxLayers\)/,
        /CNN_LENS_MODEL_LIMITS='\{"maxLayers": 32768\}'/,
      ]);
      const model = twoConvGapModel(2);
      const config = model.toJSON(null, false) as Record<string, any>;
      const [first, ...rest] = config.config.layers;
      config.config.layers = [
        first,
        ...Array.from({ length: 20_000 }, (_, i) => ({ class_name: 'Activation', config: { name: `a${i}`, activation: 'relu' } })),
        ...rest,
      ];
      const h5 = await writeLegacyH5(model, path.join(tempDir(), 'model.h5'), { config });
      model.dispose();
      await refused(h5, [/model\.h5: the model config has 20004 layers, over CNN Lens's limit of 5000 \(maxLayers\)/]);
    });

    it('a config nested 100,000 deep is refused by depth', async () => {
      const file = path.join(tempDir(), 'model.keras');
      const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
      await fs.writeFile(file, zipSync({ 'config.json': new TextEncoder().encode(`{"class_name":"Functional","config":${deep}}`) }));
      await refused(file, [/model\.keras: the model config nests at least 101 levels deep, over CNN Lens's limit of 100 \(maxNesting\)/]);
    });

    it('the limits come from CNN_LENS_MODEL_LIMITS too: 12 layers over a limit of 10, then loaded under 20', async () => {
      const file = await configOnly(chain(10));
      const saved = process.env[MODEL_LIMITS_ENV];
      try {
        process.env[MODEL_LIMITS_ENV] = '{"maxLayers": 10}';
        await refused(file, [/the model config has 12 layers, over CNN Lens's limit of 10 \(maxLayers\)/]);
        process.env[MODEL_LIMITS_ENV] = '{"maxLayers": 20}';
        const loaded = await loadModel(file);
        assert.equal(loaded.summary.numClasses, 3);
        loaded.adapter.dispose();
      } finally {
        if (saved === undefined) delete process.env[MODEL_LIMITS_ENV];
        else process.env[MODEL_LIMITS_ENV] = saved;
      }
    });

    it('weights over the budget: a .keras by its weights entry, before it is inflated; an .h5 by its datasets, before they are read', async () => {
      const model = twoConvGapModel(3);
      const dir = tempDir();
      const keras = await writeKeras3(model, path.join(dir, 'model.keras'));
      const h5 = await writeLegacyH5(model, path.join(dir, 'model.h5'));
      model.dispose();
      await refused(
        keras,
        [/model\.keras: its model\.weights\.h5 inflates to \d+ bytes, over CNN Lens's limit of 100 bytes \(maxWeightBytes\)/],
        {
          limits: { maxWeightBytes: 100 },
        },
      );
      const message = await refused(
        h5,
        [/model\.h5: the weights it stores are \d+ bytes, over CNN Lens's limit of 100 bytes \(maxWeightBytes\)/],
        {
          limits: { maxWeightBytes: 100 },
        },
      );
      assert.match(message, /CNN_LENS_MODEL_LIMITS='\{"maxWeightBytes": \d+\}'/);
      // The conv_a kernel is 3×3×3×4: 108 elements.
      for (const file of [keras, h5]) {
        await refused(
          file,
          [/weight ".*" of layer "conv_a" \[3,3,3,4\] has 108 elements, over CNN Lens's limit of 100 \(maxTensorElements\)/],
          {
            limits: { maxTensorElements: 100 },
          },
        );
      }
    });

    it('a config implying a huge Dense kernel the file does not store is refused before tfjs allocates it', async () => {
      const layers = [
        inputLayer('in', [224, 224, 3]),
        kerasLayer('Flatten', 'flat', { data_format: 'channels_last' }, ['in']),
        kerasLayer('Dense', 'd', { units: 3000, activation: 'softmax', use_bias: true, kernel_initializer: null, bias_initializer: null }, [
          'flat',
        ]),
      ];
      await refused(await configOnly(functional('huge', layers, 'in', 'd')), [
        /model\.keras: layer "d" would create weight "kernel" \[150528,3000\], past the 0 weight values the file stores; the config and the weights do not match/,
      ]);
      // A real model (its kernel stored) still loads.
      const model = twoConvGapModel(4);
      const file = await writeKeras3(model, path.join(tempDir(), 'ok.keras'), { config: keras3Config(model) });
      model.dispose();
      const loaded = await loadModel(file);
      assert.equal(loaded.summary.numClasses, 4);
      loaded.adapter.dispose();
    });
  });

  describe('ONNX external data', () => {
    const C = 2;
    const K = 3;
    function spec(external: { location: string; offset?: number; length?: number }): GraphSpec {
      return {
        nodes: [
          { op: 'Conv', name: 'conv', inputs: ['image', 'w'], outputs: ['conv_out'], attrs: { kernel_shape: [3, 3] } },
          { op: 'GlobalAveragePool', name: 'gap', inputs: ['conv_out'], outputs: ['pooled'] },
          { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['logits'], attrs: { axis: 1 } },
        ],
        initializers: [{ name: 'w', dims: [K, C, 3, 3], data: [], external }],
        inputs: [{ name: 'image', dims: [1, C, 5, 5] }],
        outputs: [{ name: 'logits', dims: [1, K] }],
      };
    }
    const bytes = K * C * 3 * 3 * 4;

    async function onnxFolder(graph: GraphSpec): Promise<string> {
      const dir = tempDir();
      const file = path.join(dir, 'model.onnx');
      await fs.writeFile(file, encodeModel(graph));
      return file;
    }

    it('external data linked to /etc/passwd or /dev/zero is refused', async () => {
      for (const target of ['/etc/passwd', '/dev/zero']) {
        const file = await onnxFolder(spec({ location: 'weights.bin', length: bytes }));
        await fs.symlink(target, path.join(path.dirname(file), 'weights.bin'));
        await refused(file, [
          new RegExp(`model\\.onnx: external data "weights\\.bin" points outside the model's folder \\(it resolves to ${target}\\)`),
        ]);
      }
    });

    it('a named pipe as external data fails fast', async () => {
      const file = await onnxFolder(spec({ location: 'weights.bin', length: bytes }));
      mkfifo(path.join(path.dirname(file), 'weights.bin'));
      await refused(file, [/model\.onnx: external data "weights\.bin" is a named pipe \(FIFO\), not a regular file/]);
    });

    it('six initializers each declaring 1 GiB of one sparse file are refused before a byte is read', async () => {
      const n = 2 ** 28; // floats: 1 GiB
      const graph = spec({ location: 'big.bin', length: bytes });
      graph.initializers = Array.from({ length: 6 }, (_, i) => ({
        name: `big${i}`,
        dims: [n],
        data: [],
        external: { location: 'big.bin', offset: 0, length: 4 * n },
      }));
      graph.initializers.push({ name: 'w', dims: [K, C, 3, 3], data: [], external: { location: 'big.bin', length: bytes } });
      const file = await onnxFolder(graph);
      await sparse(path.join(path.dirname(file), 'big.bin'), GiB);
      await refused(file, [
        /model\.onnx: the tensors declared need 6 GiB \(\d+ bytes\), over CNN Lens's limit of 2 GiB \(2147483648 bytes\) \(maxWeightBytes\)/,
      ]);
    });

    it('initializers sharing one range read it once; a range past the file’s end is refused unread', async () => {
      const graph = spec({ location: 'w.bin', length: bytes });
      graph.initializers!.push({ name: 'unused_copy', dims: [K, C, 3, 3], data: [], external: { location: 'w.bin', length: bytes } });
      const file = await onnxFolder(graph);
      await fs.writeFile(path.join(path.dirname(file), 'w.bin'), Buffer.alloc(bytes, 1));
      const loaded = await loadModel(file);
      assert.equal(loaded.summary.numClasses, K);
      loaded.adapter.dispose();

      const past = await onnxFolder(spec({ location: 'w.bin', offset: GiB - 8, length: bytes }));
      await sparse(path.join(path.dirname(past), 'w.bin'), 1024);
      await refused(past, [/model\.onnx: external data "w\.bin" has 1024 bytes; bytes 1073741816–1073742032 were asked for/]);
    });
  });

  describe('labels', () => {
    it('a sidecar labels file linked to /etc/passwd is refused', async () => {
      const dir = await tinyFolder({ labels: 'labels.txt' });
      await fs.symlink('/etc/passwd', path.join(dir, 'labels.txt'));
      await refused(dir, [/cnnlens\.json: labels file "labels\.txt" points outside the model's folder \(it resolves to \/etc\/passwd\)/]);
    });

    it('a cnnlens.json or metadata.json linked out of the folder is refused', async () => {
      const dir = await tinyFolder();
      await fs.symlink('/etc/passwd', path.join(dir, 'metadata.json'));
      await refused(dir, [/metadata\.json: metadata file "metadata\.json" points outside the model's folder/]);
      await fs.rm(path.join(dir, 'metadata.json'));
      await fs.symlink('/etc/passwd', path.join(dir, 'cnnlens.json'));
      await refused(dir, [/cnnlens\.json: sidecar "cnnlens\.json" points outside the model's folder/]);
    });

    it('{"99999999": "x"} is refused without allocating 100 M labels', async () => {
      assert.throws(
        () => parseLabels('{"99999999":"x"}', 'big.json'),
        /Labels file big\.json: its 1 labels must be numbered 0 to 0 without gaps, but one is numbered 99999999/,
      );
      assert.throws(() => parseLabels('{"0":"a","2":"c"}', 'gap.json'), /numbered 0 to 1 without gaps, but one is numbered 2/);
      const dir = await tinyFolder();
      await fs.writeFile(path.join(dir, 'labels.json'), '{"99999999":"x"}');
      await fs.writeFile(path.join(dir, 'cnnlens.json'), '{"labels":"labels.json"}');
      await refused(dir, [/labels\.json: its 1 labels must be numbered 0 to 0/]);
    });

    it('a 1 GiB labels file is refused by its size, unread; a named pipe fails fast', async () => {
      const dir = await tinyFolder();
      const huge = path.join(tempDir(), 'labels.txt');
      await sparse(huge, GiB);
      await refused(
        dir,
        [/labels\.txt: the labels file is 1 GiB \(1073741824 bytes\), over CNN Lens's limit of 16 MiB \(16777216 bytes\) \(maxTextBytes\)/],
        { labelsPath: huge },
      );
      const pipe = path.join(tempDir(), 'labels.txt');
      mkfifo(pipe);
      await refused(dir, [/Labels file .*labels\.txt is a named pipe \(FIFO\), not a regular file/], { labelsPath: pipe });
    });

    describe('counts against outputs (1000 classes)', () => {
      let dir: string;
      const names = Array.from({ length: 1000 }, (_, i) => `n${i}`);
      before(async () => {
        dir = await tinyFolder(undefined, 1000);
      });

      it('1001 labels with a background class first: accepted, the extra one dropped and announced', async () => {
        for (const first of ['background', '__background__', 'None', 'UNUSED']) {
          await fs.writeFile(path.join(dir, 'labels.txt'), [first, ...names].join('\n'));
          const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
          const loaded = await engine.loadModel(dir, { labelsPath: path.join(dir, 'labels.txt') });
          assert.equal(loaded.labels.length, 1000);
          assert.equal(loaded.labels[0], 'n0');
          const start = tf.memory().numTensors;
          const result = await engine.explain(loaded, solidImage(6, 6, [90, 120, 150]), {});
          assert.equal(tf.memory().numTensors, start);
          const note = `Labels file ${path.join(dir, 'labels.txt')} has 1001 labels for the model's 1000 outputs: the first, "${first}", is a background class the model does not output, so it was dropped.`;
          assert.ok(result.notes.includes(note), result.notes.join(' | '));
          engine.dispose();
        }
      });

      it('1001 labels without a background class, or 10 for 1000: an error naming both counts and the file', async () => {
        await fs.writeFile(path.join(dir, 'labels.txt'), ['cat', ...names].join('\n'));
        const labels = path.join(dir, 'labels.txt');
        const file = labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        await refused(
          dir,
          [new RegExp(`^Labels file ${file} has 1001 labels but the model has 1000 outputs; the labels do not belong to this model`)],
          { labelsPath: labels },
        );
        await fs.writeFile(labels, names.slice(0, 10).join('\n'));
        await refused(dir, [new RegExp(`^Labels file ${file} has 10 labels but the model has 1000 outputs`)], { labelsPath: labels });
      });

      it('999 labels: output 0 is "(background)", and the note is on the loaded model and wherever the labels are used', async () => {
        const labels = path.join(dir, 'labels.txt');
        await fs.writeFile(labels, names.slice(0, 999).join('\n'));
        const note = `Labels file ${labels} has 999 labels for the model's 1000 outputs: output 0 is taken to be a background class and named "(background)".`;
        const engine = await Engine.create({ backend: 'cpu', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
        try {
          const loaded = await engine.loadModel(dir, { labelsPath: labels });
          assert.equal(loaded.summary.labelsNote, note, 'one home: the loaded model’s summary');
          assert.deepEqual(loaded.labels.slice(0, 2), ['(background)', 'n0']);
          const image = solidImage(6, 6, [90, 120, 150]);
          assert.ok((await engine.explain(loaded, image, {})).notes.includes(note), 'explain');
          const evaluation = await engine.evaluate(loaded, image, { techniques: ['gradcam'], steps: 2 });
          assert.deepEqual(evaluation.notes, [note], 'evaluate (the panel’s Compare, the CLI)');
          const info = { summary: loaded.summary, labels: loaded.labels, backend: 'cpu', sizeOnDisk: loaded.sizeOnDisk };
          const fitted = modelOutline(info)[0].children?.find((row) => row.id === 'summary:labelsNote');
          assert.equal(fitted?.description, note, 'the model view');
          const fake = { describeModel: async () => info, techniques: async () => [] } as unknown as EngineApi;
          const init = await describeForPanel(
            fake,
            'x.png',
            () => ({ colormap: 'jet', opacity: 0.5 }),
            () => 0,
          );
          assert.equal(init.model.labelsNote, note, 'the panel (its class picker)');
        } finally {
          engine.dispose();
        }

        const imagePath = path.join(tempDir(), 'image.png');
        await fs.writeFile(imagePath, encodePng(solidImage(6, 6, [90, 120, 150])));
        const args = [
          'evaluate',
          imagePath,
          '--model',
          dir,
          '--labels',
          labels,
          '--backend',
          'cpu',
          '--techniques',
          'gradcam',
          '--steps',
          '2',
        ];
        const text = await runCli(args);
        assert.equal(text.code, 0, text.err);
        assert.ok(text.out.split('\n').includes(`  note: ${note}`), text.out);
        const json = await runCli([...args, '--json', '-']);
        assert.equal(json.code, 0, json.err);
        assert.deepEqual(JSON.parse(json.out).notes, [note]);
      });

      it('fitLabelsNoted: equal counts untouched, one short gains "(background)" with a note', () => {
        assert.deepEqual(fitLabelsNoted(['a', 'b'], 2, 'L'), { labels: ['a', 'b'], note: null });
        const fitted = fitLabelsNoted(['a', 'b'], 3, 'L');
        assert.deepEqual(fitted.labels, ['(background)', 'a', 'b']);
        assert.match(fitted.note!, /L has 2 labels for the model's 3 outputs: output 0 is taken to be a background class/);
        assert.throws(() => fitLabelsNoted(['x', 'a', 'b'], 2, 'L'), /L has 3 labels but the model has 2 outputs/);
      });
    });
  });
});
