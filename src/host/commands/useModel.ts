/** Makes a model the one CNN Lens explains with: the cnnLens.model setting, so it is visible and editable. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { engineSettings, modelSettingValue } from '../settings';

/** null = the bundled model. Refused in Restricted Mode, where only the bundled model is used. */
export async function useModel(uri: vscode.Uri | null): Promise<void> {
  if (uri && !vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('CNN Lens: in Restricted Mode only the bundled model is used. Trust this workspace to explain with its own models.');
    return;
  }
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await vscode.workspace.getConfiguration('cnnLens').update('model', uri ? modelSettingValue(uri) : '', target);
}

/** True when the setting resolves to this model.json (or its folder). */
export function isModelInUse(modelJsonPath: string): boolean {
  const { modelPath } = engineSettings();
  if (!modelPath) return false;
  const resolved = path.normalize(modelPath);
  return resolved === path.normalize(modelJsonPath) || resolved === path.dirname(path.normalize(modelJsonPath));
}
