/**
 * ONNX's own operator test cases (Debian's libonnx-testdata: model.onnx + test_data_set_0/input_*.pb and
 * output_*.pb) run through the executor directly, in their native NCHW layout, on cpu and wasm. Every case
 * whose ops CNN Lens supports must match the expected outputs (|Δ| ≤ 1e-4 + 1e-3·|expected|, ONNX's own
 * backend-test tolerance is rtol 1e-3) or be declined with a clear message (1-D/3-D windows, training
 * mode, argmax outputs) — never give a wrong answer.
 */
import { strict as assert } from 'node:assert';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { OnnxExecutor } from '../../src/engine/models/onnx/executor';
import { decodeOnnx, decodeTensor, type OnnxModel } from '../../src/engine/models/onnx/onnxFile';
import { isSupported } from '../../src/engine/models/onnx/ops';
import { tf } from '../../src/engine/tfjs/tf';

const DATA = '/usr/share/libonnx-testdata/data';
const SUITES = ['node', 'pytorch-converted', 'pytorch-operator'];
/** Element types CNN Lens reads (float, double, half, integers, bool); not string, bfloat16, complex. */
const READABLE = new Set([1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]);
/** What CNN Lens declines on purpose, with its message. */
const DECLINED = /only 2-D|2-D convolutions only|handles 2-D windows only|training mode|argmax|is dilated/;

interface Case {
  dir: string;
  label: string;
  model: OnnxModel;
}

async function cases(): Promise<Case[]> {
  const found: Case[] = [];
  for (const suite of SUITES) {
    const root = path.join(DATA, suite);
    if (!existsSync(root)) continue;
    for (const name of (await fs.readdir(root)).sort()) {
      const dir = path.join(root, name);
      const file = path.join(dir, 'model.onnx');
      if (!existsSync(path.join(dir, 'test_data_set_0'))) continue;
      let model: OnnxModel;
      try {
        model = decodeOnnx(await fs.readFile(file), file);
      } catch {
        continue; // sequence / optional / string models: not tensors CNN Lens reads
      }
      if (!model.nodes.every((n) => isSupported(n.opType, n.domain))) continue;
      if (![...model.inputs, ...model.outputs].every((v) => READABLE.has(v.elemType))) continue;
      const ops = [...new Set(model.nodes.map((n) => n.opType))].join('+');
      found.push({ dir, label: suite === 'node' ? ops : `${suite}: ${ops}`, model });
    }
  }
  return found;
}

async function runCase({ dir, model }: Case): Promise<'pass' | string> {
  const set = path.join(dir, 'test_data_set_0');
  const feeds: Record<string, tf.Tensor> = {};
  let executor: OnnxExecutor | null = null;
  try {
    for (const [i, input] of model.inputs.entries()) {
      const t = decodeTensor(await fs.readFile(path.join(set, `input_${i}.pb`)), input.name);
      feeds[input.name] = tf.tensor(t.data, t.dims, t.dtype);
    }
    executor = new OnnxExecutor(model, dir);
    const outputs = executor.runPlain(
      feeds,
      model.outputs.map((o) => o.name),
    );
    try {
      for (const [i, out] of outputs.entries()) {
        const expected = decodeTensor(await fs.readFile(path.join(set, `output_${i}.pb`)), `output ${i}`);
        assert.deepEqual(out.shape, expected.dims, `output ${i} shape`);
        const got = out.dataSync();
        for (let k = 0; k < expected.data.length; k++) {
          const e = expected.data[k];
          const ok = Number.isNaN(e) ? Number.isNaN(got[k]) : got[k] === e || Math.abs(got[k] - e) <= 1e-4 + 1e-3 * Math.abs(e);
          assert.ok(ok, `output ${i}[${k}]: ${got[k]} vs ${e}`);
        }
      }
    } finally {
      tf.dispose(outputs);
    }
    return 'pass';
  } catch (error) {
    return (error as Error).message;
  } finally {
    executor?.dispose();
    tf.dispose(Object.values(feeds));
  }
}

describe('ONNX operator conformance (libonnx-testdata)', function () {
  this.timeout(600_000);

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`every supported-op test case passes or is declined clearly, leaking nothing (${backend})`, async function () {
      if (!existsSync(DATA)) {
        console.log(`      skipped: ${DATA} is missing (Debian package libonnx-testdata)`);
        this.skip();
      }
      await selectBackend({ choice: backend, log: () => undefined });
      try {
        const all = await cases();
        assert.ok(all.length > 200, `found ${all.length} runnable cases`);
        const tally = new Map<string, { pass: number; declined: number }>();
        const wrong: string[] = [];
        const declined: string[] = [];
        for (const c of all) {
          const before = tf.memory().numTensors;
          const result = await runCase(c);
          assert.equal(tf.memory().numTensors, before, `${c.dir} leaves no tensor behind`);
          const row = tally.get(c.label) ?? { pass: 0, declined: 0 };
          if (result === 'pass') row.pass++;
          else if (DECLINED.test(result)) {
            row.declined++;
            declined.push(`${path.basename(c.dir)}: ${result}`);
          } else wrong.push(`${c.dir}: ${result}`);
          tally.set(c.label, row);
        }
        const passed = [...tally.values()].reduce((s, r) => s + r.pass, 0);
        console.log(`      ${backend}: ${passed} of ${all.length} cases pass, ${declined.length} declined, ${wrong.length} wrong`);
        if (backend === 'cpu') {
          const byOp = [...tally]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([op, r]) => `${op} ${r.pass}${r.declined ? ` (+${r.declined} declined)` : ''}`);
          console.log(`      per op: ${byOp.join(', ')}`);
        }
        assert.deepEqual(wrong, [], 'cases with a wrong result or an unclear failure');
      } finally {
        await selectBackend({ choice: 'cpu', log: () => undefined });
      }
    });
  }
});
