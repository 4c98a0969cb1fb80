/**
 * The CNN Lens panel's UI. It talks to the host only through `WebviewToHost` / `HostToWebview`
 * (src/shared/protocol.ts) and keeps its view settings and technique parameters in the webview state.
 * This file builds the panel and routes the host's messages; each feature is a controller in panel/.
 */
import './styles.css';
import type {
  ErrorMessage,
  FocusLayerMessage,
  HostToWebview,
  InitMessage,
  RunEndedMessage,
  RunStartedMessage,
} from '../src/shared/protocol';
import { COLORMAP_NAMES } from '../src/shared/vocabulary';
import { CompareController } from './panel/compare';
import { hasOption, PanelCore } from './panel/core';
import { ExplainController } from './panel/explain';
import { InspectController } from './panel/inspect';
import { RememberedParameters } from './panel/rememberedParameters';
import { DEFAULT_VIEW, ViewSettingsController } from './panel/viewSettings';
import { CompareView } from './view/compare';
import { h } from './view/dom';
import { formatShape } from './view/format';
import { InspectView } from './view/inspect';
import { ModelSourceLine } from './view/modelSource';
import { buildLayout } from './view/layout';
import { OverlayView } from './view/overlay';
import { ParameterControls } from './view/parameterControls';
import { PredictionList } from './view/predictions';
import { loadState, post, saveState, type PersistedState } from './vscodeApi';

class App {
  private readonly core: PanelCore;
  private readonly explain: ExplainController;
  private readonly compare: CompareController;
  private readonly inspect: InspectController;
  private readonly inspectView: InspectView;
  private readonly compareView: CompareView;
  private readonly view: ViewSettingsController;
  private readonly modelSource = new ModelSourceLine();
  /** Choices kept from before the tab was hidden, applied once the model is described. */
  private restored: PersistedState;

  constructor(root: HTMLElement) {
    const state = loadState();
    this.restored = state;
    const settings = state.view ?? DEFAULT_VIEW;
    // The views call back into the controllers, which need the layout the views make up.
    const overlay = new OverlayView(settings);
    const predictions = new PredictionList((index) => this.explain.pickClass(index));
    const parameters = new ParameterControls(() => this.explain.onParametersEdited());
    this.compareView = new CompareView(settings, (techniques, sanity, road) => this.compare.request(techniques, sanity, road));
    this.inspectView = new InspectView(
      (fields) => this.inspect.request(fields),
      () => this.inspect.save(),
    );
    const ui = buildLayout(root, overlay, predictions, parameters, this.compareView, this.inspectView);
    ui.headerMeta.after(this.modelSource.element);
    this.core = new PanelCore(ui, overlay);
    this.explain = new ExplainController(this.core, predictions, parameters, new RememberedParameters(state.parameters ?? {}));
    this.compare = new CompareController(this.core, this.compareView, this.explain);
    this.inspect = new InspectController(this.core, this.inspectView, this.explain);
    this.view = new ViewSettingsController(this.core, this.compareView, settings, state.view !== undefined);
    this.view.show(COLORMAP_NAMES);
    if (state.compare) this.compareView.restore(state.compare);
    // The webview state keeps what the user chose, so hiding the tab (which unloads the page) loses nothing.
    const persist = () => this.persist();
    this.compareView.onChosen = persist;
    this.inspectView.onChosen = persist;
    this.explain.onChosen = persist;
    ui.technique.addEventListener('change', persist);
    ui.layer.addEventListener('change', () => {
      this.inspectView.followLayer(this.explain.layers.selected()?.split(',')[0] ?? null);
      persist();
    });
    ui.cancel.addEventListener('click', () => post({ type: 'cancel' }));
    ui.retry.addEventListener('click', () => {
      ui.retry.hidden = true;
      this.core.setPlaceholder('busy', 'Loading model…');
      this.core.setStatus('busy', 'Loading model…');
      this.core.setPhase('idle');
      post({ type: 'ready' });
    });
    this.core.setPhase('idle');
  }

  private persist(): void {
    if (!this.core.init) return;
    const { ui } = this.core;
    saveState({
      explain: { technique: ui.technique.value, layer: this.explain.layers.selected() ?? '', classIndex: this.explain.classIndex },
      compare: this.compareView.choices(),
      inspect: this.inspectView.choices(),
    });
  }

  handle(msg: HostToWebview): void {
    switch (msg.type) {
      case 'init':
        return this.onInit(msg);
      case 'runStarted':
        return this.onRunStarted(msg);
      case 'result':
        return this.explain.onResult(msg);
      case 'preview':
        return this.explain.onPreview(msg);
      case 'compareResult':
        return this.compare.onResult(msg);
      case 'inspectPreview':
        return this.inspect.onPreview(msg);
      case 'inspectResult':
        return this.inspect.onResult(msg);
      case 'runEnded':
        return this.onRunEnded(msg);
      case 'exported':
        return this.view.onExported(msg);
      case 'error':
        return this.onError(msg);
      case 'focusLayer':
        return this.onFocusLayer(msg);
    }
  }

