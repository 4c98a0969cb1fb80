/**
 * Nothing outside the user's chosen outputs: child processes run with HOME and TMPDIR pointed at empty
 * folders (and no XDG_CACHE_HOME), then those folders must still be empty.
 * - onnxruntime-node's own start (its self-check and a session), in the main thread and in the engine's
 *   worker thread as EngineClient starts it: onnxruntime 1.2x's Linux library otherwise writes
 *   $TMPDIR/mat-debug-<pid>.log, $TMPDIR/.ses and ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ (a device
 *   id and an SQLite event store) on every run;
 * - the CLI's explain (sharp decoding and encoding, the model, onnxruntime) and layers of a .keras model
 *   (its weights inflated to a temporary file that must be gone when the command ends);
 * - the tests themselves: no test or benchmark file requires onnxruntime-node but helpers/onnxModels.ts,
 *   which lets CNN Lens's loader create the runtime first (rootHooks.ts checks the run left no telemetry log).
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { encodePng } from '../../src/engine/image';
import { writeKeras3 } from './helpers/kerasFiles';
import { noiseImage, saveModel, tempDir, twoConvGapModel } from './helpers/tinyModels';

const ROOT = path.resolve(__dirname, '../..');
const TSX = require.resolve('tsx/cjs');

/** Every file and folder under `dir`, relative to it. */
function listAll(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    found.push(path.relative(dir, full));
    if (entry.isDirectory()) found.push(...listAll(full).map((p) => path.join(entry.name, p)));
  }
  return found;
}

/** Runs `node [--require tsx] args` with HOME and TMPDIR in a fresh empty folder; returns what appeared there. */
function runClean(
  args: string[],
  extraEnv: Record<string, string> = {},
): { appeared: string[]; stdout: string; stderr: string; status: number | null } {
  const sandbox = tempDir('cnnlens-privacy-');
  const home = path.join(sandbox, 'home');
  const tmp = path.join(sandbox, 'tmp');
  mkdirSync(home);
  mkdirSync(tmp);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !/^(XDG_|ORT_|TMP$|TEMP$|TMPDIR$|HOME$)/.test(key)) env[key] = value;
  Object.assign(env, { HOME: home, TMPDIR: tmp, TSX_DISABLE_CACHE: '1', ...extraEnv });
  const result = spawnSync(process.execPath, ['--require', TSX, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 110_000 });
  const appeared = [...listAll(home).map((p) => `~/${p}`), ...listAll(tmp).map((p) => `$TMPDIR/${p}`)];
  return { appeared, stdout: result.stdout, stderr: result.stderr, status: result.status };
}

/** Every .ts file under `dir`, relative to the repository. */
function sources(dir: string): string[] {
  return listAll(path.join(ROOT, dir))
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(dir, file));
}

