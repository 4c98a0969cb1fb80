/**
 * The webview's one handle on VS Code: typed posting (`WebviewToHost`) and the persisted view state.
 */
import type { TechniqueParameters } from '../src/shared/vocabulary';
import type { ViewSettings, WebviewToHost } from '../src/shared/protocol';
import { parseParameters } from '../src/shared/protocol';
import { COLORMAP_NAMES } from '../src/shared/vocabulary';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): unknown;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** What survives the webview being hidden and reloaded (retainContextWhenHidden is off). */
export interface PersistedState {
  view?: ViewSettings;
  /** Technique parameters the user set, by technique id. */
  parameters?: Record<string, TechniqueParameters>;
}

/** More techniques than the engine will ever offer; anything beyond is not ours. */
const MAX_REMEMBERED_TECHNIQUES = 64;

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

/** Remembered parameters, checked like a run message's (the state is only as trustworthy as the page). */
function parseRemembered(value: unknown): Record<string, TechniqueParameters> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const remembered: Record<string, TechniqueParameters> = {};
  for (const [technique, raw] of Object.entries(value).slice(0, MAX_REMEMBERED_TECHNIQUES)) {
    const parameters = technique === '__proto__' ? null : parseParameters(raw);
    if (parameters) remembered[technique] = parameters;
  }
  return remembered;
}

let current: PersistedState = {};

export function loadState(): PersistedState {
  const state = api.getState();
  if (typeof state !== 'object' || state === null) return (current = {});
  const { view, parameters } = state as Record<string, unknown>;
  current = {};
  if (isViewSettings(view)) current.view = view;
  const remembered = parseRemembered(parameters);
  if (remembered) current.parameters = remembered;
  return { ...current };
}

/** Updates the parts of the persisted state given, keeping the others. */
export function saveState(update: PersistedState): void {
  current = { ...current, ...update };
  api.setState(current);
}