  private onInit(msg: InitMessage): void {
    const { core } = this;
    const { ui } = core;
    core.init = msg;
    const { model } = msg;
    ui.imageName.textContent = msg.imageName;
    ui.imageName.title = msg.imageName;
    document.title = `CNN Lens: ${msg.imageName}`;
    ui.modelName.textContent = model.name;
    ui.modelName.title = `Model: ${model.name}`;
    ui.inputShape.textContent = `input ${formatShape(model.inputShape)}`;
    ui.backend.textContent = model.backend;
    ui.backend.title = `Backend: ${model.backend}`;
    ui.backend.hidden = model.backend === '';
    ui.headerMeta.hidden = false;
    this.modelSource.show(model.source);

    this.view.offer(msg.view);
    this.view.show(msg.colormaps.length > 0 ? msg.colormaps : COLORMAP_NAMES);
    this.explain.onInit(msg);
    this.inspectView.fillLayers(model.layers, model.defaultLayer);
    this.inspectView.followLayer(this.explain.layers.selected()?.split(',')[0] ?? null);
    const restored = this.restored;
    this.restored = {};
    if (restored.explain && !this.explain.result) this.explain.restore(restored.explain);
    if (restored.inspect) this.inspectView.restore(restored.inspect);
    this.compareView.setTechniques(msg.techniques);
    this.compareView.setDisabled(false);
    this.inspectView.setDisabled(false);
    this.inspectView.setSeed(msg.seed);
    ui.retry.hidden = true;
    if (!this.explain.result) core.setPlaceholder('busy', 'Waiting for the first run…');
    core.setStatus('info', 'Model loaded.');
  }

  /** The model tree picked a layer: target it (and explain), or look at its feature maps or filters. */
  private onFocusLayer(msg: FocusLayerMessage): void {
    const { core, explain } = this;
    if (!core.init || !hasOption(core.ui.layer, msg.layer)) {
      core.setStatus('error', `This panel's model has no layer "${msg.layer}".`);
      return;
    }
    if (msg.action === 'explain') {
      if (core.ui.fuseLayers.checked) explain.layers.setFusing(false);
      core.ui.layer.value = msg.layer;
      this.inspectView.followLayer(msg.layer);
      explain.explainAtPickedLayer();
      return;
    }
    // Feature maps and filters are Look inside's: its own layer picker takes the layer, while the
    // target-layer picker keeps describing the map on the image.
    this.inspectView.start(msg.action, msg.layer);
  }

  private onRunStarted(msg: RunStartedMessage): void {
    const { core } = this;
    core.activeRunId = msg.runId;
    core.latestRunId = Math.max(core.latestRunId, msg.runId);
    this.explain.onRunStarted(msg.technique, msg.request);
    this.inspect.onRunStarted(msg.inspect);
    const title = core.techniqueTitle(msg.technique);
    core.activeTitle = title;
    core.ui.cancel.hidden = false;
    core.ui.stage.classList.add('busy');
    if (!core.overlay.hasPixels) core.setPlaceholder('busy', `Running ${title}…`);
    core.setStatus('busy', `Running ${title}…`);
    core.setPhase('running');
  }

  private onRunEnded(msg: RunEndedMessage): void {
    const { core } = this;
    if (core.activeRunId !== null && msg.runId !== core.activeRunId) return;
    if (msg.runId < core.latestRunId && core.activeRunId === null) return;
    core.activeRunId = null;
    core.endBusy();
    this.explain.dropPreview();
    this.inspectView.endPreview();
    if (msg.outcome === 'cancelled') {
      core.setStatus('info', 'Cancelled.');
      if (!core.overlay.hasPixels) core.setPlaceholder('info', 'Cancelled. Pick a technique or class to run again.');
      core.setPhase(this.explain.result ? 'ready' : 'idle');
      return;
    }
    core.setStatus('error', msg.message || 'The run failed.');
    if (!core.overlay.hasPixels) core.setPlaceholder('error', 'The run failed; see the message below.');
    core.setPhase('error');
  }

  private onError(msg: ErrorMessage): void {
    const { core } = this;
    if (!core.init) {
      // The model could not be described: nothing else can work until a retry.
      core.ui.retry.hidden = false;
      core.setPlaceholder('error', 'The model could not be loaded.');
    }
    core.setStatus('error', msg.message);
    if (core.activeRunId === null) core.setPhase('error');
  }
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
