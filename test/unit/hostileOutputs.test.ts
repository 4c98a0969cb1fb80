/**
 * Issue 19, outputs and numbers: a model whose output is not one vector of class scores per image, with
 * several outputs and no choice, with NaN or infinite weights, or whose activations overflow, is refused
 * with a message naming the output, weight or layer — in explain and in every look-inside view (feature
 * maps, maximisation, class image, deep dream, inversion), from the engine and the CLI; model.json files
 * tfjs would refuse cryptically get a message naming the file and what is wrong. Each failure leaves
 * tf.memory().numTensors where it was.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Acceleration } from '../../src/engine/accel/ortRuntime';
import { Engine } from '../../src/engine/engine';
import { NonFiniteError } from '../../src/engine/finite';
import { featureMaps } from '../../src/engine/inspect/featureMaps';
import { visualize } from '../../src/engine/inspect/visualize';
import { encodePng } from '../../src/engine/image';
import { loadGraphAdapter } from '../../src/engine/models/graph/graphAdapter';
import { loadLayersAdapter } from '../../src/engine/models/layers/layersAdapter';
import { ModelError, readModelFiles } from '../../src/files/modelFiles';
import { OnnxAdapter } from '../../src/engine/models/onnx/onnxAdapter';
import { readOnnxFile } from '../../src/engine/models/onnx/onnxFile';
import { tf, tfl } from '../../src/engine/tfjs/tf';
import { runCli } from './helpers/cli';
import { encodeModel, pseudoRandom, type GraphSpec } from './helpers/onnxBuilder';
import { writeTinyGraphModel } from './helpers/tinyGraphModel';
import { saveModel, setWeights, solidImage, tempDir, twoConvGapModel } from './helpers/tinyModels';
import { loadModel } from './helpers/suiteAcceleration';

const acceleration = new Acceleration('off');

/** Runs `attempt`, expects it to fail with a message matching `pattern`, and no tensor left behind. */
async function refused(
  attempt: () => Promise<unknown>,
  pattern: RegExp,
  type: new (...args: never[]) => Error = ModelError,
): Promise<string> {
  const before = tf.memory().numTensors;
  let message = '';
  await assert.rejects(attempt, (error: Error) => {
    message = error.message;
    assert.ok(error instanceof type, `${error.name}: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  });
  assert.equal(tf.memory().numTensors, before, 'tensors left behind');
  return message;
}

async function saved(model: tfl.LayersModel): Promise<string> {
  const json = await saveModel(model, tempDir());
  model.dispose();
  return json;
}

async function editJson(file: string, edit: (json: Record<string, any>) => void): Promise<void> {
  const json = JSON.parse(await fs.readFile(file, 'utf8'));
  edit(json);
  await fs.writeFile(file, JSON.stringify(json));
}

/** A tiny model with one weight value replaced. */
async function withWeight(layer: string, index: number, value: number): Promise<string> {
  const model = twoConvGapModel(3);
  const weights = model.getLayer(layer).getWeights();
  const values = weights.map((w) => Array.from(w.dataSync()));
  values[index][0] = value;
  setWeights(model.getLayer(layer), values);
  return saved(model);
}

/** image → conv → GAP → two heads: "species" (4 classes) and "colour" (3). */
function twoOutputModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 3] });
  const features = tfl.layers
    .globalAveragePooling2d({})
    .apply(tfl.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv' }).apply(input)) as tfl.SymbolicTensor;
  const a = tfl.layers.dense({ units: 4, name: 'species' }).apply(features) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({ units: 3, name: 'colour' }).apply(features) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: [a, b] });
}

/** conv_a's activations are large and positive; conv_b multiplies them by 3e38: infinity from conv_b on. */
function overflowingModel(): tfl.Sequential {
  const model = twoConvGapModel(4);
  setWeights(model.getLayer('conv_a'), [new Array(108).fill(1), new Array(4).fill(1)]);
  setWeights(model.getLayer('conv_b'), [new Array(12).fill(3e38), new Array(3).fill(0)]);
  return model;
}

const loadLayers = async (json: string, output?: string) =>
  loadLayersAdapter(await readModelFiles(json), acceleration, output ? { output } : {});

describe('hostile outputs and numbers (issue 19)', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.create({ backend: 'cpu', onnxRuntime: 'off', log: () => undefined });
  });
  after(() => engine.dispose());

  describe('TF.js layers models', () => {
    it('refuses a 4-D output, naming it, its shape and why', async () => {
      const model = tfl.sequential({
        layers: [tfl.layers.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 3, padding: 'same', name: 'features' })],
      });
      const json = await saved(model);
      const message = await refused(
        () => loadModel(json),
        /output "features" has shape \[\?, 6, 6, 4\], which is not a vector of class scores per image \(6 × 6 × 4 values per image\)/i,
      );
      assert.ok(message.startsWith(json), message);
    });

    it('takes [batch, 1, 1, classes] as a vector of class scores', async () => {
      const model = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [6, 6, 3], filters: 5, kernelSize: 6, name: 'head' })] });
      const loaded = await loadModel(await saved(model));
      assert.equal(loaded.summary.numClasses, 5);
      loaded.adapter.dispose();
    });

    it('refuses two outputs listing both, and explains the one chosen', async () => {
      const json = await saved(twoOutputModel());
      await refused(
        () => loadModel(json),
        /has 2 outputs: "species" \[\?, 4\], "colour" \[\?, 3\]\. CNN Lens explains one vector of class scores per image; name the output to explain in cnnlens.json \("output": "species"\)/,
      );
      await refused(
        () => loadLayers(json, 'size'),
        /the chosen output "size" is not one of the model's outputs: "species" \[\?, 4\], "colour" \[\?, 3\]/,
      );
      const adapter = await loadLayers(json, 'colour');
      assert.equal(adapter.numClasses, 3);
      const scores = tf.tidy(() => adapter.scores(tf.ones([2, 6, 6, 3])).shape);
      assert.deepEqual(scores, [2, 3]);
      adapter.dispose();
    });

    it('refuses settings tfjs accepts but cannot run: strides 0, an input of 1e9 or "x" pixels (found by the fuzz run)', async () => {
      const strides = await saved(twoConvGapModel(3));
      await editJson(strides, (json) => (json.modelTopology.config.layers[1].config.strides = 0));
      await refused(() => loadModel(strides), /layer "conv_b" \(Conv2D\) would output shape \[\?, Infinity, Infinity, 3\]: its settings/);
      for (const side of [1e9, 'x']) {
        const huge = await saved(twoConvGapModel(3));
        await editJson(huge, (json) => (json.modelTopology.config.layers[0].config.batch_input_shape = [null, side, 6, 3]));
        await refused(
          () => loadModel(huge),
          /the model's input has size \[.*\] \(height, width, channels\); CNN Lens needs whole numbers from 1 to 8192/,
        );
      }
    });

    it('takes the output cnnlens.json names, through loadModel', async () => {
      const json = await saved(twoOutputModel());
      await fs.writeFile(path.join(path.dirname(json), 'cnnlens.json'), JSON.stringify({ output: 'colour' }));
      const loaded = await loadModel(json);
      assert.equal(loaded.summary.numClasses, 3);
      loaded.adapter.dispose();
    });

    it('takes the output --output names (CLI), before cnnlens.json, and the setting (cnnLens.modelOutput) after it', async () => {
      const json = await saved(twoOutputModel());
      const photo = path.join(path.dirname(json), 'photo.png');
      await fs.writeFile(photo, encodePng(solidImage(6, 6, [200, 100, 50])));
      const cli = (...args: string[]) => runCli([...args, '--model', json, '--backend', 'cpu', '--no-onnxruntime']);
      const none = await cli('layers');
      assert.equal(none.code, 1);
      assert.match(
        none.err,
        /has 2 outputs: .* name the output to explain in cnnlens.json \("output": "species"\), with --output species on the command line or the cnnLens.modelOutput setting/,
      );
      const layers = await cli('layers', '--output', 'colour');
      assert.equal(layers.code, 0, layers.err);
      assert.match(layers.out, /, 3 classes\)/);
      const explained = await cli('explain', photo, '--output', 'colour', '--json', '-');
      assert.equal(explained.code, 0, explained.err);
      assert.equal(JSON.parse(explained.out).predictions.length, 3);
      const wrong = await cli('featuremaps', photo, '--layer', 'conv', '--output', 'size', '--out', path.join(path.dirname(json), 'g.png'));
      assert.equal(wrong.code, 1);
      assert.match(
        wrong.err,
        /the chosen output "size" \(by --output\) is not one of the model's outputs: "species" \[\?, 4\], "colour" \[\?, 3\]/,
      );
      const empty = await cli('layers', '--output', ' ');
      assert.equal(empty.code, 2);

      // The engine as the editor calls it: the settings are defaults, cnnlens.json beats them, --output beats both.
      const fromSetting = await engine.loadModel(json, {}, { output: 'colour' });
      assert.equal(fromSetting.summary.numClasses, 3);
      await refused(
        () => engine.loadModel(json, {}, { output: 'size' }),
        /the chosen output "size" \(by the cnnLens.modelOutput setting\)/,
      );
      await fs.writeFile(path.join(path.dirname(json), 'cnnlens.json'), JSON.stringify({ output: 'species' }));
      assert.equal((await engine.loadModel(json, {}, { output: 'colour' })).summary.numClasses, 4);
      assert.equal((await engine.loadModel(json, { output: 'colour' }, { output: 'species' })).summary.numClasses, 3);
      const overridden = await cli('layers', '--output', 'colour');
      assert.match(overridden.out, /, 3 classes\)/);
    });

    it('refuses a NaN weight and an infinite bias at load, naming the weight', async () => {
      const nan = await withWeight('conv_a', 0, NaN);
      const inf = await withWeight('logits', 1, Infinity);
      await refused(() => loadModel(nan), /weight "conv_a\/kernel" holds NaN; a model with NaN or infinite weights/i);
      await refused(() => loadModel(inf), /weight "logits\/bias" holds infinity/i);
    });

    it('refuses class scores that overflow, naming the first layer that overflowed; nothing drawn', async () => {
      const loaded = await engine.loadModel(await saved(overflowingModel()));
      await refused(
        () => engine.explain(loaded, solidImage(6, 6, [255, 255, 255]), { technique: 'gradcam' }),
        /Model ".*" gives non-finite values \(NaN or infinity\) in the class scores for this image, so nothing is drawn: layer "conv_b" \(Conv2D\) is the first to produce them/,
        NonFiniteError,
      );
    });

    describe('look inside a model whose activations overflow', () => {
      const FIRST = /layer "conv_b" \(Conv2D\) is the first to produce them; its weights or its input overflow float32's range/;
      const white = solidImage(6, 6, [255, 255, 255]);
      let json: string;
      before(async () => {
        json = await saved(overflowingModel());
      });

      it('feature maps: refused naming the first layer, from the functions and engine.inspect', async () => {
        const loaded = await engine.loadModel(json);
        const message = await refused(async () => featureMaps(loaded, white, 'conv_b'), FIRST, NonFiniteError);
        assert.match(
          message,
          /^Model ".*" gives non-finite values \(NaN or infinity\) in the feature maps of layer "conv_b" for this image, so nothing is drawn/,
        );
        await refused(
          () =>
            engine.inspect(loaded, white, {
              kind: 'featuremaps',
              layer: 'conv_b',
              filter: null,
              classIndex: null,
              steps: null,
              seed: 0,
              fourier: false,
            }),
          FIRST,
          NonFiniteError,
        );
        // One channel over the image goes through the same maps.
        await refused(
          () =>
            engine.inspect(loaded, white, {
              kind: 'featuremaps',
              layer: 'conv_b',
              filter: 1,
              classIndex: null,
              steps: null,
              seed: 0,
              fourier: false,
            }),
          FIRST,
          NonFiniteError,
        );
        // The layer before the overflow is finite: its maps are drawn.
        assert.equal(featureMaps(loaded, white, 'conv_a').channels, 4);
      });

      it('maximize, class image, deep dream and inversion stop at their first step, naming the first layer', async () => {
        const loaded = await engine.loadModel(json);
        const cases = [
          [
            { kind: 'maximize', layer: 'conv_b', filter: 0 },
            /in the activation-maximisation objective \(layer "conv_b" filter 0\) for the image being optimised \(step 1\)/,
          ],
          [
            { kind: 'classimage', classTarget: 2 },
            /in the class-image objective \(the score of class 2\) for the image being optimised \(step 1\)/,
          ],
          [
            { kind: 'dream', layer: 'conv_b', image: white },
            /in the deep-dream objective \(layer "conv_b"\) for the image being optimised \(step 1\)/,
          ],
          [{ kind: 'invert', layer: 'conv_b', image: white }, /in the representation at layer "conv_b" to invert for this image/],
        ] as const;
        for (const [options, what] of cases) {
          const previews: number[] = [];
          const message = await refused(
            async () => visualize(loaded, { steps: 20, ...options }, undefined, (_image, fraction) => previews.push(fraction)),
            FIRST,
            NonFiniteError,
          );
          assert.match(message, what);
          assert.deepEqual(previews, [], `${options.kind}: nothing drawn`);
        }
        // Through the engine as the panel asks.
        await refused(
          () =>
            engine.inspect(loaded, white, {
              kind: 'classimage',
              layer: null,
              filter: null,
              classIndex: 1,
              steps: 5,
              seed: 0,
              fourier: true,
            }),
          FIRST,
          NonFiniteError,
        );
        // Maximising a filter of the finite layer still works.
        const fine = visualize(loaded, { kind: 'maximize', layer: 'conv_a', filter: 0, steps: 3 });
        assert.ok(fine.history.every(Number.isFinite));
      });

      it('the CLI exits 1 with the message and writes nothing', async () => {
        const dir = tempDir();
        const photo = path.join(dir, 'white.png');
        await fs.writeFile(photo, encodePng(solidImage(6, 6, [255, 255, 255])));
        for (const args of [
          ['featuremaps', photo, '--layer', 'conv_b'],
          ['maximize', '--layer', 'conv_b', '--filter', '0', '--steps', '5'],
          ['classimage', '--class', '0', '--steps', '5'],
          ['dream', photo, '--layer', 'conv_b', '--steps', '5'],
          ['invert', photo, '--layer', 'conv_b', '--steps', '5'],
        ]) {
          const out = path.join(dir, `${args[0]}.png`);
          const { code, out: stdout, err } = await runCli([...args, '--model', json, '--backend', 'cpu', '--no-onnxruntime', '--out', out]);
          assert.equal(code, 1, `${args[0]}: ${stdout}\n${err}`);
          assert.match(
            err,
            /^cnn-lens: Model ".*" gives non-finite values \(NaN or infinity\) in the .* so nothing is drawn: layer "conv_b" \(Conv2D\) is the first/,
          );
          assert.doesNotMatch(stdout, /NaN/);
          assert.deepEqual(
            (await fs.readdir(dir)).filter((name) => name !== 'white.png'),
            [],
            `${args[0]} wrote nothing`,
          );
        }
      });
    });

    it("refuses a map that overflows in the technique's own arithmetic although the scores are finite", async () => {
      // Grad-CAM++'s g³ overflows for gradients of 1e13; over a dead channel (Σ A = 0) 0 · ∞ = NaN.
      const model = tfl.sequential();
      model.add(tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 2, kernelSize: 1, activation: 'relu', name: 'colour' }));
      model.add(tfl.layers.globalAveragePooling2d({}));
      model.add(tfl.layers.dense({ units: 2, name: 'logits' }));
      setWeights(model.getLayer('colour'), [
        [1e-20, 0, 0, 1e-20, 0, 0],
        [0, 0],
      ]);
      setWeights(model.getLayer('logits'), [
        [1e15, 1e15, 1e15, 1e15],
        [0, 0],
      ]);
      const loaded = await engine.loadModel(await saved(model));
      await refused(
        () => engine.explain(loaded, solidImage(8, 8, [255, 0, 0]), { technique: 'gradcam++', classIndex: 0 }),
        /in the Grad-CAM\+\+ map of ".*" for this image, so nothing is drawn: every layer's output is finite/,
        NonFiniteError,
      );
    });
  });

  describe('model.json messages', () => {
    async function tinyJson(): Promise<string> {
      return saved(twoConvGapModel(5));
    }

    const cases: [string, (json: Record<string, any>) => void, RegExp][] = [
      [
        'a topology of {}',
        (j) => (j.modelTopology = {}),
        /modelTopology is not a Keras model config \(it needs "class_name" and "config"; it has nothing: it is \{\}\)/,
      ],
      ['a config of {}', (j) => (j.modelTopology.config = {}), /the Sequential model's config has no layer list/],
      [
        'an empty layer list',
        (j) => {
          j.modelTopology.config.layers = [];
          j.weightsManifest = [];
        },
        /the Sequential model has no layers \(its layer list is empty\), so there is nothing to run or explain/,
      ],
      [
        'a Lambda layer',
        (j) => (j.modelTopology.config.layers[1].class_name = 'Lambda'),
        /has a layer CNN Lens cannot import: "conv_b" \(Lambda: Python code, never run\)\. CNN Lens never runs code from a model file/,
      ],
      [
        'an unknown layer class',
        (j) => (j.modelTopology.config.layers[1].class_name = 'FancyConv'),
        /"conv_b" \(FancyConv, which TensorFlow.js does not implement\)/,
      ],
      [
        'int32 weights',
        (j) => (j.weightsManifest[0].weights[0].dtype = 'int32'),
        /weight "conv_a\/kernel" \[3,3,3,4\] is stored as int32; a layers model's weights are float32/,
      ],
    ];
    for (const [what, edit, pattern] of cases) {
      it(`names the file and the problem for ${what}`, async () => {
        const json = await tinyJson();
        await editJson(json, edit);
        const message = await refused(() => loadLayers(json), pattern);
        assert.ok(message.startsWith(json), message);
      });
    }

    it('says a layers model.json marked "graph-model" is a Keras config', async () => {
      const json = await tinyJson();
      await editJson(json, (j) => (j.format = 'graph-model'));
      const files = await readModelFiles(json);
      assert.equal(files.format, 'graph');
      await refused(
        () => loadGraphAdapter(files, acceleration),
        /says it is a graph model \("format": "graph-model"\) but its modelTopology is a Keras \(layers\) model config; set "format": "layers-model"/,
      );
    });
  });

  describe('TF.js graph models', () => {
    /** The tiny graph with a second leaf: conv/Relu → Relu "feat", a 4-D output. */
    async function twoOutputGraph(): Promise<string> {
      const json = await writeTinyGraphModel(tempDir(), { withStridedSlice: false });
      await editJson(json, (j) =>
        j.modelTopology.node.push({ name: 'feat', op: 'Relu', input: ['conv/Relu'], attr: { T: { type: 'DT_FLOAT' } } }),
      );
      return json;
    }

    it('refuses two outputs listing their shapes, refuses a chosen 4-D output, and explains a chosen vector', async () => {
      const json = await twoOutputGraph();
      await refused(
        () => loadModel(json),
        /has 2 outputs: ("logits" \[\?, 2\], "feat" \[\?, 8, 8, 4\]|"feat" \[\?, 8, 8, 4\], "logits" \[\?, 2\])/,
      );
      const files = await readModelFiles(json);
      await refused(
        () => loadGraphAdapter(files, acceleration, { output: 'feat' }),
        /output "feat" has shape \[\?, 8, 8, 4\], which is not a vector of class scores per image/,
      );
      const adapter = await loadGraphAdapter(files, acceleration, { output: 'logits' });
      assert.equal(adapter.numClasses, 2);
      adapter.dispose();
    });

    it('refuses a NaN bias at load, naming the weight', async () => {
      const json = await writeTinyGraphModel(tempDir());
      const shard = path.join(path.dirname(json), 'group1-shard1of1.bin');
      const bytes = await fs.readFile(shard);
      bytes.writeFloatLE(NaN, 108 * 4); // conv/bias[0], after the 3×3×3×4 kernel
      await fs.writeFile(shard, bytes);
      await refused(() => loadModel(json), /weight "conv\/bias" holds NaN/i);
    });

    it('says which float weight is stored as int32', async () => {
      const json = await writeTinyGraphModel(tempDir());
      await editJson(json, (j) => (j.weightsManifest[0].weights[0].dtype = 'int32'));
      await refused(
        async () => loadGraphAdapter(await readModelFiles(json), acceleration),
        /weight "conv\/kernel" is stored as int32, but node "conv\/Conv2D" \(Conv2D\) needs float32 values/,
      );
    });
  });

  describe('ONNX files', () => {
    /** image [N, 3, 4, 4] → Conv 1×1 (2 channels) "feat" → GlobalAveragePool "pooled" [N, 2, 1, 1] → Flatten → Gemm "logits" [N, 3]. */
    function spec(outputs: string[], edit: (s: GraphSpec) => void = () => {}): GraphSpec {
      const shapes: Record<string, (number | string)[]> = { feat: ['N', 2, 4, 4], pooled: ['N', 2, 1, 1], logits: ['N', 3] };
      const s: GraphSpec = {
        nodes: [
          { op: 'Conv', name: 'conv', inputs: ['image', 'w', 'b'], outputs: ['feat'], attrs: { kernel_shape: [1, 1] } },
          { op: 'GlobalAveragePool', name: 'gap', inputs: ['feat'], outputs: ['pooled'] },
          { op: 'Flatten', name: 'flatten', inputs: ['pooled'], outputs: ['flat'], attrs: { axis: 1 } },
          { op: 'Gemm', name: 'fc', inputs: ['flat', 'fc_w', 'fc_b'], outputs: ['logits'], attrs: { transB: 1 } },
        ],
        initializers: [
          { name: 'w', dims: [2, 3, 1, 1], data: pseudoRandom(6, 1) },
          { name: 'b', dims: [2], data: [0.1, -0.1] },
          { name: 'fc_w', dims: [3, 2], data: pseudoRandom(6, 2) },
          { name: 'fc_b', dims: [3], data: [0, 0, 0] },
        ],
        inputs: [{ name: 'image', dims: ['N', 3, 4, 4] }],
        outputs: outputs.map((name) => ({ name, dims: shapes[name] })),
      };
      edit(s);
      return s;
    }

    async function written(s: GraphSpec): Promise<string> {
      const file = path.join(tempDir(), 'model.onnx');
      await fs.writeFile(file, encodeModel(s));
      return file;
    }

    it('refuses a 4-D output naming it and its shape; takes [N, classes, 1, 1]', async () => {
      const file = await written(spec(['feat']));
      await refused(() => loadModel(file), /output "feat" has shape \[\?, 2, 4, 4\], which is not a vector of class scores per image/);
      const loaded = await loadModel(await written(spec(['pooled'])));
      assert.equal(loaded.summary.numClasses, 2);
      loaded.adapter.dispose();
    });

    it('refuses two outputs listing their shapes, and explains the one chosen', async () => {
      const file = await written(spec(['logits', 'feat']));
      await refused(() => loadModel(file), /has 2 outputs: "logits" \[\?, 3\], "feat" \[\?, 2, 4, 4\]/);
      const { model } = await readOnnxFile(file);
      const adapter = new OnnxAdapter(model, file, acceleration, { output: 'logits' });
      assert.equal(adapter.numClasses, 3);
      adapter.dispose();
    });

    it('refuses an infinite bias at load, naming the weight', async () => {
      const file = await written(spec(['logits'], (s) => (s.initializers![3].data = [0, Infinity, 0])));
      await refused(() => loadModel(file), /weight "fc_b" holds infinity/);
    });
  });
});
