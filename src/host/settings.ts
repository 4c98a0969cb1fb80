/** Reads CNN Lens settings and turns them into what the engine client needs. */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isScalingPreset } from '../files/modelConfig';
import { findZooEntry } from '../files/zoo/catalog';
import { BACKEND_CHOICES, type BackendChoice } from '../files/choices';
import { COLORMAP_NAMES, type ColormapName } from '../shared/vocabulary';
import type { ViewSettings } from '../shared/protocol';
import type { EngineSettings } from './engineClient';
import { modelChoice } from './modelSource';
import {
  modelSettingValue as modelSettingValueFor,
  outputAndLimits,
  resolveModelSetting,
  type ModelSetting,
  type SettingPlaces,
} from './modelSetting';

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('cnnLens');
}

/** Where downloaded zoo models live (the extension's global storage); set at activation. */
let zooStorage: string | null = null;

export function setZooStorage(dir: string): void {
  zooStorage = dir;
}

function places(): SettingPlaces {
  return { workspaceRoot: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? null, zooStorage };
}

/** How the cnnLens.model setting names this model.json (see modelSetting.ts). */
export function modelSettingValue(uri: vscode.Uri): string {
  return modelSettingValueFor(uri.fsPath, places());
}

/** The cnnLens.model setting, resolved. */
export function modelSetting(): ModelSetting {
  return resolveModelSetting(config().get<string>('model', ''), places());
}

function modelProblem(setting: ModelSetting): string | null {
  if (setting.kind === 'invalid') return setting.message;
  if (setting.kind === 'zoo' && !existsSync(setting.path)) {
    const entry = findZooEntry(setting.id);
    return `cnnLens.model names the downloaded model "${setting.id}"${entry ? ` (${entry.title})` : ''}, which is not downloaded on this machine: run "CNN Lens: Download Pretrained Model…" or select another model.`;
  }
  return null;
}

export function engineSettings(): EngineSettings {
  const c = config();
  // Restricted Mode withholds the workspace's values of these, as of cnnLens.model (restrictedConfigurations).
  const chosen = outputAndLimits(c.get<unknown>('modelOutput', ''), c.get<unknown>('modelLimits', {}));
  const backend = c.get<string>('backend', 'auto');
  const preprocess = c.get<string>('preprocess', '');
  const labels = c.get<string>('labels', '').trim();
  const rawModel = c.get<string>('model', '');
  const setting = resolveModelSetting(rawModel, places());
  const { workspaceRoot } = places();
  return {
    backend: (BACKEND_CHOICES as readonly string[]).includes(backend) ? (backend as BackendChoice) : 'auto',
    onnxRuntime: c.get<string>('onnxRuntime', 'auto') === 'off' ? 'off' : 'auto',
    modelPath: setting.kind === 'path' || setting.kind === 'zoo' ? setting.path : null,
    modelProblem: modelProblem(setting) ?? chosen.problem,
    modelChoice: modelChoice(setting, rawModel, !vscode.workspace.isTrusted),
    defaults: {
      preprocess: isScalingPreset(preprocess) ? preprocess : undefined,
      labelsPath: labels
        ? path.isAbsolute(labels) || !workspaceRoot
          ? path.resolve(labels)
          : path.join(workspaceRoot, labels)
        : undefined,
      ...(chosen.output ? { output: chosen.output } : {}),
      ...(chosen.limits ? { limits: chosen.limits } : {}),
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

/** The seed a new panel's "Look inside" optimisations start from. */
export function seedDefault(): number {
  const seed = config().get<number>('seed', 0);
  return Number.isInteger(seed) && seed >= 0 && seed <= 2 ** 31 ? seed : 0;
}
