/**
 * The models CNN Lens ships, found relative to the package root:
 * - the default model (`defaultModelPath`), a pretrained ImageNet classifier (Darknet tiny, models/darknet-tiny), used
 *   when no model is set;
 * - the Fashion-MNIST example trained here by models/training (`bundledModelPath`), which the tests and samples use.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const DEFAULT_MODEL = path.join('models', 'darknet-tiny', 'model.json');
const FASHION_MODEL = path.join('models', 'fashion-cam', 'model.json');

function shipped(relative: string, what: string): string {
  // dist/ when bundled, src/engine/ when run from source (tests): walk up to the package root.
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, relative);
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`The ${what} (${relative}) is missing from the CNN Lens installation.`);
  }
}

/** The model explanations use when none is set: Darknet tiny, 1000 ImageNet classes, with its cnnlens.json. */
export function defaultModelPath(): string {
  return shipped(DEFAULT_MODEL, 'default model');
}

/** The small Fashion-MNIST example model trained in models/training (64×64, 10 classes). */
export function bundledModelPath(): string {
  return shipped(FASHION_MODEL, 'Fashion-MNIST example model');
}
