/**
 * The webview's one handle on VS Code: typed posting (`WebviewToHost`) and the persisted view state.
 */
import type { TechniqueParameters } from '../src/shared/vocabulary';
import type { ViewSettings, WebviewToHost } from '../src/shared/protocol';
import { parseParameters } from '../src/shared/protocol';
import type { InspectChoices } from './view/inspect';
import { COLORMAP_NAMES, INSPECT_KINDS, type InspectKind } from '../src/shared/vocabulary';

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
  /** The explanation the pickers were on: technique, layer(s), class (null = top-1). */
  explain?: { technique: string; layer: string; classIndex: number | null };
  /** Compare's ticked techniques and its sanity and ROAD options. */
  compare?: { ticks: string[]; sanity: boolean; road: boolean };
  /** Look inside's choices. */
  inspect?: InspectChoices;
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

const MAX_TEXT = 512;
const text = (v: unknown, max = MAX_TEXT): v is string => typeof v === 'string' && v.length <= max;
const record = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseExplainChoices(value: unknown): PersistedState['explain'] {
  if (!record(value)) return undefined;
  const { technique, layer, classIndex } = value;
  const validClass = classIndex === null || (typeof classIndex === 'number' && Number.isInteger(classIndex) && classIndex >= 0);
  if (!text(technique, 64) || !text(layer, 4096) || !validClass) return undefined;
  return { technique, layer, classIndex: classIndex as number | null };
}

function parseCompareChoices(value: unknown): PersistedState['compare'] {
  if (!record(value)) return undefined;
  const { ticks, sanity, road } = value;
  if (!Array.isArray(ticks) || ticks.length > MAX_REMEMBERED_TECHNIQUES || !ticks.every((t) => text(t, 64))) return undefined;
  if (typeof sanity !== 'boolean') return undefined;
  // State saved before ROAD existed has no `road`: off.
  return { ticks: [...(ticks as string[])], sanity, road: road === true };
}

function parseInspectChoices(value: unknown): PersistedState['inspect'] {
  if (!record(value)) return undefined;
  const { kind, layer, filter, steps, seed, fourier, sort } = value;
  if (typeof kind !== 'string' || !(INSPECT_KINDS as readonly string[]).includes(kind)) return undefined;
  if (!text(layer) || !text(filter, 16) || !text(steps, 16) || (seed !== undefined && !text(seed, 16))) return undefined;
  if (typeof fourier !== 'boolean' || (sort !== 'mean' && sort !== 'index')) return undefined;
  return { kind: kind as InspectKind, layer, filter, steps, seed: seed as string | undefined, fourier, sort };
}

let current: PersistedState = {};

export function loadState(): PersistedState {
  const state = api.getState();
  if (typeof state !== 'object' || state === null) return (current = {});
  const { view, parameters, explain, compare, inspect } = state as Record<string, unknown>;
  current = {};
  if (isViewSettings(view)) current.view = view;
  const remembered = parseRemembered(parameters);
  if (remembered) current.parameters = remembered;
  const explainChoices = parseExplainChoices(explain);
  if (explainChoices) current.explain = explainChoices;
  const compareChoices = parseCompareChoices(compare);
  if (compareChoices) current.compare = compareChoices;
  const inspectChoices = parseInspectChoices(inspect);
  if (inspectChoices) current.inspect = inspectChoices;
  return { ...current };
}

/** Updates the parts of the persisted state given, keeping the others. */
export function saveState(update: PersistedState): void {
  current = { ...current, ...update };
  api.setState(current);
}
