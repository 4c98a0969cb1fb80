/**
 * The CNN Lens panel's host side: one webview panel per image, its lifecycle, and the routing of its
 * messages to the feature modules (explainRun, compareRun, inspectRun, saving; panelRuns runs them one at
 * a time). The engine is only reached through `EngineApi` (it lives in a worker); nothing thrown here
 * escapes to the extension host.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type {
  CompareResultMessage,
  FocusLayerMessage,
  HostToWebview,
  InspectResultMessage,
  LayerAction,
  ResultMessage,
  ViewSettings,
  WebviewToHost,
} from '../../shared/protocol';
import type { ExplainRequest, TechniqueInfo, TechniqueParameters } from '../../shared/vocabulary';
import type { EngineApi } from '../engineApi';
import { runCompare } from './compareRun';
import { runExplain } from './explainRun';
import { runInspect } from './inspectRun';
import { describeForPanel } from './panelInit';
import { COMPARE, errorText, INSPECT, PanelRuns, type ActiveRun } from './panelRuns';
import { PanelWebview } from './panelWebview';
import { exportCompare, exportOverlay, exportRawMap, saveInspection, type SaveContext } from './saving';
import { saveViewDefaults } from './viewDefaults';

export { PANEL_VIEW_TYPE } from './panelWebview';

export interface ExplainPanelContext {
  extensionUri: vscode.Uri;
  engine: EngineApi;
  log: (line: string) => void;
  /** View settings for a new panel (the cnnLens.colormap and cnnLens.opacity settings). */
  viewDefaults: () => ViewSettings;
  /** The seed "Look inside" starts with (the cnnLens.seed setting). */
  seedDefault: () => number;
}

export class ExplainPanel {
  private static readonly panels = new Map<string, ExplainPanel>();
  /** The panel the user looked at last: where the model tree's clicks go. */
  private static lastActive: ExplainPanel | undefined;

  /** Opens (or reveals and re-runs) the panel for `imageUri`. */
  static show(context: ExplainPanelContext, imageUri: vscode.Uri, request: ExplainRequest): ExplainPanel {
    const key = imageUri.fsPath;
    const existing = ExplainPanel.panels.get(key);
    if (existing) {
      existing.webview.panel.reveal(undefined, false);
      existing.requestRun(existing.withKeptParameters(request));
      return existing;
    }
    const created = new ExplainPanel(context, imageUri, request);
    ExplainPanel.panels.set(key, created);
    return created;
  }

  /** Test hook: the open panel for an image path, if any. */
  static current(imagePath: string): ExplainPanel | undefined {
    return ExplainPanel.panels.get(vscode.Uri.file(imagePath).fsPath);
  }

  /** The configured model changed: every open panel describes the new one and explains again. */
  static reloadAll(): void {
    for (const panel of ExplainPanel.panels.values()) panel.reload();
  }

  /** The panel the model tree acts on: the last one active, else any open one. */
  static focused(): ExplainPanel | undefined {
    const last = ExplainPanel.lastActive;
    if (last && !last.disposed) return last;
    return ExplainPanel.panels.values().next().value;
  }

  static disposeAll(): void {
    for (const panel of [...ExplainPanel.panels.values()]) panel.dispose();
  }

  readonly imagePath: string;
  private readonly imageName: string;
  private readonly webview: PanelWebview;
  private disposed = false;

  /** The webview has said `ready` at least once (so a retry need not wait for another). */
  private webviewLoaded = false;
  /** `init` was sent: the model is described and runs may start. */
  private modelReady = false;
  private readyGeneration = 0;
  private techniqueList: TechniqueInfo[] = [];
  /** The parameters last asked for per technique, so a command re-running this panel keeps them. */
  private readonly parametersByTechnique = new Map<string, TechniqueParameters>();

