/**
 * The CNN Lens panel's host side: one webview panel per image, its lifecycle, the message switch and
 * the runs it asks of the engine. The engine is only reached through `EngineApi` (it lives in a
 * worker); nothing thrown here escapes to the extension host.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Explanation, Heatmap, Preview } from '../../engine/types';
import { COLORMAP_NAMES, type ExplainRequest, type RgbaImage, type TechniqueInfo, type TechniqueParameters } from '../../shared/vocabulary';
import type {
  CompareResultMessage,
  ErrorMessage,
  FocusLayerMessage,
  HostToWebview,
  InspectRequestMessage,
  InspectResultMessage,
  InitMessage,
  PixelsMessagePart,
  PreviewMessage,
  ResultMessage,
  RunEndedMessage,
  LayerAction,
  ViewSettings,
  WebviewToHost,
} from '../../shared/protocol';
import { parseWebviewMessage } from '../../shared/protocol';
import type { EngineApi, EvaluateJob } from '../engineApi';
import { RunCancelledError } from '../engineApi';
import { CancelSource } from './cancelSource';
import { COMPARE_MAX_SIDE, compareResult, DISPLAY_MAX_SIDE, heatmapPart, rgbaPart } from './displayParts';
import { renderPanelHtml } from './html';

export const PANEL_VIEW_TYPE = 'cnnLens.explain';

export { DISPLAY_MAX_SIDE } from './displayParts';
/** The run "technique" of Compare and "Look inside" runs (not technique ids: no technique shows as selected). */
export const COMPARE = 'compare';
export const INSPECT = 'inspect';
/** Runs that finish sooner than this never show a progress notification. */
export const PROGRESS_DELAY_MS = 500;

export interface ExplainPanelContext {
  extensionUri: vscode.Uri;
  engine: EngineApi;
  log: (line: string) => void;
  /** View settings for a new panel (the last ones the user chose). */
  viewDefaults: () => ViewSettings;
  /** The seed "Look inside" starts with (the cnnLens.seed setting). */
  seedDefault: () => number;
  saveView: (view: ViewSettings) => void;
}

interface ActiveRun {
  readonly id: number;
  readonly request: ExplainRequest;
  readonly cancel: CancelSource;
  /** Settles when the run ends in any way (kept open by the progress notification). */
  readonly finished: Promise<void>;
  readonly finish: () => void;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function isCancellation(err: unknown): boolean {
  return err instanceof RunCancelledError || (err instanceof Error && err.name === 'RunCancelledError');
}

/** A short, never-throwing description of untrusted input for the log. */
function describeRaw(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    text = Object.prototype.toString.call(raw);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
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
      existing.panel.reveal(undefined, false);
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
  private readonly panel: vscode.WebviewPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  /** The webview has said `ready` at least once (so a retry need not wait for another). */
  private webviewLoaded = false;
  /** `init` was sent: the model is described and runs may start. */
  private modelReady = false;
  private readyGeneration = 0;
  private techniqueList: TechniqueInfo[] = [];
  /** The parameters last asked for per technique, so a command re-running this panel keeps them. */
  private readonly parametersByTechnique = new Map<string, TechniqueParameters>();

  private nextRunId = 1;
  private run: ActiveRun | undefined;
  /** A run asked for before the model was ready. */
  private pendingRequest: ExplainRequest | undefined;
  /** A model-tree action that arrived before the model was ready. */
  private pendingFocus: FocusLayerMessage | undefined;

  private lastExplanation: Explanation | undefined;
  private lastResultMessage: ResultMessage | undefined;
  private lastCompareMessage: CompareResultMessage | undefined;
  private lastInspection: { kind: string; jobId: number } | undefined;
  private lastInspectMessage: InspectResultMessage | undefined;
  /** A failure after the last result, replayed when the webview reloads. */
  private lastFailure: RunEndedMessage | ErrorMessage | undefined;
  private posted = 0;

  private constructor(
    private readonly context: ExplainPanelContext,
    imageUri: vscode.Uri,
    request: ExplainRequest,
  ) {
    this.imagePath = imageUri.fsPath;
    this.imageName = path.basename(this.imagePath);
    this.pendingRequest = request;
    this.panel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      `CNN Lens: ${this.imageName}`,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      {
        enableScripts: true,
        // Only the bundled UI; the image's pixels arrive by message, the workspace is never exposed.
        localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist')],
        retainContextWhenHidden: false,
      },
    );
    this.disposables.push(
      this.panel.webview.onDidReceiveMessage((raw: unknown) => {
        void this.receive(raw);
      }),
      this.panel.onDidDispose(() => this.onDisposed()),
      this.panel.onDidChangeViewState(({ webviewPanel }) => {
        if (webviewPanel.active) ExplainPanel.lastActive = this;
      }),
    );
    ExplainPanel.lastActive = this;
    this.panel.webview.html = renderPanelHtml(this.panel.webview, context.extensionUri, `CNN Lens: ${this.imageName}`);
  }

