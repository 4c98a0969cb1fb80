/**
 * What the ONNX executor computes once, at load: nodes that read only constants, and (foldStaticShapes)
 * nodes that read the input only through its static dimensions. The batch dimension stays open: what
 * depends on it is computed every run, so a folded graph gives the unfolded graph's (and onnxruntime's)
 * results at any batch size. Re-folding follows replaced constants (the randomisation check).
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { decodeOnnx } from '../../src/engine/models/onnx/onnxFile';
import { OnnxExecutor } from '../../src/engine/models/onnx/executor';
import { nhwcValue, plain, plainValue, type Value } from '../../src/engine/models/onnx/ops/types';
import { tf } from '../../src/engine/tfjs/tf';
import { encodeModel, pseudoRandom, type GraphSpec, type Initializer } from './helpers/onnxBuilder';
import { onnxTestModels } from './helpers/onnxModels';

const ints = (name: string, data: number[], dims = [data.length]): Initializer => ({ name, dims, data, dataType: 7 });

const [C, H, W] = [2, 4, 6];

/**
 * x [n, 2, 4, 6]: a mask over the rows built from H (Range → Mod → Equal → Where), a scale from H·W, and
 * the batch read from x's shape for the final Reshape to [n, 48] — as exporters write x.view(x.size(0), -1).
 */
const SPEC: GraphSpec = {
  nodes: [
    { op: 'Shape', inputs: ['x'], outputs: ['shape'] },
    { op: 'Gather', inputs: ['shape', 'i0'], outputs: ['n'], attrs: { axis: 0 } },
    { op: 'Gather', inputs: ['shape', 'i2'], outputs: ['h'], attrs: { axis: 0 } },
    { op: 'Gather', inputs: ['shape', 'i3'], outputs: ['w'], attrs: { axis: 0 } },
    { op: 'Range', inputs: ['zero', 'h', 'one'], outputs: ['rows'] },
    { op: 'Mod', inputs: ['rows', 'two'], outputs: ['odd'] },
    { op: 'Equal', inputs: ['odd', 'zero'], outputs: ['even'] },
    { op: 'Cast', inputs: ['rows'], outputs: ['rowsf'], attrs: { to: 1 } },
    { op: 'Where', inputs: ['even', 'rowsf', 'minus'], outputs: ['mask'] },
    { op: 'Unsqueeze', inputs: ['mask', 'axis1'], outputs: ['mask2'] },
    { op: 'Mul', inputs: ['h', 'w'], outputs: ['hw'] },
    { op: 'Cast', inputs: ['hw'], outputs: ['hwf'], attrs: { to: 1 } },
    { op: 'Div', inputs: ['x', 'hwf'], outputs: ['scaled'] },
    { op: 'Mul', inputs: ['scaled', 'mask2'], outputs: ['masked'] },
    { op: 'Unsqueeze', inputs: ['n', 'axis0'], outputs: ['n1'] },
    { op: 'Concat', inputs: ['n1', 'minus1'], outputs: ['target'], attrs: { axis: 0 } },
    { op: 'Reshape', inputs: ['masked', 'target'], outputs: ['y'] },
  ],
  initializers: [
    ints('i0', [0], []),
    ints('i2', [2], []),
    ints('i3', [3], []),
    ints('zero', [0], []),
    ints('one', [1], []),
    ints('two', [2], []),
    { name: 'minus', dims: [], data: [-1] },
    ints('axis1', [1]),
    ints('axis0', [0]),
    ints('minus1', [-1]),
  ],
  inputs: [{ name: 'x', dims: ['batch', C, H, W] }],
  outputs: [{ name: 'y', dims: ['batch', C * H * W] }],
};

function feed(batch: number, nhwc: boolean): Map<string, Value> {
  const data = tf.tensor(pseudoRandom(batch * C * H * W, batch), nhwc ? [batch, H, W, C] : [batch, C, H, W]);
  return new Map([['x', nhwc ? nhwcValue(data) : plainValue(data)]]);
}

function run(executor: OnnxExecutor, batch: number, output: string, nhwc = false): number[] {
  const result = tf.tidy(() => {
    const values = feed(batch, nhwc);
    executor.run(executor.plan([output]), values);
    return plain(values.get(output) ?? executor.known(output)!);
  });
  const data = Array.from(result.dataSync());
  result.dispose();
  return data;
}

