/**
 * "Use for New Panels": the user asked for this panel's colormap and opacity to be the defaults. They go to
 * the workspace settings (.vscode/settings.json) when a folder is open — the user settings only when none
 * is, and only because the user pressed the button. Moving a slider writes nothing (the panel's own state
 * keeps it).
 */
import * as vscode from 'vscode';
import type { ViewSettings } from '../../shared/protocol';
import { errorText } from './panelRuns';
import type { SaveContext } from './saving';

export async function saveViewDefaults(view: ViewSettings, ctx: Pick<SaveContext, 'post' | 'log'>): Promise<void> {
  const workspace = (vscode.workspace.workspaceFolders?.length ?? 0) > 0;
  const target = workspace ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  const where = workspace ? 'workspace settings' : 'user settings';
  try {
    const config = vscode.workspace.getConfiguration('cnnLens');
    await config.update('colormap', view.colormap, target);
    await config.update('opacity', view.opacity, target);
    ctx.post({ type: 'exported', path: `${where}: cnnLens.colormap = ${view.colormap}, cnnLens.opacity = ${view.opacity}` });
  } catch (err) {
    const message = `Could not save the view settings to the ${where}: ${errorText(err)}`;
    ctx.log(`CNN Lens panel: ${message}`);
    ctx.post({ type: 'error', message });
  }
}
