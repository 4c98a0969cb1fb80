/**
 * Choosing the model to explain with: "CNN Lens: Select Model…" lists the TF.js models found in the
 * workspace (and the bundled one); "Use This Model in CNN Lens" on a model.json in the Explorer picks it.
 * The choice is the workspace's cnnLens.model setting, so it is visible and editable like any other.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { tfjsModelKind, type ModelKind } from '../../engine/models/modelKind';
import { MODEL_VIEW_ID } from '../modelView/modelView';
import { engineSettings, modelSettingValue } from '../settings';
import { isModelInUse, useModel } from './useModel';
import { downloadedModels } from './zooCommands';

export interface FoundModel {
  uri: vscode.Uri;
  kind: ModelKind;
}

/** Folders that hold dependencies, caches or build output, never the user's own model. */
const SKIPPED = '**/{node_modules,.git,.vscode-test,dist,out,.venv,__pycache__}/**';
const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;

export async function findWorkspaceModels(limit = 200): Promise<FoundModel[]> {
  const candidates = await vscode.workspace.findFiles('**/model.json', SKIPPED, limit);
  const found: FoundModel[] = [];
  const seen = new Set<string>();
  for (const uri of candidates.sort((a, b) => a.fsPath.localeCompare(b.fsPath))) {
    try {
      // Symlinked folders can show one model under several paths: list it once.
      const real = await fs.realpath(uri.fsPath);
      if (seen.has(real)) continue;
      seen.add(real);
      if ((await vscode.workspace.fs.stat(uri)).size > MAX_MODEL_JSON_BYTES) continue;
      const kind = tfjsModelKind(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)));
      if (kind) found.push({ uri, kind });
    } catch {
      // Unreadable files are simply not models we can offer.
    }
  }
  return found;
}

/** `onChosen` hears of every user model picked (the guided setup is offered for ones without cnnlens.json). */
export function registerModelCommands(context: vscode.ExtensionContext, log: (line: string) => void, onChosen: (modelJsonPath: string) => void = () => undefined): void {
  const select = async () => {
    const [models, downloaded] = await Promise.all([findWorkspaceModels(), downloadedModels(context)]);
    const bundledInUse = !engineSettings().modelPath;
    const inUse = (uri: vscode.Uri) => (isModelInUse(uri.fsPath) ? ' · in use' : '');
    type Item = vscode.QuickPickItem & { uri: vscode.Uri | null | 'download' };
    const items: Item[] = [
      { label: '$(package) Bundled Fashion-MNIST model', description: bundledInUse ? 'in use' : '', detail: 'fashion-cam: 64×64 RGB, 10 classes', uri: null },
      ...models.map((m) => ({ label: `$(circuit-board) ${modelSettingValue(m.uri)}`, description: `${m.kind} model${inUse(m.uri)}`, uri: m.uri })),
      ...downloaded.map((m) => {
        const uri = vscode.Uri.file(m.modelJsonPath);
        return { label: `$(cloud) ${m.title}`, description: `downloaded${inUse(uri)}`, uri };
      }),
      { label: '$(cloud-download) Download a pretrained model…', detail: 'MobileNet v1 / v2 ImageNet classifiers from Google\'s TF.js model hosting', uri: 'download' },
    ];
    const choice = await vscode.window.showQuickPick(items, {
      placeHolder: models.length ? 'Model to explain images with' : 'No TF.js model.json found in this workspace (node_modules and build folders are skipped)',
    });
    if (!choice) return;
    if (choice.uri === 'download') {
      await vscode.commands.executeCommand('cnnLens.downloadModel');
      return;
    }
    await useModel(choice.uri);
    if (choice.uri && vscode.workspace.isTrusted) onChosen(choice.uri.fsPath);
  };
  context.subscriptions.push(
    vscode.commands.registerCommand('cnnLens.selectModel', () => select().catch((error: Error) => log(`Select model failed: ${error.message}`))),
    vscode.commands.registerCommand('cnnLens.useModel', async (clicked?: unknown) => {
      if (!(clicked instanceof vscode.Uri)) return select();
      try {
        const kind = tfjsModelKind(new TextDecoder().decode(await vscode.workspace.fs.readFile(clicked)));
        if (!kind) {
          void vscode.window.showErrorMessage(`CNN Lens: ${path.basename(clicked.fsPath)} is not a TensorFlow.js model (no modelTopology and weightsManifest).`);
          return;
        }
        await useModel(clicked);
        if (!vscode.workspace.isTrusted) return;
        // Show the model's layers: the reason the user picked "Inspect Model".
        await vscode.commands.executeCommand(`${MODEL_VIEW_ID}.focus`);
        void vscode.window.showInformationMessage(`CNN Lens: explaining with ${modelSettingValue(clicked)} (${kind} model).`);
        onChosen(clicked.fsPath);
      } catch (error) {
        void vscode.window.showErrorMessage(`CNN Lens: could not use ${clicked.fsPath}: ${(error as Error).message}`);
      }
    }),
  );
}
