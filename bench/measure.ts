/** Timing helpers shared by the benchmarks: medians, and a runner for any technique on a prepared image. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { LoadedModel } from '../src/engine/models/loadModel';
import { modelPixels, modelScaler } from '../src/engine/preprocess';
import { resolveParameters } from '../src/engine/techniques/parameters';
import { findTechnique } from '../src/engine/techniques/registry';
import type { RgbaImage } from '../src/engine/types';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Sub-millisecond runs repeat until their samples add up to this much, so their medians settle. */
const MIN_SAMPLED_MS = 300;

/** Median of at least `repeats` runs after `warmup` ones (more for fast runs: MIN_SAMPLED_MS in all). */
export function time(run: () => void, warmup: number, repeats: number): number {
  return timeAlongside(run, () => undefined, warmup, repeats).ms;
}

/**
 * Medians of `run` and of `reference` timed alternately (one of each per round), so that the machine's
 * slow and fast spells (up to 30 % here) hit both alike and their ratio holds still.
 */
export function timeAlongside(
  run: () => void,
  reference: () => void,
  warmup: number,
  repeats: number,
): { ms: number; referenceMs: number } {
  for (let i = 0; i < warmup; i++) {
    run();
    reference();
  }
  const samples: number[] = [];
  const references: number[] = [];
  let total = 0;
  while (samples.length < repeats || (total < MIN_SAMPLED_MS && samples.length < 2000)) {
    let start = performance.now();
    run();
    samples.push(performance.now() - start);
    total += samples[samples.length - 1];
    start = performance.now();
    reference();
    references.push(performance.now() - start);
  }
  return { ms: median(samples), referenceMs: median(references) };
}

/** The image prepared for a model, and a runner for any technique on it at the default layer. */
export function prepare(loaded: LoadedModel, image: RgbaImage, classIndex = 0) {
  const { adapter, summary } = loaded;
  const preprocess = modelScaler(summary);
  const pixels = modelPixels(image, summary);
  const input = preprocess(pixels);
  const layer = summary.defaultLayer!;
  const request =
    (id: string, given: Record<string, number> = {}) =>
    () => {
      const technique = findTechnique(id);
      const parameters = resolveParameters(id, technique.info.parameters, given);
      technique
        .run({
          model: adapter,
          input,
          pixels,
          preprocess,
          classIndex,
          layer,
          parameters,
          checkCancelled: () => undefined,
          reportProgress: () => undefined,
        })
        .map.dataSync();
    };
  return { adapter, summary, preprocess, pixels, input, layer, request };
}

/** Debian's Python, which runs the references (python3-torch and friends). */
export const PYTHON = '/usr/bin/python3';

/** Why the Python reference cannot run here (a module missing: the Debian packages to install), or null. */
export function pythonMissing(modules: string[], packages: string[]): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  try {
    execFileSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
    return null;
  } catch {
    return `${packages.join(', ')} not all installed: apt-get install ${packages.join(' ')}`;
  }
}
