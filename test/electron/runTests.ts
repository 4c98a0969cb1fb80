/**
 * The same integration suite in desktop VS Code via @vscode/test-electron, for machines that can
 * download VS Code (it cannot run offline: the download is the first thing it does).
 *   npm run test:electron
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'cnnlens-electron-ws-'));
  const samples = path.join(root, 'models', 'samples');
  for (const file of readdirSync(samples).filter((f) => f.endsWith('.png'))) cpSync(path.join(samples, file), path.join(workspace, file));
  writeFileSync(path.join(workspace, 'broken.png'), 'not a png');
  const brokenModel = path.join(workspace, 'broken-model');
  mkdirSync(brokenModel);
  cpSync(path.join(root, 'models', 'fashion-cam', 'model.json'), path.join(brokenModel, 'model.json'));
  const results = path.join(workspace, '..', `cnnlens-electron-results-${Date.now()}.json`);
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(root, 'dist', 'test', 'integration', 'index.js'),
    launchArgs: [workspace, '--disable-workspace-trust', '--disable-extensions'],
    extensionTestsEnv: { CNN_LENS_SUITE: 'trusted', CNN_LENS_TEST_RESULTS: results },
  });
  console.log(readFileSync(results, 'utf8'));
}

main().catch((error) => {
  console.error(`test:electron failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
