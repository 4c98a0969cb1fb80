/**
 * `node dist/bench.js graph [BACKEND]`: the TF-Hub MobileNet v1 0.25 graph model (../shared fixtures)
 * through the engine, as a user runs it: each technique with onnxruntime and on TF.js alone, in one run,
 * with their ratio. Without onnxruntime, graph models' gradients run on the cpu backend.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { BackendChoice } from '../src/engine/tfjs/backend';
import { Engine } from '../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../src/engine/image';
import { median } from './measure';

const TECHNIQUES: [string, number][] = [
  ['gradcam', 7],
  ['saliency', 5],
  ['scorecam', 3],
  ['smoothgrad', 3],
  ['integrated-gradients', 1],
];

export async function compareGraphModel(fixtures: string, backend: BackendChoice): Promise<void> {
  const modelPath = path.join(fixtures, 'models/mobilenet_v1_0.25_224_graph_tfhub');
  if (!existsSync(modelPath)) {
    console.log(`(graph model skipped: no ${modelPath})`);
    return;
  }
  // One engine per choice, each with its copy of the model (an engine decides onnxruntime once).
  const engines = {
    auto: await Engine.create({ backend, onnxRuntime: 'auto', log: () => undefined }),
    off: await Engine.create({ backend, onnxRuntime: 'off', log: () => undefined }),
  };
  const load = (engine: Engine) =>
    engine.loadModel(modelPath, { preprocess: 'zero-one', labelsPath: path.join(fixtures, 'labels/imagenet_classes.json') });
  const models = { auto: await load(engines.auto), off: await load(engines.off) };
  const image = await readImageFile(path.join(fixtures, 'images/pytorch-cnn-visualizations/snake.png'), DEFAULT_IMAGE_LIMITS);
  console.log('MobileNet v1 0.25, TF-Hub graph model, through the engine (explain: preprocessing, technique, rendering); medians in ms.');
  console.log('| technique | with onnxruntime | TF.js alone | TF.js ÷ onnxruntime |');
  console.log('|---|---|---|---|');
  for (const [technique, repeats] of TECHNIQUES) {
    const times: Record<string, number> = {};
    for (const mode of ['auto', 'off'] as const) {
      const [engine, model] = [engines[mode], models[mode]];
      await engine.explain(model, image, { technique });
      const samples: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const start = performance.now();
        await engine.explain(model, image, { technique });
        samples.push(performance.now() - start);
      }
      times[mode] = median(samples);
    }
    console.log(`| ${technique} | ${times.auto.toFixed(1)} | ${times.off.toFixed(1)} | ${(times.off / times.auto).toFixed(1)} |`);
  }
  engines.auto.dispose();
  engines.off.dispose();
}
