/**
 * `node dist/bench.js host`: what the extension host feels while long techniques run. The real
 * EngineClient starts the real worker (dist/engineWorker.js); the main thread's event-loop delay is
 * sampled meanwhile (perf_hooks), and the process's resident memory (worker included) every 50 ms.
 */
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { onnxRuntimeFromEnvironment } from '../src/engine/engine';
import type { BackendChoice } from '../src/engine/tfjs/backend';
import { EngineClient, type EngineSettings } from '../src/host/engineClient';
import { CancelSource } from '../src/host/panel/cancelSource';

const JOBS: { technique: string; parameters: Record<string, number | string> }[] = [
  { technique: 'gradcam', parameters: {} },
  { technique: 'smoothgrad', parameters: { samples: 25 } },
  { technique: 'integrated-gradients', parameters: { steps: 50 } },
  { technique: 'scorecam', parameters: { channels: 0 } },
];

export async function measureHostLoad(fixtures: string, backend: BackendChoice): Promise<void> {
  const settings: EngineSettings = {
    backend,
    onnxRuntime: onnxRuntimeFromEnvironment(),
    modelPath: path.join(fixtures, 'models/mobilenet_v1_0.75_224_layers'),
    modelProblem: null,
    defaults: {},
    limits: { maxPixels: 40e6, maxBytes: 100 * 1024 * 1024 },
  };
  const client = new EngineClient(
    __dirname,
    () => settings,
    () => undefined,
    () => undefined,
  );
  const imagePath = path.join(fixtures, 'images/pytorch-cnn-visualizations/snake.png');
  await client.describeModel();
  console.log(`Extension-host event loop while MobileNet v1 0.75 explains in the worker (${backend}):`);
  console.log('| technique | run (s) | event-loop delay p99 (ms) | max (ms) | peak RSS of the process (MB) |');
  console.log('|---|---|---|---|---|');
  for (const job of JOBS) {
    const delay = monitorEventLoopDelay({ resolution: 5 });
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    delay.enable();
    const started = performance.now();
    await client.explain(
      { imagePath, technique: job.technique, classIndex: null, layer: null, parameters: job.parameters },
      new CancelSource(),
    );
    const seconds = (performance.now() - started) / 1000;
    delay.disable();
    clearInterval(sampler);
    console.log(
      `| ${job.technique} | ${seconds.toFixed(1)} | ${(delay.percentile(99) / 1e6).toFixed(1)} | ${(delay.max / 1e6).toFixed(1)} | ${(peak / 2 ** 20).toFixed(0)} |`,
    );
  }
  client.dispose();
}
