/**
 * The CNN Lens panel's UI. It talks to the host only through `WebviewToHost` / `HostToWebview`
 * (src/shared/protocol.ts) and keeps its view settings and technique parameters in the webview state.
 */
import './styles.css';
import type { ColormapName, TechniqueInfo, TechniqueParameters } from '../src/shared/vocabulary';
import { COLORMAP_NAMES } from '../src/shared/vocabulary';
import type {
  ErrorMessage,
  ExportedMessage,
  HostToWebview,
  CompareResultMessage,
  FocusLayerMessage,
  InitMessage,
  InspectResultMessage,
  PreviewMessage,
  ResultMessage,
  RunEndedMessage,
  RunStartedMessage,
  ViewSettings,
} from '../src/shared/protocol';
import { append, clear, h, icon } from './view/dom';
import { formatLayer, formatShape, formatTimings, groupLayers, resolveClass } from './view/format';
import { buildLayout, type Layout } from './view/layout';
import { CompareView } from './view/compare';
import { InspectView } from './view/inspect';
import { OverlayView } from './view/overlay';
import { ParameterControls } from './view/parameterControls';
import { describeChanged, parameterValues } from './view/parameters';
import { PredictionList } from './view/predictions';
import { isViewSettings, loadState, post, saveState } from './vscodeApi';

type Phase = 'idle' | 'running' | 'ready' | 'error';
type StatusKind = 'busy' | 'ok' | 'info' | 'error';

const DEFAULT_VIEW: ViewSettings = { colormap: 'jet', opacity: 0.5 };
/** Changing technique, layer or a parameter re-runs after this pause, so arrowing through a list runs once. */
const RERUN_DELAY_MS = 200;

const STATUS_ICONS: Record<StatusKind, [string, string]> = {
  busy: ['loading', 'codicon-modifier-spin'],
  ok: ['pass', ''],
  info: ['info', ''],
  error: ['error', ''],
};

class App {
  private readonly overlay: OverlayView;
  private readonly predictions: PredictionList;
  private readonly parameters: ParameterControls;
  private readonly ui: Layout;
  /** Parameter values the user set, by technique (persisted). */
  private readonly remembered: Record<string, TechniqueParameters>;
  private view: ViewSettings;
  private viewFromState: boolean;

  private init: InitMessage | undefined;
  private result: ResultMessage | undefined;
  private readonly compare: CompareView;
  private readonly inspect: InspectView;
  /** The title of the technique (or comparison) the host is running, for progress lines. */
  private activeTitle = '';
  private resultDescription = '';
  /** The run the host is working on, if any. */
  private activeRunId: number | null = null;
  private latestRunId = 0;
  /** The class the next run explains (null = top-1). */
  private classIndex: number | null = null;
  private rerunTimer: ReturnType<typeof setTimeout> | undefined;
  private rerunPending = false;

  constructor(root: HTMLElement) {
    const state = loadState();
    const saved = state.view;
    this.view = saved ?? DEFAULT_VIEW;
    this.viewFromState = saved !== undefined;
    this.remembered = state.parameters ?? {};
    this.overlay = new OverlayView(this.view);
    this.predictions = new PredictionList((index) => this.pickClass(index));
    this.parameters = new ParameterControls(() => this.onParametersEdited());
    this.compare = new CompareView(this.view, (techniques, sanity) => {
      if (!this.init) return;
      // A re-run still waiting for its pause would supersede the comparison the user just asked for.
      this.cancelScheduledRun();
      post({ type: 'compare', techniques, classIndex: this.classIndex, layer: this.selectedLayers(), sanity });
    });
    this.inspect = new InspectView(
      (fields) => {
        if (!this.init) return;
        this.cancelScheduledRun();
        post({ type: 'inspect', ...fields, layer: this.selectedLayers()?.split(',')[0] ?? null, classIndex: this.classIndex });
      },
      () => post({ type: 'saveInspect' }),
    );
    this.ui = buildLayout(root, this.overlay, this.predictions, this.parameters, this.compare, this.inspect);
    this.showView(COLORMAP_NAMES);
    this.wire();
    this.setPhase('idle');
  }

  // ---- incoming ----

