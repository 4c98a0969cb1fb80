/**
 * Choosing the model to explain with: "CNN Lens: Select Model…" lists the models found in the workspace
 * (every kind in files/formats.ts: TF.js model.json, ONNX, Keras), the downloaded ones, the default
 * model and the Fashion-MNIST example, or browses for a file; "Inspect Model with CNN Lens" on a model file in
 * the Explorer picks it. The choice is the cnnLens.model setting, so it is visible and editable like any other.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  acceptedFiles,
  dialogFilters,
  discoveryGlob,
  fileKindOf,
  HEAD_BYTES,
  modelFileNameList,
  sniffModelFile,
  type ModelFormat,
} from '../../files/formats';
import { MODEL_VIEW_ID } from '../modelView/modelView';
import { DEFAULT_MODEL_TITLE } from '../modelSource';
import { engineSettings, modelSettingValue } from '../settings';
import { isModelInUse, useModel } from './useModel';
import { downloadedModels } from './zooCommands';

export interface FoundModel {
  uri: vscode.Uri;
  kind: ModelFormat;
}

/** Folders that hold dependencies, caches or build output, never the user's own model. */
const SKIPPED = '**/{node_modules,.git,.vscode-test,dist,out,.venv,__pycache__}/**';

/**
 * The format of the model a file holds, or null when it is not one CNN Lens can read; read as loading
 * reads it (formats.ts): a named pipe or a device is refused at once, never opened blocking or read.
 */
export async function modelKindOf(uri: vscode.Uri): Promise<ModelFormat | null> {
  return sniffModelFile(uri.fsPath);
}

export async function findWorkspaceModels(limit = 200): Promise<FoundModel[]> {
  const candidates = await vscode.workspace.findFiles(discoveryGlob(), SKIPPED, limit);
  const found: FoundModel[] = [];
  const seen = new Set<string>();
  for (const uri of candidates.sort((a, b) => a.fsPath.localeCompare(b.fsPath))) {
    try {
      // Symlinked folders can show one model under several paths: list it once.
      const real = await fs.realpath(uri.fsPath);
      if (seen.has(real)) continue;
      seen.add(real);
      const kind = await modelKindOf(uri);
      if (kind) found.push({ uri, kind });
    } catch {
      // Unreadable files are simply not models we can offer.
    }
  }
  return found;
}

/** A model file the user points at (Explorer or Browse…): used when it is one, else a message saying why not. */
async function useModelFile(uri: vscode.Uri, onChosen: (modelPath: string) => void): Promise<void> {
  try {
    const kind = await modelKindOf(uri);
    if (!kind) {
      const what = fileKindOf(uri.fsPath).notOne(uri.fsPath);
      void vscode.window.showErrorMessage(`CNN Lens: ${path.basename(uri.fsPath)} is not ${what}.`);
      return;
    }
    await useModel(uri);
    if (!vscode.workspace.isTrusted) return;
    // Show the model's layers: the reason the user picked "Inspect Model".
    await vscode.commands.executeCommand(`${MODEL_VIEW_ID}.focus`);
    void vscode.window.showInformationMessage(`CNN Lens: explaining with ${modelSettingValue(uri)} (${kind} model).`);
    onChosen(uri.fsPath);
  } catch (error) {
    void vscode.window.showErrorMessage(`CNN Lens: could not use ${uri.fsPath}: ${(error as Error).message}`);
  }
}

/** `onChosen` hears of every user model picked (the guided setup is offered for ones without cnnlens.json). */
export function registerModelCommands(
  context: vscode.ExtensionContext,
  log: (line: string) => void,
  onChosen: (modelJsonPath: string) => void = () => undefined,
): void {
  const select = async () => {
    const [models, downloaded] = await Promise.all([findWorkspaceModels(), downloadedModels(context)]);
    const bundledInUse = !engineSettings().modelPath;
    const fashion = vscode.Uri.joinPath(context.extensionUri, 'models', 'fashion-cam', 'model.json');
    const inUse = (uri: vscode.Uri) => (isModelInUse(uri.fsPath) ? ' · in use' : '');
    type Item = vscode.QuickPickItem & { uri: vscode.Uri | null | 'download' | 'browse' };
    const items: Item[] = [
      {
        label: `$(package) ${DEFAULT_MODEL_TITLE}: the default`,
        description: bundledInUse ? 'in use' : '',
        detail: 'Shipped with CNN Lens: 224×224 RGB, 1000 ImageNet classes',
        uri: null,
      },
      {
        label: '$(beaker) Fashion-MNIST example (trained here)',
        description: `fashion-cam${inUse(fashion)}`,
        detail: '64×64 RGB, 10 clothing classes: for the sample images in models/samples',
        uri: fashion,
      },
      ...models.map((m) => ({
        label: `$(circuit-board) ${modelSettingValue(m.uri)}`,
        description: `${m.kind} model${inUse(m.uri)}`,
        uri: m.uri,
      })),
      ...downloaded.map((m) => {
        const uri = vscode.Uri.file(m.modelJsonPath);
        return { label: `$(cloud) ${m.title}`, description: `downloaded${inUse(uri)}`, uri };
      }),
      {
        label: '$(folder-opened) Browse for a model file…',
        detail: `${acceptedFiles()} anywhere on this machine`,
        uri: 'browse',
      },
      {
        label: '$(cloud-download) Download a pretrained model…',
        detail: "MobileNet v1 / v2 ImageNet classifiers from Google's TF.js model hosting",
        uri: 'download',
      },
    ];
    const choice = await vscode.window.showQuickPick(items, {
      placeHolder: models.length
        ? 'Model to explain images with'
        : `No ${modelFileNameList()} model found in this workspace (node_modules and build folders are skipped)`,
    });
    if (!choice) return;
    if (choice.uri === 'download') {
      await vscode.commands.executeCommand('cnnLens.downloadModel');
      return;
    }
    if (choice.uri === 'browse') {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false,
        openLabel: 'Use Model',
        filters: dialogFilters(),
      });
      if (picked?.[0]) await useModelFile(picked[0], onChosen);
      return;
    }
    await useModel(choice.uri);
    if (choice.uri && vscode.workspace.isTrusted) onChosen(choice.uri.fsPath);
  };
  context.subscriptions.push(
    vscode.commands.registerCommand('cnnLens.selectModel', () =>
      select().catch((error: Error) => {
        log(`Select model failed: ${error.message}`);
        void vscode.window.showErrorMessage(`CNN Lens: Select Model failed: ${error.message}`);
      }),
    ),
    vscode.commands.registerCommand('cnnLens.useModel', async (clicked?: unknown) => {
      if (!(clicked instanceof vscode.Uri)) return select();
      await useModelFile(clicked, onChosen);
    }),
  );
}
