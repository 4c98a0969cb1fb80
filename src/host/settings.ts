/** Reads CNN Lens settings and turns them into what the engine client needs. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BACKEND_CHOICES, type BackendChoice } from '../engine/backend';
import { isScalingPreset } from '../engine/models/modelConfig';
import { COLORMAP_NAMES, type ColormapName } from '../engine/types';
import type { ViewSettings } from '../shared/protocol';
import type { EngineSettings } from './engineClient';

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('cnnLens');
}

/** Where downloaded zoo models live (the extension's global storage); set at activation. */
let zooStorage: string | null = null;
const ZOO_PREFIX = 'zoo:';

export function setZooStorage(dir: string): void {
  zooStorage = dir;
}

/**
 * How the cnnLens.model setting names a model: `zoo:<id>` for a downloaded one (portable: no
 * machine-specific storage path lands in a shared settings.json), relative to the workspace folder
 * for one inside it, else absolute.
 */
export function modelSettingValue(uri: vscode.Uri): string {
  if (zooStorage) {
    const inZoo = path.relative(zooStorage, uri.fsPath);
    if (!inZoo.startsWith('..') && !path.isAbsolute(inZoo)) return `${ZOO_PREFIX}${inZoo.split(path.sep)[0]}`;
  }
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  return folder ? path.relative(folder.uri.fsPath, uri.fsPath) : uri.fsPath;
}

/** Settings may name paths relative to the first workspace folder, or a downloaded model as `zoo:<id>`. */
function resolvePath(value: string): string {
  if (value.startsWith(ZOO_PREFIX) && zooStorage) return path.join(zooStorage, path.basename(value.slice(ZOO_PREFIX.length)), 'model.json');
  if (path.isAbsolute(value)) return value;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return folder ? path.join(folder, value) : path.resolve(value);
}

export function engineSettings(): EngineSettings {
  const c = config();
  const backend = c.get<string>('backend', 'auto');
  const model = c.get<string>('model', '').trim();
  const preprocess = c.get<string>('preprocess', '');
  const labels = c.get<string>('labels', '').trim();
  return {
    backend: (BACKEND_CHOICES as readonly string[]).includes(backend) ? (backend as BackendChoice) : 'auto',
    modelPath: model ? resolvePath(model) : null,
    defaults: {
      preprocess: isScalingPreset(preprocess) ? preprocess : undefined,
      labelsPath: labels ? resolvePath(labels) : undefined,
    },
    limits: {
      maxPixels: Math.max(1, c.get<number>('maxImageMegapixels', 40)) * 1e6,
      maxBytes: Math.max(1, c.get<number>('maxImageFileSizeMB', 100)) * 1024 * 1024,
    },
  };
}

export function viewDefaults(): ViewSettings {
  const c = config();
  const colormap = c.get<string>('colormap', 'jet');
  const opacity = c.get<number>('opacity', 0.5);
  return {
    colormap: (COLORMAP_NAMES as readonly string[]).includes(colormap) ? (colormap as ColormapName) : 'jet',
    opacity: Math.min(1, Math.max(0, Number.isFinite(opacity) ? opacity : 0.5)),
  };
}

/** Remembers the user's last colormap and opacity as global (user) settings. */
export async function saveView(view: ViewSettings): Promise<void> {
  const c = config();
  if (c.get('colormap') !== view.colormap) await c.update('colormap', view.colormap, vscode.ConfigurationTarget.Global);
  if (c.get('opacity') !== view.opacity) await c.update('opacity', view.opacity, vscode.ConfigurationTarget.Global);
}

/** The seed a new panel's "Look inside" optimisations start from. */
export function seedDefault(): number {
  const seed = config().get<number>('seed', 0);
  return Number.isInteger(seed) && seed >= 0 && seed <= 2 ** 31 ? seed : 0;
}