  handle(msg: HostToWebview): void {
    switch (msg.type) {
      case 'init':
        this.onInit(msg);
        break;
      case 'runStarted':
        this.onRunStarted(msg);
        break;
      case 'result':
        this.onResult(msg);
        break;
      case 'preview':
        this.onPreview(msg);
        break;
      case 'compareResult':
        this.onCompareResult(msg);
        break;
      case 'inspectPreview':
        if (msg.runId === this.activeRunId) {
          this.inspect.showPreview(msg);
          this.setStatus('busy', `${this.activeTitle}: ${Math.round(msg.fraction * 100)} % — showing the image so far…`);
        }
        break;
      case 'inspectResult':
        this.onInspectResult(msg);
        break;
      case 'runEnded':
        this.onRunEnded(msg);
        break;
      case 'exported':
        this.onExported(msg);
        break;
      case 'error':
        this.onError(msg);
        break;
      case 'focusLayer':
        this.onFocusLayer(msg);
        break;
    }
  }

  /** The model tree picked a layer: target it (switching to Grad-CAM if the technique has no layer), or inspect it. */
  private onFocusLayer(msg: FocusLayerMessage): void {
    if (!this.init || !this.hasOption(this.ui.layer, msg.layer)) {
      this.setStatus('error', `This panel's model has no layer "${msg.layer}".`);
      return;
    }
    if (this.ui.fuseLayers.checked) this.setFusing(false);
    this.ui.layer.value = msg.layer;
    if (msg.action === 'explain') {
      if (this.techniqueInfo(this.ui.technique.value)?.needsLayer === false && this.hasOption(this.ui.technique, 'gradcam')) {
        this.ui.technique.value = 'gradcam';
        this.updateTechniqueHints();
      }
      this.requestRun();
      return;
    }
    this.cancelScheduledRun();
    this.inspect.start(msg.action);
  }

  private onInit(msg: InitMessage): void {
    this.init = msg;
    const { model } = msg;
    this.ui.imageName.textContent = msg.imageName;
    this.ui.imageName.title = msg.imageName;
    document.title = `CNN Lens: ${msg.imageName}`;
    this.ui.modelName.textContent = model.name;
    this.ui.modelName.title = `Model: ${model.name}`;
    this.ui.inputShape.textContent = `input ${formatShape(model.inputShape)}`;
    this.ui.backend.textContent = model.backend;
    this.ui.backend.title = `Backend: ${model.backend}`;
    this.ui.backend.hidden = model.backend === '';
    this.ui.headerMeta.hidden = false;

    if (!this.viewFromState && isViewSettings(msg.view)) this.view = msg.view;
    this.showView(msg.colormaps.length > 0 ? msg.colormaps : COLORMAP_NAMES);

    const current = this.ui.technique.value;
    this.fillSelect(
      this.ui.technique,
      msg.techniques.map((t) => ({ value: t.id, text: t.title })),
      current || msg.techniques[0]?.id || '',
    );
    this.fillLayers(model.layers, model.defaultLayer);
    this.fillLabels(model.labels);
    for (const control of [this.ui.technique, this.ui.classInput, this.ui.classGo, this.ui.rerun]) control.disabled = false;
    this.updateTechniqueHints(true);
    this.parameters.setDisabled(false);
    this.compare.setTechniques(msg.techniques);
    this.compare.setDisabled(false);
    this.inspect.setDisabled(false);
    this.inspect.setSeed(msg.seed);
    this.ui.retry.hidden = true;
    if (!this.result) this.setPlaceholder('busy', 'Waiting for the first run…');
    this.setStatus('info', 'Model loaded.');
  }

  private onRunStarted(msg: RunStartedMessage): void {
    this.activeRunId = msg.runId;
    this.latestRunId = Math.max(this.latestRunId, msg.runId);
    if (this.hasOption(this.ui.technique, msg.technique)) {
      this.ui.technique.value = msg.technique;
      this.updateTechniqueHints();
    }
    const title = this.techniqueTitle(msg.technique);
    this.activeTitle = title;
    this.ui.cancel.hidden = false;
    this.ui.stage.classList.add('busy');
    if (!this.overlay.hasPixels) this.setPlaceholder('busy', `Running ${title}…`);
    this.setStatus('busy', `Running ${title}…`);
    this.setPhase('running');
  }