  // ---- test hooks (read-only) ----

  /** The last `result` message sent to the webview. */
  get lastResult(): ResultMessage | undefined {
    return this.lastResultMessage;
  }

  /** Test hook: the last Compare result posted. */
  get lastCompare(): CompareResultMessage | undefined {
    return this.lastCompareMessage;
  }

  /** How many messages were posted to the webview. */
  get postedMessages(): number {
    return this.posted;
  }

  get isRunning(): boolean {
    return this.run !== undefined;
  }

  /** Feeds `raw` through the same validation and handling as a message from the webview. */
  receiveForTest(raw: unknown): Promise<void> {
    return this.receive(raw);
  }

  /** From the model tree: target `layer` (and explain again), or show its feature maps or filters. */
  focusLayer(layer: string, action: LayerAction): void {
    if (this.disposed) return;
    this.panel.reveal(undefined, true);
    const message: FocusLayerMessage = { type: 'focusLayer', layer, action };
    // A hidden panel's webview is gone (no retained context): it reloads on reveal and says 'ready',
    // and sendInit delivers the pending focus then.
    if (this.modelReady && this.panel.visible) this.post(message);
    else this.pendingFocus = message;
  }

  // ---- lifecycle ----

  private reload(): void {
    if (this.disposed) return;
    this.cancelRun('superseded');
    this.lastResultMessage = this.lastCompareMessage = this.lastInspectMessage = this.lastFailure = undefined;
    this.lastExplanation = undefined;
    this.lastInspection = undefined;
    this.modelReady = false;
    this.pendingRequest = { technique: 'gradcam', classIndex: null, layer: null, parameters: {} };
    if (this.webviewLoaded) void this.sendInit();
  }

  dispose(): void {
    this.panel.dispose();
  }

  private onDisposed(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.cancelRun('disposed');
    this.pendingRequest = undefined;
    this.pendingFocus = undefined;
    if (ExplainPanel.lastActive === this) ExplainPanel.lastActive = undefined;
    if (ExplainPanel.panels.get(this.imagePath) === this) ExplainPanel.panels.delete(this.imagePath);
    for (const disposable of this.disposables.splice(0)) {
      try {
        disposable.dispose();
      } catch (err) {
        this.context.log(`CNN Lens panel: dispose failed: ${errorText(err)}`);
      }
    }
  }

  private post(message: HostToWebview): void {
    if (this.disposed) return;
    this.posted++;
    try {
      this.panel.webview.postMessage(message).then(undefined, (err: unknown) => {
        this.context.log(`CNN Lens panel: could not post '${message.type}': ${errorText(err)}`);
      });
    } catch (err) {
      this.context.log(`CNN Lens panel: could not post '${message.type}': ${errorText(err)}`);
    }
  }

  private postError(message: string): void {
    const error: ErrorMessage = { type: 'error', message };
    this.lastFailure = error;
    this.post(error);
  }

  // ---- messages from the webview ----

