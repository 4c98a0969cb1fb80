/**
 * `node dist/bench.js activation [RUNS]` (npm run bench:activation): what the extension costs VS Code at start-up.
 * Each run is a fresh `node dist/activationProbe.js`, which requires dist/extension.js with a stub `vscode` and
 * calls activate(); printed are the bundle's size and the medians of the load and of activate(), and the run
 * fails if any of them loaded tfjs, onnxruntime, sharp or a model reader's package, or started a worker thread.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProbeResult } from './activationProbe';

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

export function measureActivation(runs = 10): void {
  const extensionJs = path.join(__dirname, 'extension.js');
  const probe = path.join(__dirname, 'activationProbe.js');
  const results: ProbeResult[] = [];
  // One unmeasured start first, so that every measured one finds the files in the page cache.
  for (let run = 0; run <= runs; run++) {
    const output = execFileSync(process.execPath, [probe, extensionJs], { encoding: 'utf8' });
    if (run > 0) results.push(JSON.parse(output.trim().split('\n').pop()!) as ProbeResult);
  }
  const bytes = statSync(extensionJs).size;
  const row = (label: string, ms: (r: ProbeResult) => number) =>
    console.log(
      `  ${label.padEnd(34)} ${median(results.map(ms)).toFixed(1).padStart(6)} ms  (fastest ${Math.min(...results.map(ms)).toFixed(1)})  [${results.map((r) => ms(r).toFixed(1)).join(', ')}]`,
    );
  console.log(
    `dist/extension.js: ${(bytes / 1024).toFixed(0)} KB (${bytes} bytes); ${results[0].modulesLoaded} file(s) loaded by it and activate()`,
  );
  console.log(
    `medians of ${runs} fresh processes (node ${process.version}; load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores):`,
  );
  row(`Node built-ins it requires (${results[0].builtins.length})`, (r) => r.builtinsMs);
  row('load (require the bundle)', (r) => r.loadMs);
  row('activate()', (r) => r.activateMs);
  row('load + activate()', (r) => r.loadMs + r.activateMs);
  row('all three (a bare node)', (r) => r.builtinsMs + r.loadMs + r.activateMs);
  console.log(`  (the built-ins: ${results[0].builtins.join(', ')}; VS Code's extension host has them loaded already)`);
  const heavy = [...new Set(results.flatMap((r) => r.heavyModules))];
  if (heavy.length > 0 || results.some((r) => r.tfjsEngine)) {
    throw new Error(`activation loaded engine code: ${heavy.join(', ') || 'tfjs-core (bundled into the extension)'}`);
  }
  if (results.some((r) => r.workersStarted > 0))
    throw new Error('activation started a worker thread (the engine starts with the first job)');
  console.log('  no tfjs, onnxruntime, sharp, h5wasm or protobufjs module loaded and no worker thread started by activate()');
}
