/** Makes a model the one CNN Lens explains with: the cnnLens.model setting, so it is visible and editable. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { engineSettings, modelSettingValue } from '../settings';
import { ZOO_PREFIX } from '../modelSetting';

/**
 * null = the default model (cnnLens.model unset). Written to the workspace when a folder is open. In Restricted Mode
 * workspace values are ignored, so only a downloaded model (not workspace content) can be chosen,
 * and it goes to the user settings.
 */
export async function useModel(uri: vscode.Uri | null): Promise<void> {
  const value = uri ? modelSettingValue(uri) : '';
  const isZoo = value.startsWith(ZOO_PREFIX);
  if (uri && !vscode.workspace.isTrusted && !isZoo) {
    const answer = await vscode.window.showWarningMessage(
      "CNN Lens: in Restricted Mode the workspace's own models are not used. Trust this workspace to explain with them.",
      'Manage Workspace Trust',
    );
    if (answer) await vscode.commands.executeCommand('workbench.trust.manage');
    return;
  }
  const workspace = vscode.workspace.workspaceFolders?.length && vscode.workspace.isTrusted;
  await vscode.workspace
    .getConfiguration('cnnLens')
    .update('model', value, workspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global);
}

/** Clears cnnLens.model wherever (user, workspace) it names this model: it was removed. */
export async function forgetModelSetting(uri: vscode.Uri): Promise<void> {
  const value = modelSettingValue(uri);
  const config = vscode.workspace.getConfiguration('cnnLens');
  const inspected = config.inspect<string>('model');
  const levels: [string | undefined, vscode.ConfigurationTarget][] = [
    [inspected?.globalValue, vscode.ConfigurationTarget.Global],
    [inspected?.workspaceValue, vscode.ConfigurationTarget.Workspace],
  ];
  for (const [held, target] of levels) {
    if (held?.trim() === value || (held && path.normalize(held) === path.normalize(uri.fsPath)))
      await config.update('model', undefined, target);
  }
}

/** True when the setting resolves to this model.json (or its folder). */
export function isModelInUse(modelJsonPath: string): boolean {
  const { modelPath } = engineSettings();
  if (!modelPath) return false;
  const resolved = path.normalize(modelPath);
  return resolved === path.normalize(modelJsonPath) || resolved === path.dirname(path.normalize(modelJsonPath));
}
