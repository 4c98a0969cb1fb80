/**
 * Choosing the model to explain with: "CNN Lens: Select Model…" lists the TF.js models found in the
 * workspace (and the bundled one); "Use This Model in CNN Lens" on a model.json in the Explorer picks it.
 * The choice is the workspace's cnnLens.model setting, so it is visible and editable like any other.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { tfjsModelKind, type ModelKind } from '../../engine/models/modelKind';
import { MODEL_VIEW_ID } from '../modelView/modelView';

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
  for (const uri of candidates.sort((a, b) => a.fsPath.localeCompare(b.fsPath))) {
    try {
      if ((await vscode.workspace.fs.stat(uri)).size > MAX_MODEL_JSON_BYTES) continue;
      const kind = tfjsModelKind(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)));
      if (kind) found.push({ uri, kind });
    } catch {
      // Unreadable files are simply not models we can offer.
    }
  }
  return found;
}

/** The setting's value for a model: relative to the workspace folder when it is inside one. */
function settingValue(uri: vscode.Uri): string {
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  return folder ? path.relative(folder.uri.fsPath, uri.fsPath) : uri.fsPath;
}

export async function useModel(uri: vscode.Uri | null): Promise<void> {
  if (uri && !vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('CNN Lens: in Restricted Mode only the bundled model is used. Trust this workspace to explain with its own models.');
    return;
  }
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration('cnnLens').update('model', uri ? settingValue(uri) : '', target);
}

/** `onChosen` hears of every user model picked (the guided setup is offered for ones without cnnlens.json). */
export function registerModelCommands(context: vscode.ExtensionContext, log: (line: string) => void, onChosen: (modelJsonPath: string) => void = () => undefined): void {
  const select = async () => {
    const models = await findWorkspaceModels();
    const current = vscode.workspace.getConfiguration('cnnLens').get<string>('model', '').trim();
    type Item = vscode.QuickPickItem & { uri: vscode.Uri | null };
    const items: Item[] = [
      { label: '$(package) Bundled Fashion-MNIST model', description: current ? '' : 'in use', detail: 'fashion-cam: 64×64 RGB, 10 classes', uri: null },
      ...models.map((m) => {
        const value = settingValue(m.uri);
        return { label: `$(circuit-board) ${value}`, description: `${m.kind} model${value === current ? ' · in use' : ''}`, uri: m.uri };
      }),
    ];
    const choice = await vscode.window.showQuickPick(items, {
      placeHolder: models.length ? 'Model to explain images with' : 'No TF.js model.json found in this workspace (node_modules and build folders are skipped)',
    });
    if (!choice) return;
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
        void vscode.window.showInformationMessage(`CNN Lens: explaining with ${settingValue(clicked)} (${kind} model).`);
        onChosen(clicked.fsPath);
      } catch (error) {
        void vscode.window.showErrorMessage(`CNN Lens: could not use ${clicked.fsPath}: ${(error as Error).message}`);
      }
    }),
  );
}
