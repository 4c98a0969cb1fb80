/** Every unit test starts with a ready backend (cpu); tests that need another select it themselves. */
import { selectBackend } from '../../src/engine/tfjs/backend';

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    await selectBackend({ choice: 'cpu', log: () => undefined });
  },
};