describe('ONNX executor: folding at load', () => {
  it('folds the static-size arithmetic and keeps the batch-size arithmetic, equal results at batch 1, 2 and 3', () => {
    const model = decodeOnnx(encodeModel(SPEC), 'fold');
    const before = tf.memory().numTensors;
    const unfolded = new OnnxExecutor(model, 'fold', { foldConstants: false });
    const folded = new OnnxExecutor(model, 'fold');
    try {
      const count = folded.foldStaticShapes((batch) => feed(batch, false));
      const kinds = folded.plan(['y']).map((s) => s.node.opType);
      // Left to run: Shape → Gather(0) → Unsqueeze → Concat → Reshape (the batch), and the tensor work.
      assert.deepEqual(kinds, ['Shape', 'Gather', 'Div', 'Mul', 'Unsqueeze', 'Concat', 'Reshape']);
      assert.equal(count, 10, 'the mask, the scale and the static shape values are folded');
      assert.equal(unfolded.plan(['y']).length, SPEC.nodes.length);
      for (const batch of [1, 2, 3]) {
        const a = run(unfolded, batch, 'y');
        const b = run(folded, batch, 'y');
        assert.equal(b.length, batch * C * H * W);
        assert.deepEqual(b, a, `batch ${batch}`);
      }
      // An NHWC-stored input (what the adapter feeds) reads its shapes in the logical layout.
      assert.deepEqual(run(folded, 2, 'y', true), run(unfolded, 2, 'y', true));
    } finally {
      unfolded.dispose();
      folded.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'folded values are disposed with the executor');
  });

  it('computes constant-only nodes at load and re-folds them when replaceConstants changes what they read', () => {
    const weight = pseudoRandom(3 * 4, 3);
    const model = decodeOnnx(
      encodeModel({
        nodes: [
          { op: 'Transpose', inputs: ['w'], outputs: ['wt'], attrs: { perm: [1, 0] } },
          { op: 'Mul', inputs: ['wt', 'half'], outputs: ['ws'] },
          { op: 'MatMul', inputs: ['x', 'ws'], outputs: ['y'] },
        ],
        initializers: [
          { name: 'w', dims: [3, 4], data: weight },
          { name: 'half', dims: [], data: [0.5] },
        ],
        inputs: [{ name: 'x', dims: ['batch', 4] }],
        outputs: [{ name: 'y', dims: ['batch', 3] }],
      }),
      'constants',
    );
    const executor = new OnnxExecutor(model, 'constants');
    const x = tf.tensor(pseudoRandom(8, 4), [2, 4]);
    const before = tf.memory().numTensors;
    try {
      assert.deepEqual(
        executor.plan(['y']).map((s) => s.node.opType),
        ['MatMul'],
      );
      const result = () => {
        const [y] = executor.runPlain({ x }, ['y']);
        const data = Array.from(y.dataSync());
        y.dispose();
        return data;
      };
      const original = result();
      const replacement = tf.zeros([3, 4]);
      const old = executor.replaceConstants(new Map([['w', replacement]]));
      assert.ok(
        result().every((v) => v === 0),
        'the folded product follows the new weights',
      );
      executor.replaceConstants(old);
      replacement.dispose();
      assert.deepEqual(result(), original, 'and comes back with the old ones');
      assert.equal(tf.memory().numTensors, before);
    } finally {
      executor.dispose();
      x.dispose();
    }
  });

  it('a TF-style same-pad CNN: pads computed from x.shape fold away (163 steps → 12), equal results at batch 3', function () {
    const models = onnxTestModels(['same_pad_cnn_op13']);
    if ('skip' in models) this.skip();
    const file = (models as { paths: Record<string, string> }).paths.same_pad_cnn_op13;
    const model = decodeOnnx(readFileSync(file), file);
    const output = model.outputs[0].name;
    const [, c, h, w] = model.inputs[0].dims as number[];
    const input = (batch: number) =>
      new Map([[model.inputs[0].name, nhwcValue(tf.tensor(pseudoRandom(batch * h * w * c, 11), [batch, h, w, c]))]]);
    const unfolded = new OnnxExecutor(model, file, { foldConstants: false });
    const folded = new OnnxExecutor(model, file);
    try {
      folded.foldStaticShapes(input);
      const steps = folded.plan([output]);
      assert.ok(steps.length < 20, `${steps.length} steps left`);
      assert.ok(!steps.some((s) => ['Neg', 'Sub', 'Cast', 'ConstantOfShape'].includes(s.node.opType)));
      const outputs = [unfolded, folded].map((executor) =>
        tf.tidy(() => {
          const values = input(3);
          executor.run(executor.plan([output]), values);
          return plain(values.get(output)!);
        }),
      );
      assert.deepEqual(Array.from(outputs[1].dataSync()), Array.from(outputs[0].dataSync()));
      tf.dispose(outputs);
    } finally {
      unfolded.dispose();
      folded.dispose();
    }
  });
});