  private onResult(msg: ResultMessage): void {
    if (msg.runId < this.latestRunId) return; // a stale run
    this.latestRunId = msg.runId;
    this.activeRunId = null;
    this.endBusy();
    delete this.ui.stage.dataset.preview;
    const title = this.techniqueTitle(msg.technique);
    const target = `${msg.target.label} (#${msg.target.index})`;
    const description = `${title} for ${target}${msg.layer ? ` at layer ${msg.layer}` : ''}`;
    const error = this.overlay.setPixels(msg.image, msg.heatmap, description, {
      signed: msg.signed,
      colour: msg.colour,
      region: msg.region,
    });
    if (error) {
      this.setStatus('error', error);
      this.setPhase('error');
      return;
    }
    this.result = msg;
    this.resultDescription = description;
    this.classIndex = msg.target.index;
    this.ui.placeholder.hidden = true;

    if (this.hasOption(this.ui.technique, msg.technique)) this.ui.technique.value = msg.technique;
    if (msg.layer) this.showLayers(msg.layer);
    this.updateTechniqueHints();
    const ran = isParameters(msg.parameters) ? msg.parameters : {};
    // Show what the run used, unless the user has already changed something for the next one.
    if (!this.rerunPending && this.parameters.technique === msg.technique) {
      this.parameters.setValues(ran);
      this.remember(msg.technique, ran);
    }

    const specs = this.techniqueInfo(msg.technique)?.parameters ?? [];
    const changed = describeChanged(specs, ran);
    clear(this.ui.caption);
    append(
      this.ui.caption,
      h(
        'span',
        { class: 'caption-technique' },
        title,
        changed ? h('span', { class: 'caption-params', 'data-testid': 'caption-params' }, ` (${changed})`) : null,
      ),
      h('span', { class: 'caption-sep', 'aria-hidden': 'true' }, '·'),
      h('span', {}, 'class ', h('strong', {}, msg.target.label), ` #${msg.target.index}`),
    );
    if (msg.layer) {
      this.ui.caption.append(
        h('span', { class: 'caption-sep', 'aria-hidden': 'true' }, '·'),
        h('span', {}, msg.layer.includes(',') ? 'layers ' : 'layer ', h('code', {}, msg.layer.split(',').join(' + '))),
      );
    }
    const size = msg.imageSize;
    if (size && Number.isInteger(size.width) && Number.isInteger(size.height)) {
      const cropped = msg.region && (msg.region.width < 1 || msg.region.height < 1);
      this.ui.caption.append(
        h('span', { class: 'caption-sep', 'aria-hidden': 'true' }, '·'),
        h(
          'span',
          {
            'data-testid': 'caption-image',
            title: cropped
              ? 'The model saw the bright centre crop (torchvision-style resize); the rest is dimmed.'
              : 'The whole image, resized to the model input',
          },
          `${size.width}×${size.height}${cropped ? ', centre crop' : ''}`,
        ),
      );
    }
    this.predictions.render(msg.predictions, msg.target);
    this.renderNotes(msg.notes);
    this.setStatus('ok', formatTimings(msg.timings, title));
    this.ui.exportButton.disabled = false;
    this.setPhase('ready');
  }

  private onInspectResult(msg: InspectResultMessage): void {
    if (msg.runId < this.latestRunId) return;
    this.latestRunId = msg.runId;
    this.activeRunId = null;
    this.endBusy();
    const error = this.inspect.show(msg);
    this.setStatus(error ? 'error' : 'ok', error ?? msg.caption);
    this.setPhase(error ? 'error' : 'ready');
    this.inspect.results.scrollIntoView({ block: 'nearest' });
  }

  private onCompareResult(msg: CompareResultMessage): void {
    if (msg.runId < this.latestRunId) return;
    this.latestRunId = msg.runId;
    this.activeRunId = null;
    this.endBusy();
    this.compare.show(msg);
    const failed = msg.rows.filter((row) => row.error).length;
    this.setStatus(
      failed ? 'error' : 'ok',
      `Compared ${msg.rows.length} techniques${failed ? `; ${failed} could not run (see their cards)` : ''}.`,
    );
    this.setPhase(failed === msg.rows.length ? 'error' : 'ready');
    this.compare.results.scrollIntoView({ block: 'nearest' });
  }

