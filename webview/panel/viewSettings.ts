/**
 * The overlay's look (colormap, opacity), kept in this panel's webview state — the settings change only
 * when the user asks (Use for New Panels: workspace settings) — and Export, which writes it at full size.
 */
import type { ExportedMessage, ViewSettings } from '../../src/shared/protocol';
import type { ColormapName } from '../../src/shared/vocabulary';
import type { CompareView } from '../view/compare';
import { isViewSettings, post, saveState } from '../vscodeApi';
import { fillSelect, type PanelCore } from './core';

export const DEFAULT_VIEW: ViewSettings = { colormap: 'jet', opacity: 0.5 };

export class ViewSettingsController {
  constructor(
    private readonly core: PanelCore,
    private readonly compare: CompareView,
    private view: ViewSettings,
    /** True when the settings came from the webview state, which wins over the host's defaults. */
    private fromState: boolean,
  ) {
    const { ui } = core;
    ui.colormap.addEventListener('change', () => {
      this.update({ ...this.view, colormap: ui.colormap.value as ColormapName });
    });
    ui.opacity.addEventListener('input', () => {
      this.update({ ...this.view, opacity: Number(ui.opacity.value) / 100 });
    });
    ui.saveDefaults.addEventListener('click', () => {
      core.setStatus('busy', 'Saving the colormap and opacity for new panels…');
      post({ type: 'saveViewDefaults', view: this.view });
    });
    ui.exportButton.addEventListener('click', () => {
      core.setStatus('busy', 'Exporting the overlay…');
      post({ type: 'export', view: this.view, what: 'overlay' });
    });
    ui.exportMapButton.addEventListener('click', () => {
      core.setStatus('busy', 'Exporting the raw map…');
      post({ type: 'export', view: this.view, what: 'map' });
    });
  }

  /** The host's defaults for a new panel, unless the user already chose in this one. */
  offer(view: unknown): void {
    if (!this.fromState && isViewSettings(view)) this.view = view;
  }

  /** Puts the view settings into the colormap and opacity controls and the overlay. */
  show(colormaps: readonly ColormapName[]): void {
    const { ui, overlay } = this.core;
    fillSelect(
      ui.colormap,
      colormaps.map((name) => ({ value: name, text: name })),
      this.view.colormap,
    );
    ui.opacity.value = String(Math.round(this.view.opacity * 100));
    ui.opacityValue.textContent = `${ui.opacity.value}%`;
    overlay.setView(this.view);
  }

  onExported(msg: ExportedMessage): void {
    if (msg.cancelled) this.core.setStatus('info', 'Export cancelled: nothing was written.');
    else this.core.setStatus('ok', `Saved ${msg.path}`);
  }

  private update(view: ViewSettings): void {
    if (!isViewSettings(view)) return;
    this.view = view;
    this.fromState = true;
    this.core.ui.opacityValue.textContent = `${Math.round(view.opacity * 100)}%`;
    this.core.overlay.setView(view);
    this.compare.setView(view);
    saveState({ view });
  }
}
