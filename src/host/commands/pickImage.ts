/** Which image a command acts on: the clicked file, the open image preview, or one the user picks. */
import * as vscode from 'vscode';
import { IMAGE_EXTENSIONS } from '../../engine/types';

function isImage(uri: vscode.Uri): boolean {
  const ext = uri.path.split('.').pop()?.toLowerCase() ?? '';
  return IMAGE_EXTENSIONS.includes(ext);
}

/** The image shown in the active tab (the built-in image preview is a custom editor). */
function activeTabImage(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
  return uri && isImage(uri) ? uri : undefined;
}

export async function pickImage(clicked: unknown, openLabel = 'Explain'): Promise<vscode.Uri | undefined> {
  if (clicked instanceof vscode.Uri && isImage(clicked)) return clicked;
  const fromTab = activeTabImage();
  if (fromTab) return fromTab;
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel,
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    filters: { Images: [...IMAGE_EXTENSIONS] },
  });
  return picked?.[0];
}
