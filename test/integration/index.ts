/**
 * extensionTestsPath module: VS Code's extension host awaits `run()`. It runs the mocha suites named by
 * CNN_LENS_SUITE inside the extension host and writes the outcome to CNN_LENS_TEST_RESULTS, which the
 * driving process reads to decide its exit code (same contract as @vscode/test-electron's runner).
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';

interface Outcome {
  passed: string[];
  failed: { title: string; error: string }[];
}

export async function run(): Promise<void> {
  // mocha is resolved from the repository's node_modules, not bundled.
  const load: NodeRequire = require;
  const Mocha = load('mocha') as typeof import('mocha');
  const mocha = new Mocha({ ui: 'bdd', timeout: 120_000, color: false, reporter: 'spec' });
  const suite = process.env.CNN_LENS_SUITE ?? 'trusted';
  mocha.addFile(path.join(__dirname, `${suite}.js`));
  const outcome: Outcome = { passed: [], failed: [] };
  const resultsFile = process.env.CNN_LENS_TEST_RESULTS;
  try {
    await new Promise<void>((resolve) => {
      const runner = mocha.run(() => resolve());
      runner.on('pass', (test) => outcome.passed.push(test.fullTitle()));
      runner.on('fail', (test, error: Error) =>
        outcome.failed.push({ title: test.fullTitle(), error: `${error.message}\n${error.stack ?? ''}` }),
      );
    });
  } catch (error) {
    outcome.failed.push({ title: 'mocha', error: String(error) });
  }
  if (resultsFile) writeFileSync(resultsFile, JSON.stringify(outcome, null, 2));
  if (outcome.failed.length) throw new Error(`${outcome.failed.length} integration test(s) failed`);
}