  private readonly runs: PanelRuns;
  /** A run asked for before the model was ready. */
  private pendingRequest: ExplainRequest | undefined;
  /** A model-tree action that arrived before the model was ready. */
  private pendingFocus: FocusLayerMessage | undefined;
  /** What the feature modules (runs, saving) reach of this panel. */
  private readonly features: SaveContext;

  private constructor(
    private readonly context: ExplainPanelContext,
    imageUri: vscode.Uri,
    request: ExplainRequest,
  ) {
    this.imagePath = imageUri.fsPath;
    this.imageName = path.basename(this.imagePath);
    this.pendingRequest = request;
    const log = (line: string) => context.log(line);
    const post = (message: HostToWebview) => this.post(message);
    const titleOf = (id: string) => this.techniqueList.find((t) => t.id === id)?.title;
    this.runs = new PanelRuns({ imageName: this.imageName, isDisposed: () => this.disposed, post, log, titleOf });
    const techniqueInfo = (id: string) => this.techniqueList.find((t) => t.id === id);
    this.features = { imagePath: this.imagePath, engine: context.engine, runs: this.runs, post, log, techniqueInfo };
    this.webview = new PanelWebview(context.extensionUri, `CNN Lens: ${this.imageName}`, log, {
      message: (msg) => this.handle(msg),
      disposed: () => this.onDisposed(),
      becameActive: () => (ExplainPanel.lastActive = this),
    });
    ExplainPanel.lastActive = this;
  }

  // ---- test hooks (read-only) ----

  /** The last `result` message sent to the webview. */
  get lastResult(): ResultMessage | undefined {
    return this.runs.shown.result?.message;
  }

  /** Test hook: the last Compare result posted. */
  get lastCompare(): CompareResultMessage | undefined {
    return this.runs.shown.compare?.message;
  }

  /** Test hook: the last Look-inside result posted. */
  get lastInspect(): InspectResultMessage | undefined {
    return this.runs.shown.inspect?.message;
  }

  /** How many messages were posted to the webview. */
  get postedMessages(): number {
    return this.webview.posted;
  }

  get isRunning(): boolean {
    return this.runs.current !== undefined;
  }

  /** Feeds `raw` through the same validation and handling as a message from the webview. */
  receiveForTest(raw: unknown): Promise<void> {
    return this.webview.receive(raw);
  }

  /** From the model tree: target `layer` (and explain again), or show its feature maps or filters. */
  focusLayer(layer: string, action: LayerAction): void {
    if (this.disposed) return;
    this.webview.panel.reveal(undefined, true);
    const message: FocusLayerMessage = { type: 'focusLayer', layer, action };
    // A hidden panel's webview is gone (no retained context): it reloads on reveal and says 'ready',
    // and sendInit delivers the pending focus then.
    if (this.modelReady && this.webview.panel.visible) this.post(message);
    else this.pendingFocus = message;
  }

  // ---- lifecycle ----

  private reload(): void {
    if (this.disposed) return;
    this.runs.cancel('superseded');
    this.runs.shown = {};
    this.modelReady = false;
    this.pendingRequest = { technique: 'gradcam', classIndex: null, layer: null, parameters: {} };
    if (this.webviewLoaded) void this.sendInit();
  }

  dispose(): void {
    this.webview.panel.dispose();
  }

  private onDisposed(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runs.cancel('disposed');
    this.pendingRequest = undefined;
    this.pendingFocus = undefined;
    if (ExplainPanel.lastActive === this) ExplainPanel.lastActive = undefined;
    if (ExplainPanel.panels.get(this.imagePath) === this) ExplainPanel.panels.delete(this.imagePath);
    this.webview.close();
  }

  private post(message: HostToWebview): void {
    if (!this.disposed) this.webview.post(message);
  }

  // ---- messages from the webview ----

