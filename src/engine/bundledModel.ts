/** The model CNN Lens ships (trained by models/training), found relative to the package root. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

const RELATIVE = path.join('models', 'fashion-cam', 'model.json');

export function bundledModelPath(): string {
  // dist/ when bundled, src/engine/ when run from source (tests): walk up to the package root.
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, RELATIVE);
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`The bundled model (${RELATIVE}) is missing from the CNN Lens installation.`);
  }
}
