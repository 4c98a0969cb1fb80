/**
 * What every feature of the panel shares: the model the host described, the run it is working on, and
 * the status line, phase and placeholder that say so.
 */
import type { InitMessage } from '../../src/shared/protocol';
import type { TechniqueInfo } from '../../src/shared/vocabulary';
import { h, icon } from '../view/dom';
import type { Layout } from '../view/layout';
import type { OverlayView } from '../view/overlay';

export type Phase = 'idle' | 'running' | 'ready' | 'error';
export type StatusKind = 'busy' | 'ok' | 'info' | 'error';

const STATUS_ICONS: Record<StatusKind, [string, string]> = {
  busy: ['loading', 'codicon-modifier-spin'],
  ok: ['pass', ''],
  info: ['info', ''],
  error: ['error', ''],
};

export class PanelCore {
  init: InitMessage | undefined;
  /** The title of the technique (or comparison) the host is running, for progress lines. */
  activeTitle = '';
  /** The run the host is working on, if any. */
  activeRunId: number | null = null;
  latestRunId = 0;

  constructor(
    readonly ui: Layout,
    readonly overlay: OverlayView,
  ) {}

  /** A run's final message arrived: false for a stale run's; otherwise that run is over. */
  takeResult(runId: number): boolean {
    if (runId < this.latestRunId) return false;
    this.latestRunId = runId;
    this.activeRunId = null;
    this.endBusy();
    return true;
  }

  setPhase(phase: Phase): void {
    document.body.dataset.state = phase;
  }

  setStatus(kind: StatusKind, text: string): void {
    const [name, modifier] = STATUS_ICONS[kind];
    this.ui.statusIcon.replaceChildren(icon(name, modifier));
    this.ui.statusText.textContent = text;
    this.ui.status.dataset.kind = kind;
    this.ui.status.classList.toggle('error', kind === 'error');
  }

  setPlaceholder(kind: StatusKind, text: string): void {
    const [name, modifier] = STATUS_ICONS[kind];
    this.ui.placeholderIcon.replaceChildren(icon(name, modifier));
    this.ui.placeholderText.textContent = text;
    this.ui.placeholder.dataset.kind = kind;
    this.ui.placeholder.hidden = this.overlay.hasPixels;
  }

  endBusy(): void {
    this.ui.cancel.hidden = true;
    this.ui.stage.classList.remove('busy');
    delete this.ui.stage.dataset.progress;
  }

  techniqueInfo(id: string): TechniqueInfo | undefined {
    return this.init?.techniques.find((t) => t.id === id);
  }

  techniqueTitle(id: string): string {
    return this.techniqueInfo(id)?.title ?? (id === 'compare' ? 'Comparison' : id === 'inspect' ? 'Look inside' : id);
  }
}

export function hasOption(select: HTMLSelectElement, value: string): boolean {
  return Array.from(select.options).some((option) => option.value === value);
}

export function fillSelect(select: HTMLSelectElement, options: { value: string; text: string }[], selected: string): void {
  select.replaceChildren(...options.map((o) => h('option', { value: o.value }, o.text)));
  if (hasOption(select, selected)) select.value = selected;
}