describe('privacy: nothing written outside the chosen outputs', function () {
  this.timeout(120_000);
  let dir: string;
  let modelDir: string;
  let imagePath: string;

  before(async () => {
    dir = tempDir('cnnlens-privacy-files-');
    modelDir = path.join(dir, 'model');
    await fs.mkdir(modelDir);
    const model = twoConvGapModel(5);
    await saveModel(model, modelDir, { preprocess: 'zero-one', labels: ['ant', 'bee', 'cat', 'dog'] });
    await writeKeras3(model, path.join(dir, 'model.keras'));
    model.dispose();
    imagePath = path.join(dir, 'photo.png');
    await fs.writeFile(imagePath, encodePng(noiseImage(30, 20, 9)));
  });

  it("the tests reach onnxruntime-node only through CNN Lens's loader (helpers/onnxModels.ts)", () => {
    const direct = /require\(\s*['"]onnxruntime-node['"]\s*\)|from\s+['"]onnxruntime-node['"]|import\(\s*['"]onnxruntime-node['"]\s*\)/;
    const offenders = ['test', 'bench', 'src']
      .flatMap(sources)
      .filter((file) => file !== path.join('test', 'unit', 'helpers', 'onnxModels.ts'))
      .filter((file) => direct.test(readFileSync(path.join(ROOT, file), 'utf8')));
    assert.deepEqual(offenders, [], 'require onnxruntime-node through onnxruntimeNode() in test/unit/helpers/onnxModels.ts');
  });

  it('onnxruntime-node: the self-check and a session in the main thread leave no file (telemetry off)', () => {
    const script = path.join(dir, 'ortMain.ts');
    writeFileSync(
      script,
      `import { Acceleration } from ${JSON.stringify(path.join(ROOT, 'src/engine/accel/ortRuntime'))};
import { OnnxGraph } from ${JSON.stringify(path.join(ROOT, 'src/engine/accel/onnxGraph'))};
const { runtime, reason } = new Acceleration('auto').state;
if (!runtime) throw new Error('onnxruntime-node did not load: ' + reason);
const graph = new OnnxGraph();
graph.input('x', [4]);
graph.nameOutput(graph.op('Relu', ['x']), 'y');
const session = runtime.session(graph.encode());
const { y } = session.run({ x: { data: Float32Array.of(-1, 2, -3, 4), dims: [1, 4] } }, ['y']);
session.dispose();
console.log('ok', Array.from(y.data).join(','), process.env.ORT_DISABLE_TELEMETRY ?? 'unset');
`,
    );
    const { appeared, stdout, stderr } = runClean([script]);
    // The variable is set around loading the library only, then put back.
    assert.match(stdout, /^ok 0,2,0,4 unset$/m, stderr);
    assert.deepEqual(appeared, []);
  });

  it('the engine worker as EngineClient starts it (SHARE_ENV) leaves no file', () => {
    const bundle = path.join(ROOT, 'dist', 'engineWorker.js');
    const newest = Math.max(
      ...['src/engine/accel/ortRuntime.ts', 'src/worker/engineWorker.ts', 'build.mjs'].map((f) => statSync(path.join(ROOT, f)).mtimeMs),
    );
    if (!existsSync(bundle) || statSync(bundle).mtimeMs < newest)
      execFileSync(process.execPath, ['build.mjs'], { cwd: ROOT, stdio: 'pipe' });
    const script = path.join(dir, 'ortWorker.ts');
    writeFileSync(
      script,
      `import { EngineClient } from ${JSON.stringify(path.join(ROOT, 'src/host/engineClient'))};
const logs: string[] = [];
const client = new EngineClient(${JSON.stringify(path.join(ROOT, 'dist'))}, () => ({
  backend: 'cpu', onnxRuntime: 'auto', modelPath: ${JSON.stringify(path.join(modelDir, 'model.json'))}, modelProblem: null,
  defaults: {}, limits: { maxPixels: 40e6, maxBytes: 100 * 2 ** 20 },
}), (line) => logs.push(line), () => undefined);
client.explain({ imagePath: ${JSON.stringify(imagePath)}, technique: 'gradcam', classIndex: null, layer: null, parameters: {} }, { cancelled: false, onCancel: () => undefined })
  .then((e) => { console.log('ok', e.backend); console.log(logs.join('\\n')); client.dispose(); })
  .catch((error) => { console.error(error); console.error(logs.join('\\n')); process.exit(1); });
`,
    );
    const { appeared, stdout, stderr } = runClean([script]);
    assert.match(stdout, /^ok .*onnxruntime/m, stderr);
    assert.deepEqual(appeared, []);
  });

  it('the CLI: explain (sharp, the model, onnxruntime) and layers of a .keras model leave no file', () => {
    const out = path.join(dir, 'out');
    mkdirSync(out);
    const cli = path.join(ROOT, 'src/cli.ts');
    const explain = runClean(
      [
        cli,
        'explain',
        imagePath,
        '--model',
        modelDir,
        '--backend',
        'cpu',
        '--out',
        path.join(out, 'o.png'),
        '--heatmap',
        path.join(out, 'h.png'),
        '--json',
        path.join(out, 'r.json'),
      ],
      { CNN_LENS_VERBOSE: '1' },
    );
    assert.equal(explain.status, 0, explain.stderr);
    assert.match(explain.stderr, /onnxruntime: onnxruntime-node/);
    assert.deepEqual(explain.appeared, []);
    assert.deepEqual(readdirSync(out).sort(), ['h.png', 'o.png', 'r.json']);
    const layers = runClean([cli, 'layers', '--model', path.join(dir, 'model.keras'), '--backend', 'cpu']);
    assert.equal(layers.status, 0, layers.stderr);
    assert.deepEqual(layers.appeared, []);
  });
});