  private async handle(msg: WebviewToHost): Promise<void> {
    if (this.disposed) return;
    switch (msg.type) {
      case 'ready':
        this.webviewLoaded = true;
        await this.sendInit();
        return;
      case 'run': {
        const { type: _message, ...request } = msg;
        this.parametersByTechnique.set(request.technique, request.parameters);
        this.requestRun(request);
        return;
      }
      case 'compare': {
        if (!this.modelReady) return this.runs.postError('The model is not loaded yet; compare again once it is.');
        // The message's fields are the job's (a new Compare option passes through untouched).
        const { type: _message, ...fields } = msg;
        const job = { imagePath: this.imagePath, ...fields };
        this.runs.start({ technique: COMPARE, classIndex: msg.classIndex, layer: msg.layer, parameters: {} }, (run) =>
          runCompare(this.features, run, job),
        );
        return;
      }
      case 'inspect': {
        if (!this.modelReady) return this.runs.postError('The model is not loaded yet; try again once it is.');
        const { type: _message, ...request } = msg;
        this.runs.start(
          { technique: INSPECT, classIndex: msg.classIndex, layer: msg.layer, parameters: {} },
          (run) => runInspect(this.features, run, request),
          request,
        );
        return;
      }
      case 'saveInspect':
        await saveInspection(this.features, this.runs.shown.inspect);
        return;
      case 'cancel':
        this.runs.cancel('user');
        return;
      case 'export':
        if (msg.what === 'map') await exportRawMap(this.features, this.runs.shown.result);
        else if (msg.what === 'compare') await exportCompare(this.features, this.runs.shown.compare, msg.view);
        else await exportOverlay(this.features, this.runs.shown.result, msg.view);
        return;
      case 'viewChanged':
        // The panel keeps its colormap and opacity in its own state; nothing is written.
        return;
      case 'saveViewDefaults':
        await saveViewDefaults(msg.view, this.features);
        return;
      case 'runCommand':
        await vscode.commands.executeCommand(msg.command);
        return;
    }
  }

  /** Describes the model to a (re)loaded webview, then starts the pending run or replays the last state. */
  private async sendInit(): Promise<void> {
    const generation = ++this.readyGeneration;
    const { engine, viewDefaults, seedDefault } = this.context;
    let init;
    try {
      init = await describeForPanel(engine, this.imageName, viewDefaults, seedDefault);
      this.techniqueList = init.techniques;
    } catch (err) {
      if (this.disposed || generation !== this.readyGeneration) return;
      const message = `Could not load the model: ${errorText(err)}`;
      this.context.log(`CNN Lens panel: ${message}`);
      this.runs.postError(message);
      void vscode.window.showErrorMessage(`CNN Lens: ${message}`);
      return;
    }
    if (this.disposed || generation !== this.readyGeneration) return;
    this.post(init);
    this.modelReady = true;
    const focus = this.pendingFocus;
    this.pendingFocus = undefined;
    if (focus) {
      // The focus message runs what it asks for; a pending default run would only be superseded.
      this.pendingRequest = undefined;
      this.post(focus);
      return;
    }

    // A reloaded webview (a hidden tab comes back) gets everything it showed back, oldest first, and the
    // run in progress; then a run asked for meanwhile starts.
    for (const message of this.runs.replay()) this.post(message);
    if (!this.runs.current && this.pendingRequest) {
      const request = this.pendingRequest;
      this.pendingRequest = undefined;
      this.startExplain(request);
    }
  }

  // ---- explain runs ----

  /** `request` with the parameters this panel last ran its technique with under the ones it names. */
  private withKeptParameters(request: ExplainRequest): ExplainRequest {
    const kept = this.parametersByTechnique.get(request.technique);
    return kept ? { ...request, parameters: { ...kept, ...request.parameters } } : request;
  }

  private requestRun(request: ExplainRequest): void {
    if (this.disposed) return;
    if (this.modelReady) {
      this.startExplain(request);
      return;
    }
    this.pendingRequest = request;
    // The webview is up but the model failed to load: try again now rather than wait for a reload.
    if (this.webviewLoaded) void this.sendInit();
  }

  private startExplain(request: ExplainRequest): void {
    this.runs.start(request, (run: ActiveRun) => runExplain(this.features, run));
  }
}
