/**
 * Every unit test starts with a ready backend (cpu); tests that need another select it themselves. After
 * the run: the folders the tests made with `tempDir` are removed (CNN_LENS_KEEP_TEST_TEMP=1 keeps them),
 * and the run fails if this process started onnxruntime's telemetry (its mat-debug-<pid>.log in the temp
 * folder: something loaded onnxruntime-node around CNN Lens's loader, see helpers/onnxModels.ts).
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectBackend } from '../../src/engine/tfjs/backend';
import { KEEP_TEMP_ENV, keepTempFolders, removeTempFolders } from './helpers/tinyModels';

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    await selectBackend({ choice: 'cpu', log: () => undefined });
  },
  afterAll(): void {
    const count = removeTempFolders();
    if (keepTempFolders() && count) console.log(`  kept ${count} temporary folders under ${os.tmpdir()} (${KEEP_TEMP_ENV})`);
    const telemetryLog = path.join(os.tmpdir(), `mat-debug-${process.pid}.log`);
    if (existsSync(telemetryLog))
      throw new Error(
        `${telemetryLog} exists: this run loaded onnxruntime-node without ORT_DISABLE_TELEMETRY (require it through helpers/onnxModels.ts's onnxruntimeNode()).`,
      );
  },
};
