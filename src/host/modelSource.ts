/**
 * Which model the panel explains with and why, in one line for its header (plain functions, no vscode: unit-tested
 * in Node). The origin comes from the cnnLens.model setting, `configured` from where the model's input scaling came.
 */
import type { ModelOrigin, ModelSource } from '../shared/protocol';
import type { ModelSetting } from './modelSetting';

/** The default model's name (its cnnlens.json "name"), for the status bar and the model picker. */
export const DEFAULT_MODEL_TITLE = 'Darknet tiny (ImageNet)';

export interface ModelChoice {
  origin: ModelOrigin;
  /** The cnnLens.model value as written ('' for the default). */
  setting: string;
  /** Restricted Mode: the workspace's cnnLens.model is not read, so the default may stand in for it. */
  restricted: boolean;
}

export function modelChoice(setting: ModelSetting, raw: string, restricted: boolean): ModelChoice {
  const origin: ModelOrigin = setting.kind === 'bundled' ? 'default' : setting.kind === 'zoo' ? 'downloaded' : 'setting';
  return { origin, setting: raw.trim(), restricted };
}

/** `preprocessingSource`: ModelSummary.preprocessing.source ('cnnlens.json', 'settings', 'default', …). */
export function describeModelSource(choice: ModelChoice, preprocessingSource: string): ModelSource {
  const configured = preprocessingSource === 'cnnlens.json';
  let text: string;
  if (choice.origin === 'default')
    text = choice.restricted
      ? "default model: Restricted Mode ignores the workspace's cnnLens.model"
      : 'default model, shipped with CNN Lens: cnnLens.model is not set';
  else {
    text = `${choice.origin === 'downloaded' ? 'downloaded model' : 'your model'}, from the cnnLens.model setting (${choice.setting})`;
    text += configured ? ' · input and labels from the cnnlens.json beside it' : ' · no cnnlens.json beside it';
  }
  return { origin: choice.origin, configured, text };
}
