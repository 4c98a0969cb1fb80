/**
 * The webview's one handle on VS Code: typed posting (`WebviewToHost`) and the persisted view state.
 */
import type { ViewSettings, WebviewToHost } from '../src/shared/protocol';
import { COLORMAP_NAMES } from '../src/engine/types';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): unknown;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** What survives the webview being hidden and reloaded (retainContextWhenHidden is off). */
export interface PersistedState {
  view?: ViewSettings;
}

const api: VsCodeApi = acquireVsCodeApi();

export function post(message: WebviewToHost): void {
  api.postMessage(message);
}

export function isViewSettings(value: unknown): value is ViewSettings {
  if (typeof value !== 'object' || value === null) return false;
  const { colormap, opacity } = value as Record<string, unknown>;
  return (
    typeof colormap === 'string' &&
    (COLORMAP_NAMES as readonly string[]).includes(colormap) &&
    typeof opacity === 'number' &&
    Number.isFinite(opacity) &&
    opacity >= 0 &&
    opacity <= 1
  );
}

export function loadState(): PersistedState {
  const state = api.getState();
  if (typeof state !== 'object' || state === null) return {};
  const view = (state as Record<string, unknown>).view;
  return isViewSettings(view) ? { view } : {};
}

export function saveState(state: PersistedState): void {
  api.setState(state);
}