  /** The map so far of the running job: drawn as it comes, replaced by the result. */
  private onPreview(msg: PreviewMessage): void {
    if (msg.runId !== this.activeRunId) return;
    const title = this.activeTitle;
    const percent = Math.round(Math.min(1, Math.max(0, msg.fraction)) * 100);
    const detail = msg.detail ? ` (${msg.detail})` : '';
    this.ui.stage.dataset.progress = String(percent);
    if (!msg.image || !msg.heatmap) {
      this.setStatus('busy', `${title}: ${percent} %${detail}…`);
      return;
    }
    if (this.overlay.setPixels(msg.image, msg.heatmap, `${title}, ${percent} % done (preview)`, { signed: msg.signed, region: msg.region }))
      return;
    this.ui.placeholder.hidden = true;
    this.ui.stage.dataset.preview = String(percent);
    this.setStatus('busy', `${title}: ${percent} %${detail} — showing the map so far…`);
  }

  private onRunEnded(msg: RunEndedMessage): void {
    if (this.activeRunId !== null && msg.runId !== this.activeRunId) return;
    if (msg.runId < this.latestRunId && this.activeRunId === null) return;
    this.activeRunId = null;
    this.endBusy();
    this.dropPreview();
    this.inspect.endPreview();
    if (msg.outcome === 'cancelled') {
      this.setStatus('info', 'Cancelled.');
      if (!this.overlay.hasPixels) this.setPlaceholder('info', 'Cancelled. Pick a technique or class to run again.');
      this.setPhase(this.result ? 'ready' : 'idle');
      return;
    }
    this.setStatus('error', msg.message || 'The run failed.');
    if (!this.overlay.hasPixels) this.setPlaceholder('error', 'The run failed; see the message below.');
    this.setPhase('error');
  }

  private onExported(msg: ExportedMessage): void {
    this.setStatus('ok', `Saved ${msg.path}`);
  }

  private onError(msg: ErrorMessage): void {
    if (!this.init) {
      // The model could not be described: nothing else can work until a retry.
      this.ui.retry.hidden = false;
      this.setPlaceholder('error', 'The model could not be loaded.');
    }
    this.setStatus('error', msg.message);
    if (this.activeRunId === null) this.setPhase('error');
  }

  // ---- outgoing ----