  private async receive(raw: unknown): Promise<void> {
    const msg = parseWebviewMessage(raw);
    if (!msg) {
      this.context.log(`Ignored malformed message from webview: ${describeRaw(raw)}`);
      return;
    }
    try {
      await this.handle(msg);
    } catch (err) {
      // Handlers catch their own failures; this is the last line so nothing reaches the extension host.
      this.context.log(`CNN Lens panel: handling '${msg.type}' failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  private async handle(msg: WebviewToHost): Promise<void> {
    if (this.disposed) return;
    switch (msg.type) {
      case 'ready':
        this.webviewLoaded = true;
        await this.sendInit();
        return;
      case 'run':
        this.parametersByTechnique.set(msg.technique, msg.parameters);
        this.requestRun({ technique: msg.technique, classIndex: msg.classIndex, layer: msg.layer, parameters: msg.parameters });
        return;
      case 'compare':
        if (!this.modelReady) {
          this.postError('The model is not loaded yet; compare again once it is.');
          return;
        }
        this.startRun({ technique: COMPARE, classIndex: msg.classIndex, layer: msg.layer, parameters: {} }, (run) =>
          this.executeCompare(run, {
            imagePath: this.imagePath,
            techniques: msg.techniques,
            classIndex: msg.classIndex,
            layer: msg.layer,
            sanity: msg.sanity,
          }),
        );
        return;
      case 'inspect':
        if (!this.modelReady) {
          this.postError('The model is not loaded yet; try again once it is.');
          return;
        }
        this.startRun({ technique: INSPECT, classIndex: msg.classIndex, layer: msg.layer, parameters: {} }, (run) =>
          this.executeInspect(run, msg),
        );
        return;
      case 'saveInspect':
        await this.saveInspection();
        return;
      case 'cancel':
        this.cancelRun('user');
        return;
      case 'export':
        this.saveView(msg.view);
        await this.exportOverlay(msg.view);
        return;
      case 'viewChanged':
        this.saveView(msg.view);
        return;
    }
  }

  private saveView(view: ViewSettings): void {
    try {
      this.context.saveView(view);
    } catch (err) {
      this.context.log(`CNN Lens panel: could not save view settings: ${errorText(err)}`);
    }
  }

  /** Describes the model to a (re)loaded webview, then starts the pending run or replays the last state. */
  private async sendInit(): Promise<void> {
    const generation = ++this.readyGeneration;
    let init: InitMessage;
    try {
      const [info, techniques] = await Promise.all([this.context.engine.describeModel(), this.context.engine.techniques()]);
      const labels = [...info.labels];
      for (let i = labels.length; i < info.summary.numClasses; i++) labels.push(`class ${i}`);
      init = {
        type: 'init',
        imageName: this.imageName,
        model: {
          name: info.summary.name,
          backend: info.backend,
          inputShape: info.summary.inputShape,
          layers: info.summary.layers,
          defaultLayer: info.summary.defaultLayer,
          labels,
        },
        techniques,
        colormaps: COLORMAP_NAMES,
        view: this.context.viewDefaults(),
        seed: this.context.seedDefault(),
      };
      this.techniqueList = techniques;
    } catch (err) {
      if (this.disposed || generation !== this.readyGeneration) return;
      const message = `Could not load the model: ${errorText(err)}`;
      this.context.log(`CNN Lens panel: ${message}`);
      this.postError(message);
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

    const run = this.run;
    if (run) {
      this.post({ type: 'runStarted', runId: run.id, technique: run.request.technique });
    } else if (this.pendingRequest) {
      const request = this.pendingRequest;
      this.pendingRequest = undefined;
      this.startRun(request);
    } else {
      // A reloaded webview gets back everything it showed.
      for (const shown of [this.lastResultMessage, this.lastCompareMessage, this.lastInspectMessage, this.lastFailure])
        if (shown) this.post(shown);
    }
  }

  // ---- runs ----

  /** `request` with the parameters this panel last ran its technique with under the ones it names. */
  private withKeptParameters(request: ExplainRequest): ExplainRequest {
    const kept = this.parametersByTechnique.get(request.technique);
    return kept ? { ...request, parameters: { ...kept, ...request.parameters } } : request;
  }

  private requestRun(request: ExplainRequest): void {
    if (this.disposed) return;
    if (this.modelReady) {
      this.startRun(request);
      return;
    }
    this.pendingRequest = request;
    // The webview is up but the model failed to load: try again now rather than wait for a reload.
    if (this.webviewLoaded) void this.sendInit();
  }

  private startRun(request: ExplainRequest, execute: (run: ActiveRun) => Promise<void> = (run) => this.execute(run)): void {
    this.cancelRun('superseded');
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const run: ActiveRun = { id: this.nextRunId++, request, cancel: new CancelSource(), finished, finish };
    this.run = run;
    this.post({ type: 'runStarted', runId: run.id, technique: request.technique });
    const timer = setTimeout(() => this.showProgress(run), PROGRESS_DELAY_MS);
    void execute(run).finally(() => {
      clearTimeout(timer);
      run.finish();
    });
  }

  private isCurrent(run: ActiveRun): boolean {
    return !this.disposed && this.run === run;
  }

  /** Ends the current run at once; the engine hears about it through the run's signal. */
  private cancelRun(reason: 'user' | 'superseded' | 'disposed'): void {
    const run = this.run;
    if (!run) return;
    this.run = undefined;
    run.cancel.cancel();
    run.finish();
    if (reason === 'user') {
      this.post({ type: 'runEnded', runId: run.id, outcome: 'cancelled', message: 'Cancelled.' });
    }
  }

  private showProgress(run: ActiveRun): void {
    if (!this.isCurrent(run)) return;
    const { technique: id } = run.request;
    const technique =
      this.techniqueList.find((t) => t.id === id)?.title ??
      (id === COMPARE ? 'comparing techniques' : id === INSPECT ? 'looking inside' : id);
    vscode.window
      .withProgress(
        { location: vscode.ProgressLocation.Notification, cancellable: true, title: `CNN Lens: ${technique} on ${this.imageName}` },
        (_progress, token) => {
          const subscription = token.onCancellationRequested(() => {
            if (this.isCurrent(run)) this.cancelRun('user');
          });
          return run.finished.finally(() => subscription.dispose());
        },
      )
      .then(undefined, (err: unknown) => this.context.log(`CNN Lens panel: progress failed: ${errorText(err)}`));
  }

  /** The Compare view's run: every technique with its faithfulness metrics, drawn side by side. */
  private async executeCompare(run: ActiveRun, job: EvaluateJob): Promise<void> {
    const { engine } = this.context;
    try {
      const imagePromise = engine.displayImage(this.imagePath, COMPARE_MAX_SIDE, run.cancel);
      const onProgress = (preview: Preview) => {
        if (this.isCurrent(run)) this.post(this.buildPreview(run.id, preview, null));
      };
      const evaluation = await engine.evaluate({ ...job, onProgress }, run.cancel);
      const image = await imagePromise;
      if (!this.isCurrent(run)) return;
      this.run = undefined;
      this.lastCompareMessage = compareResult(run.id, evaluation, image);
      this.lastFailure = undefined;
      this.post(this.lastCompareMessage);
    } catch (err) {
      this.endFailedRun(run, err);
    }
  }

  /** "Look inside": feature maps, kernels or an optimised image, with previews while it optimises. */
  private async executeInspect(run: ActiveRun, msg: InspectRequestMessage): Promise<void> {
    try {
      const { type: _message, ...request } = msg;
      const { kind } = request;
      const onImage = (image: RgbaImage, fraction: number) => {
        if (this.isCurrent(run)) this.post({ type: 'inspectPreview', runId: run.id, fraction, image: rgbaPart(image) });
      };
      const result = await this.context.engine.inspect({ imagePath: this.imagePath, request, onImage }, run.cancel);
      if (!this.isCurrent(run)) return;
      this.run = undefined;
      this.lastInspection = { kind, jobId: result.jobId };
      this.lastInspectMessage = {
        type: 'inspectResult',
        runId: run.id,
        kind,
        image: rgbaPart(result.image),
        caption: result.caption,
        history: result.history,
        tiles: result.tiles,
        page: result.page,
        pages: result.pages,
      };
      this.lastFailure = undefined;
      this.post(this.lastInspectMessage);
    } catch (err) {
      this.endFailedRun(run, err);
    }
  }

  private async saveInspection(): Promise<void> {
    const last = this.lastInspection;
    if (!last) {
      this.post({ type: 'error', message: 'Nothing to save yet: run a "Look inside" view first.' });
      return;
    }
    const parsed = path.parse(this.imagePath);
    const written = path.join(parsed.dir, `${parsed.name}.${last.kind}.png`);
    try {
      await this.context.engine.saveInspection(last.jobId, written);
      this.post({ type: 'exported', path: written });
    } catch (err) {
      this.postError(`Could not save ${written}: ${errorText(err)}`);
    }
  }

  private async execute(run: ActiveRun): Promise<void> {
    const { engine } = this.context;
    try {
      // Asked first: the worker serves jobs in order, and previews need the image while the run goes on.
      // The display copy's job decodes the photo: cancelling the run stops that decode too.
      const imagePromise = engine.displayImage(this.imagePath, DISPLAY_MAX_SIDE, run.cancel);
      const onPreview = (preview: Preview) => {
        void imagePromise.then(
          (image) => {
            if (this.isCurrent(run)) this.post(this.buildPreview(run.id, preview, image));
          },
          () => undefined,
        );
      };
      const explanation = await engine.explain({ imagePath: this.imagePath, ...run.request, onPreview }, run.cancel);
      if (!this.isCurrent(run)) return;
      const image = await imagePromise;
      if (!this.isCurrent(run)) return;
      const result = this.buildResult(run.id, explanation, image);
      this.run = undefined;
      this.lastExplanation = explanation;
      this.lastResultMessage = result;
      this.lastFailure = undefined;
      this.post(result);
    } catch (err) {
      this.endFailedRun(run, err);
    }
  }

  private endFailedRun(run: ActiveRun, err: unknown): void {
    if (!this.isCurrent(run)) {
      if (!isCancellation(err)) this.context.log(`CNN Lens panel: run ${run.id} (superseded) failed: ${errorText(err)}`);
      return;
    }
    this.run = undefined;
    if (isCancellation(err) || run.cancel.cancelled) {
      this.post({ type: 'runEnded', runId: run.id, outcome: 'cancelled', message: 'Cancelled.' });
      return;
    }
    const message = errorText(err);
    this.context.log(`CNN Lens panel: run ${run.id} failed: ${err instanceof Error ? (err.stack ?? message) : message}`);
    const ended: RunEndedMessage = { type: 'runEnded', runId: run.id, outcome: 'failed', message };
    this.lastFailure = ended;
    this.post(ended);
    void vscode.window.showErrorMessage(`CNN Lens: ${message}`);
  }

  private buildResult(runId: number, explanation: Explanation, image: RgbaImage): ResultMessage {
    const { colour } = explanation;
    return {
      type: 'result',
      runId,
      technique: explanation.technique,
      layer: explanation.layer,
      target: explanation.target,
      predictions: explanation.predictions,
      backend: explanation.backend,
      timings: explanation.timings,
      notes: explanation.notes,
      parameters: explanation.parameters,
      image: rgbaPart(image),
      heatmap: heatmapPart(explanation.heatmap),
      region: explanation.region,
      imageSize: explanation.imageSize,
      signed: explanation.signed,
      colour: colour ? rgbaPart(colour) : null,
    };
  }

  private buildPreview(runId: number, preview: Preview, image: RgbaImage | null): PreviewMessage {
    const { fraction, detail, map, signed, region } = preview;
    if (!map || !image) return { type: 'preview', runId, fraction, detail, image: null, heatmap: null, region, signed };
    return { type: 'preview', runId, fraction, detail, image: rgbaPart(image), heatmap: heatmapPart(map), region, signed };
  }

  // ---- export ----

  private async exportOverlay(view: ViewSettings): Promise<void> {
    const explanation = this.lastExplanation;
    if (!explanation) {
      this.post({ type: 'error', message: 'Nothing to export yet: wait for an explanation to finish.' });
      return;
    }
    try {
      const written = await this.context.engine.exportOverlay(this.imagePath, explanation, view.colormap, view.opacity);
      this.post({ type: 'exported', path: written });
      void vscode.window.showInformationMessage(`CNN Lens: saved ${path.basename(written)}`, 'Open').then(
        (choice) => {
          if (choice === 'Open') {
            void vscode.commands
              .executeCommand('vscode.open', vscode.Uri.file(written))
              .then(undefined, (err: unknown) => this.context.log(`CNN Lens panel: could not open ${written}: ${errorText(err)}`));
          }
        },
        (err: unknown) => this.context.log(`CNN Lens panel: ${errorText(err)}`),
      );
    } catch (err) {
      const message = `Export failed: ${errorText(err)}`;
      this.context.log(`CNN Lens panel: ${message}`);
      this.post({ type: 'error', message });
      void vscode.window.showErrorMessage(`CNN Lens: ${message}`);
    }
  }
}
