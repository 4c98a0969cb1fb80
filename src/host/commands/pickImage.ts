/**
 * Which image a command acts on: the clicked file, the open image preview, the open explain panel's image
 * (Check Preprocessing), or one the user picks (imageChoice.ts decides).
 */
import * as vscode from 'vscode';
import { IMAGE_EXTENSIONS } from '../../files/choices';
import { ExplainPanel } from '../panel/explainPanel';
import { chooseImage, type ImageOrigin } from './imageChoice';

/** The file shown in the active tab (the built-in image preview is a custom editor). */
function activeTabFile(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  return input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
}

async function askForImage(openLabel: string): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel,
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    filters: { Images: [...IMAGE_EXTENSIONS] },
  });
  return picked?.[0];
}

/** The image to explain: the clicked one, the one in the active tab, or one the user picks. */
export async function pickImage(clicked: unknown, openLabel = 'Explain'): Promise<vscode.Uri | undefined> {
  const chosen = await chooseImage({
    clicked: clicked instanceof vscode.Uri ? clicked : undefined,
    activeTab: activeTabFile,
    ask: () => askForImage(openLabel),
  });
  return chosen?.image;
}

/**
 * The image to check a model's preprocessing on: the clicked one, the one in the active tab, the image of
 * the explain panel in focus (the last active, else any open one), or one the user picks.
 */
export async function pickImageToCheck(clicked: unknown): Promise<{ image: vscode.Uri; from: ImageOrigin } | undefined> {
  return chooseImage({
    clicked: clicked instanceof vscode.Uri ? clicked : undefined,
    activeTab: activeTabFile,
    panel: () => {
      const panel = ExplainPanel.focused();
      return panel ? vscode.Uri.file(panel.imagePath) : undefined;
    },
    ask: () => askForImage('Check'),
  });
}