  private wire(): void {
    this.ui.technique.addEventListener('change', () => {
      this.updateTechniqueHints();
      this.scheduleRun();
    });
    this.ui.layer.addEventListener('change', () => this.scheduleRun());
    this.ui.fuseLayers.addEventListener('change', () => {
      this.setFusing(this.ui.fuseLayers.checked);
      if (!this.ui.fuseLayers.checked) this.scheduleRun();
    });
    this.ui.rerun.addEventListener('click', () => this.requestRun());
    this.ui.cancel.addEventListener('click', () => post({ type: 'cancel' }));
    this.ui.retry.addEventListener('click', () => {
      this.ui.retry.hidden = true;
      this.setPlaceholder('busy', 'Loading model…');
      this.setStatus('busy', 'Loading model…');
      this.setPhase('idle');
      post({ type: 'ready' });
    });

    this.ui.classForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitClass();
    });
    this.ui.classInput.addEventListener('input', () => this.showClassError(null));

    this.ui.colormap.addEventListener('change', () => {
      this.updateView({ ...this.view, colormap: this.ui.colormap.value as ColormapName }, true);
    });
    this.ui.opacity.addEventListener('input', () => {
      this.updateView({ ...this.view, opacity: Number(this.ui.opacity.value) / 100 }, false);
    });
    this.ui.opacity.addEventListener('change', () => post({ type: 'viewChanged', view: this.view }));
    this.ui.exportButton.addEventListener('click', () => {
      this.setStatus('busy', 'Exporting PNG…');
      post({ type: 'export', view: this.view });
    });
  }

  /** Puts the view settings into the colormap and opacity controls and the overlay. */
  private showView(colormaps: readonly ColormapName[]): void {
    this.fillSelect(
      this.ui.colormap,
      colormaps.map((name) => ({ value: name, text: name })),
      this.view.colormap,
    );
    this.ui.opacity.value = String(Math.round(this.view.opacity * 100));
    this.ui.opacityValue.textContent = `${this.ui.opacity.value}%`;
    this.overlay.setView(this.view);
  }

  private updateView(view: ViewSettings, notifyHost: boolean): void {
    if (!isViewSettings(view)) return;
    this.view = view;
    this.viewFromState = true;
    this.ui.opacityValue.textContent = `${Math.round(view.opacity * 100)}%`;
    this.overlay.setView(view);
    this.compare.setView(view);
    saveState({ view });
    if (notifyHost) post({ type: 'viewChanged', view });
  }

  private scheduleRun(): void {
    clearTimeout(this.rerunTimer);
    this.rerunPending = true;
    this.rerunTimer = setTimeout(() => this.requestRun(), RERUN_DELAY_MS);
  }

  private cancelScheduledRun(): void {
    clearTimeout(this.rerunTimer);
    this.rerunPending = false;
  }

  private requestRun(): void {
    this.cancelScheduledRun();
    const technique = this.ui.technique.value;
    if (!this.init || !technique) return;
    const info = this.techniqueInfo(technique);
    const layer = info?.needsLayer === false ? null : this.selectedLayers();
    const read =
      this.parameters.technique === technique
        ? this.parameters.read()
        : { ok: true as const, values: parameterValues(info?.parameters ?? [], this.rememberedFor(technique)) };
    if (!read.ok) {
      this.setStatus('error', `Parameter "${read.name}": ${read.error}`);
      return;
    }
    this.remember(technique, read.values);
    post({ type: 'run', technique, classIndex: this.classIndex, layer, parameters: read.values });
  }

  /** A control changed: re-run after the usual pause, unless a field cannot be read yet (half typed, empty). */
  private onParametersEdited(): void {
    const technique = this.parameters.technique;
    const read = this.parameters.read();
    if (!technique || !read.ok) {
      this.cancelScheduledRun();
      return;
    }
    this.remember(technique, read.values);
    this.scheduleRun();
  }

  private remember(technique: string, values: TechniqueParameters): void {
    if (Object.keys(values).length === 0 && !Object.hasOwn(this.remembered, technique)) return;
    this.remembered[technique] = { ...values };
    saveState({ parameters: this.remembered });
  }

  private rememberedFor(technique: string | undefined): TechniqueParameters | undefined {
    return technique !== undefined && Object.hasOwn(this.remembered, technique) ? this.remembered[technique] : undefined;
  }

  private pickClass(index: number): void {
    this.classIndex = index;
    this.showClassError(null);
    this.requestRun();
  }

  private submitClass(): void {
    if (!this.init) return;
    const resolved = resolveClass(this.ui.classInput.value, this.init.model.labels);
    if (!resolved.ok) {
      this.showClassError(resolved.error);
      return;
    }
    this.showClassError(null);
    this.pickClass(resolved.index);
  }

  // ---- view helpers ----

  private setPhase(phase: Phase): void {
    document.body.dataset.state = phase;
  }

  private setStatus(kind: StatusKind, text: string): void {
    const [name, modifier] = STATUS_ICONS[kind];
    this.ui.statusIcon.replaceChildren(icon(name, modifier));
    this.ui.statusText.textContent = text;
    this.ui.status.dataset.kind = kind;
    this.ui.status.classList.toggle('error', kind === 'error');
  }

  private setPlaceholder(kind: StatusKind, text: string): void {
    const [name, modifier] = STATUS_ICONS[kind];
    this.ui.placeholderIcon.replaceChildren(icon(name, modifier));
    this.ui.placeholderText.textContent = text;
    this.ui.placeholder.dataset.kind = kind;
    this.ui.placeholder.hidden = this.overlay.hasPixels;
  }

  private endBusy(): void {
    this.ui.cancel.hidden = true;
    this.ui.stage.classList.remove('busy');
    delete this.ui.stage.dataset.progress;
  }

  /** After a cancelled or failed run, a half-done preview must not pass for a result: show the last result again. */
  private dropPreview(): void {
    if (this.ui.stage.dataset.preview === undefined) return;
    delete this.ui.stage.dataset.preview;
    const last = this.result;
    if (last)
      this.overlay.setPixels(last.image, last.heatmap, this.resultDescription, {
        signed: last.signed,
        colour: last.colour,
        region: last.region,
      });
    else this.overlay.clear();
  }

  private showClassError(text: string | null): void {
    this.ui.classError.hidden = text === null;
    this.ui.classError.textContent = text ?? '';
    if (text === null) this.ui.classInput.removeAttribute('aria-invalid');
    else this.ui.classInput.setAttribute('aria-invalid', 'true');
  }

  private renderNotes(notes: readonly string[]): void {
    this.ui.notes.replaceChildren(...notes.map((note) => h('li', { class: 'note' }, icon('info'), h('span', {}, note))));
    this.ui.notes.hidden = notes.length === 0;
  }

  private techniqueInfo(id: string): TechniqueInfo | undefined {
    return this.init?.techniques.find((t) => t.id === id);
  }

  private techniqueTitle(id: string): string {
    return this.techniqueInfo(id)?.title ?? (id === 'compare' ? 'Comparison' : id === 'inspect' ? 'Look inside' : id);
  }

  private updateTechniqueHints(rebuild = false): void {
    const info = this.techniqueInfo(this.ui.technique.value);
    // Rebuilt only when the technique changes, so a run starting never takes the focus from a field.
    if (rebuild || this.parameters.technique !== (info?.id ?? null)) {
      this.parameters.render(info, parameterValues(info?.parameters ?? [], this.rememberedFor(info?.id)), this.init?.techniques ?? []);
    }
    this.ui.techniqueHint.textContent = info?.summary ?? '';
    this.ui.technique.title = info?.summary ?? '';
    const usesLayer = info?.needsLayer !== false;
    this.ui.layer.disabled = !this.init || !usesLayer || this.ui.layer.options.length === 0;
    this.ui.layerHint.textContent = usesLayer ? '' : `${info?.title ?? 'This technique'} does not use a layer.`;
    this.ui.layerHint.hidden = usesLayer;
    this.ui.fuseRow.hidden = !info?.fusesLayers;
    this.ui.fuseLayers.disabled = this.ui.layer.disabled;
    if (!info?.fusesLayers && this.ui.fuseLayers.checked) this.setFusing(false);
  }

  /** Several layers at once (CAM techniques): the picker becomes a multi-select list. */
  private setFusing(on: boolean): void {
    this.ui.fuseLayers.checked = on;
    const keep = this.ui.layer.value;
    this.ui.layer.multiple = on;
    this.ui.layer.size = on ? 8 : 0;
    if (!on) this.ui.layer.value = keep;
  }

  /** The picked layer, or the picked layers joined by commas when fusing; null = the model's default. */
  private selectedLayers(): string | null {
    const picked = Array.from(this.ui.layer.selectedOptions, (option) => option.value).filter(Boolean);
    return picked.length ? picked.join(',') : null;
  }

  private showLayers(layers: string): void {
    const names = layers.split(',');
    if (names.length > 1 && !this.ui.layer.multiple) this.setFusing(true);
    if (!names.every((name) => this.hasOption(this.ui.layer, name))) return;
    for (const option of Array.from(this.ui.layer.options)) option.selected = names.includes(option.value);
  }

  private hasOption(select: HTMLSelectElement, value: string): boolean {
    return Array.from(select.options).some((option) => option.value === value);
  }

  private fillSelect(select: HTMLSelectElement, options: { value: string; text: string }[], selected: string): void {
    select.replaceChildren(...options.map((o) => h('option', { value: o.value }, o.text)));
    if (this.hasOption(select, selected)) select.value = selected;
  }

  private fillLayers(layers: InitMessage['model']['layers'], defaultLayer: string | null): void {
    const { cam, other } = groupLayers(layers);
    const option = (layer: (typeof layers)[number]): HTMLOptionElement =>
      h(
        'option',
        { value: layer.name, title: formatLayer(layer) },
        `${formatLayer(layer)}${layer.name === defaultLayer ? ' (default)' : ''}`,
      );
    const groups: HTMLElement[] = [];
    if (cam.length > 0) groups.push(h('optgroup', { label: 'CAM-capable layers' }, ...cam.map(option)));
    if (other.length > 0) groups.push(h('optgroup', { label: 'Other layers' }, ...other.map(option)));
    const previous = this.ui.layer.value;
    this.ui.layer.replaceChildren(...groups);
    const wanted = previous || defaultLayer || cam[0]?.name || '';
    if (this.hasOption(this.ui.layer, wanted)) this.ui.layer.value = wanted;
  }

  private fillLabels(labels: readonly string[]): void {
    this.ui.classLabels.replaceChildren(...labels.map((label, index) => h('option', { value: `${label} (#${index})` })));
  }
}

function isParameters(value: unknown): value is TechniqueParameters {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHostMessage(data: unknown): data is HostToWebview {
  return typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string';
}

function start(): void {
  const root = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' }));
  const app = new App(root);
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    if (!isHostMessage(event.data)) return;
    try {
      app.handle(event.data);
    } catch (err) {
      console.error('CNN Lens: failed to handle a message', err);
    }
  });
  post({ type: 'ready' });
}

start();
