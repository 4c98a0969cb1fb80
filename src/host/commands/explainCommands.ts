/** The explain commands: one per technique shortcut, plus one that asks which technique. */
import * as vscode from 'vscode';
import type { EngineApi } from '../engineApi';
import { ExplainPanel, type ExplainPanelContext } from '../panel/explainPanel';
import { pickImage } from './pickImage';

export function registerExplainCommands(context: vscode.ExtensionContext, panelContext: ExplainPanelContext, engine: EngineApi): void {
  const explainWith = (technique: string) => async (clicked?: unknown) => {
    const image = await pickImage(clicked);
    if (image) ExplainPanel.show(panelContext, image, { technique, classIndex: null, layer: null, parameters: {} });
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('cnnLens.explainGradCam', explainWith('gradcam')),
    vscode.commands.registerCommand('cnnLens.explainCam', explainWith('cam')),
    vscode.commands.registerCommand('cnnLens.explain', async (clicked?: unknown) => {
      const image = await pickImage(clicked);
      if (!image) return;
      let techniques;
      try {
        techniques = await engine.techniques();
      } catch (error) {
        void vscode.window.showErrorMessage(`CNN Lens: ${(error as Error).message}`);
        return;
      }
      const choice = await vscode.window.showQuickPick(
        techniques.map((t) => ({ label: t.title, description: t.id, detail: t.summary, id: t.id })),
        { placeHolder: 'Technique to explain the prediction with' },
      );
      if (choice) ExplainPanel.show(panelContext, image, { technique: choice.id, classIndex: null, layer: null, parameters: {} });
    }),
  );
}
