/**
 * The bounded fuzz run (test/fuzz/fuzzInputs.ts) in a child process, so that a hang or a runaway allocation
 * is seen from outside: no case may go quiet for FUZZ_CASE_DEADLINE_MS, the run's peak memory stays under a
 * bound, and every failure names its file. `npm run fuzz` runs it for 10 minutes instead of 40 seconds.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { tempDir } from './helpers/tinyModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 40);
/** The slowest clean case (a .keras load) takes well under a second; a case quiet for this long is stuck. */
const FUZZ_CASE_DEADLINE_MS = 15_000;
/** The seeds' models are tiny: tfjs, the codecs and their caches stay under this whatever a file claims. */
const PEAK_RSS_MB = 1500;

interface Summary {
  cases: number;
  loaded: number;
  raw: number;
  failures: string[];
  peakRssMb: number;
}

describe('fuzzing model files and image headers (seeded, bounded)', function () {
  this.timeout((SECONDS + 120) * 1000);
  // The fuzzed loads never use onnxruntime, so the suite's second pass (CNN_LENS_ONNXRUNTIME=off) would repeat it.
  before(function () {
    if (SUITE_ONNXRUNTIME === 'off' && !process.env.FUZZ_SECONDS) this.skip();
  });

  it('ends every case in a load or a message naming the file: no crash, no hang, bounded memory', async () => {
    const runner = path.resolve(__dirname, '../fuzz/fuzzInputs.ts');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', runner, '--seconds', String(SECONDS), '--seed', process.env.FUZZ_SEED ?? '1'],
      {
        // The run's folders go into one of ours, removed after the suite even when the watchdog kills the child
        // (the child removes its own at exit otherwise).
        env: { ...process.env, TMPDIR: tempDir('cnnlens-fuzz-run-') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let current = '(building the seeds)';
    let summary: Summary | null = null;
    let crash: string | null = null;
    let hung: string | null = null;
    let watchdog = setTimeout(() => undefined, 0);
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(
        () => {
          hung = current;
          child.kill('SIGKILL');
        },
        FUZZ_CASE_DEADLINE_MS + 30_000 * Number(current === '(building the seeds)'),
      );
    };
    arm();
    for await (const line of readline.createInterface({ input: child.stdout })) {
      const message = JSON.parse(line) as { case?: string; summary?: Summary; crash?: string };
      if (message.case) current = message.case;
      if (message.summary) summary = message.summary;
      if (message.crash) crash = message.crash;
      arm();
    }
    clearTimeout(watchdog);
    const code = await new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', resolve),
    );
    assert.equal(hung, null, `no output for ${FUZZ_CASE_DEADLINE_MS / 1000} s during: ${hung}`);
    assert.equal(crash, null, `the runner crashed: ${crash}`);
    assert.equal(code, 0, `the runner exited with ${code}: ${stderr.slice(-2000)}`);
    assert.ok(summary, 'a summary line');
    console.log(
      `      ${summary.cases} cases (${summary.loaded} still loaded, ${summary.raw} named the file but quoted a JS error), peak RSS ${summary.peakRssMb} MB`,
    );
    assert.ok(summary.cases >= 100, `only ${summary.cases} cases ran`);
    assert.deepEqual(summary.failures, []);
    assert.ok(summary.peakRssMb < PEAK_RSS_MB, `peak RSS ${summary.peakRssMb} MB`);
  });
});
