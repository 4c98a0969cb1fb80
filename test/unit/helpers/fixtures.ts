/**
 * The shared fixtures (real pretrained models and photos) live beside the repository in ../shared,
 * as on CI. Without them these suites fail, saying why, unless CNN_LENS_SKIP_FIXTURES=1 asks to skip.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures');

export function requireFixtures(context: Mocha.Context): void {
  if (existsSync(FIXTURES)) return;
  const reason = `the shared fixtures are not at ${FIXTURES}`;
  if (process.env.CNN_LENS_SKIP_FIXTURES === '1') {
    console.log(`    (skipped: ${reason}; CNN_LENS_SKIP_FIXTURES=1)`);
    context.skip();
  }
  throw new Error(`${reason}. Put the shared folder beside the repository, or set CNN_LENS_SKIP_FIXTURES=1 to skip these tests.`);
}

export const fixture = (...parts: string[]) => path.join(FIXTURES, ...parts);
