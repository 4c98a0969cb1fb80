/**
 * A panel's runs: one at a time, each with its cancel signal, a progress notification once it outlasts
 * PROGRESS_DELAY_MS, and one way to end (result, failure or cancellation) that the webview hears about.
 */
import * as vscode from 'vscode';
import type {
  CompareResultMessage,
  ErrorMessage,
  HostToWebview,
  InspectResultMessage,
  ResultMessage,
  RunEndedMessage,
} from '../../shared/protocol';
import type { ExplainRequest, InspectRequest } from '../../shared/vocabulary';
import type { EngineApi } from '../engineApi';
import type { InspectSubject } from '../../engine/inspect/inspect';
import { RunCancelledError } from '../engineApi';
import { CancelSource } from './cancelSource';

/** The run "technique" of Compare and "Look inside" runs (not technique ids: no technique shows as selected). */
export const COMPARE = 'compare';
export const INSPECT = 'inspect';
/** Runs that finish sooner than this never show a progress notification. */
export const PROGRESS_DELAY_MS = 500;

export interface ActiveRun {
  readonly id: number;
  readonly request: ExplainRequest;
  /** A Look-inside run's own request. */
  readonly inspect?: InspectRequest;
  readonly cancel: CancelSource;
  /** Settles when the run ends in any way (kept open by the progress notification). */
  readonly finished: Promise<void>;
  readonly finish: () => void;
}

/**
 * What the panel last showed, replayed to a webview that reloads. The Export and Save buttons act on it
 * too: each result keeps the id of the worker job that produced it, which the exports name.
 */
export interface Shown {
  result?: { message: ResultMessage; jobId: number };
  compare?: { message: CompareResultMessage; jobId: number };
  inspect?: { message: InspectResultMessage; jobId: number; subject: InspectSubject };
  /** A failure after the last result. */
  failure?: RunEndedMessage | ErrorMessage;
}

/** What a feature's run needs of its panel. */
export interface RunContext {
  readonly imagePath: string;
  readonly engine: EngineApi;
  readonly runs: PanelRuns;
  post(message: HostToWebview): void;
}

/** What the runs need of their panel. */
export interface RunsHost {
  readonly imageName: string;
  isDisposed(): boolean;
  post(message: HostToWebview): void;
  log(line: string): void;
  /** The title of a technique id, for the progress notification. */
  titleOf(technique: string): string | undefined;
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function isCancellation(err: unknown): boolean {
  return err instanceof RunCancelledError || (err instanceof Error && err.name === 'RunCancelledError');
}

export class PanelRuns {
  private nextRunId = 1;
  private active: ActiveRun | undefined;
  /** What the runs last showed. */
  shown: Shown = {};

  constructor(private readonly host: RunsHost) {}

  get current(): ActiveRun | undefined {
    return this.active;
  }

  /** Supersedes the current run, if any, with `execute(run)`. */
  start(request: ExplainRequest, execute: (run: ActiveRun) => Promise<void>, inspect?: InspectRequest): void {
    this.cancel('superseded');
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const run: ActiveRun = { id: this.nextRunId++, request, inspect, cancel: new CancelSource(), finished, finish };
    this.active = run;
    this.host.post(runStartedMessage(run));
    const timer = setTimeout(() => this.showProgress(run), PROGRESS_DELAY_MS);
    void execute(run).finally(() => {
      clearTimeout(timer);
      run.finish();
    });
  }

  /** What the panel shows, in the order it was produced, for a webview that reloads (it keeps the newest run's). */
  replay(): HostToWebview[] {
    const { result, compare, inspect, failure } = this.shown;
    const withIds: (HostToWebview & { runId: number })[] = [];
    if (result) withIds.push(result.message);
    if (compare) withIds.push(compare.message);
    if (inspect) withIds.push(inspect.message);
    withIds.sort((a, b) => a.runId - b.runId);
    const messages: HostToWebview[] = [...withIds];
    if (failure) messages.push(failure);
    if (this.active) messages.push(runStartedMessage(this.active));
    return messages;
  }

  isCurrent(run: ActiveRun): boolean {
    return !this.host.isDisposed() && this.active === run;
  }

  /** Ends `run` with its result: posted, and kept for a reloaded webview. */
  complete(run: ActiveRun, shown: Partial<Shown>, message: HostToWebview): void {
    if (this.active === run) this.active = undefined;
    this.shown = { ...this.shown, ...shown, failure: undefined };
    this.host.post(message);
  }

  /** An error the webview shows again after a reload. */
  postError(message: string): void {
    const error: ErrorMessage = { type: 'error', message };
    this.shown.failure = error;
    this.host.post(error);
  }

  /** Ends the current run at once; the engine hears about it through the run's signal. */
  cancel(reason: 'user' | 'superseded' | 'disposed'): void {
    const run = this.active;
    if (!run) return;
    this.active = undefined;
    run.cancel.cancel();
    run.finish();
    if (reason === 'user') {
      this.host.post({ type: 'runEnded', runId: run.id, outcome: 'cancelled', message: 'Cancelled.' });
    }
  }

  /** `run` threw: a superseded run only logs; the current one tells the webview (and the user, unless cancelled). */
  fail(run: ActiveRun, err: unknown): void {
    const { host } = this;
    if (!this.isCurrent(run)) {
      if (!isCancellation(err)) host.log(`CNN Lens panel: run ${run.id} (superseded) failed: ${errorText(err)}`);
      return;
    }
    this.active = undefined;
    if (isCancellation(err) || run.cancel.cancelled) {
      host.post({ type: 'runEnded', runId: run.id, outcome: 'cancelled', message: 'Cancelled.' });
      return;
    }
    const message = errorText(err);
    host.log(`CNN Lens panel: run ${run.id} failed: ${err instanceof Error ? (err.stack ?? message) : message}`);
    const ended: RunEndedMessage = { type: 'runEnded', runId: run.id, outcome: 'failed', message };
    this.shown.failure = ended;
    host.post(ended);
    void vscode.window.showErrorMessage(`CNN Lens: ${message}`);
  }

  private showProgress(run: ActiveRun): void {
    if (!this.isCurrent(run)) return;
    const { technique: id } = run.request;
    const technique = this.host.titleOf(id) ?? (id === COMPARE ? 'comparing techniques' : id === INSPECT ? 'looking inside' : id);
    vscode.window
      .withProgress(
        { location: vscode.ProgressLocation.Notification, cancellable: true, title: `CNN Lens: ${technique} on ${this.host.imageName}` },
        (_progress, token) => {
          const subscription = token.onCancellationRequested(() => {
            if (this.isCurrent(run)) this.cancel('user');
          });
          return run.finished.finally(() => subscription.dispose());
        },
      )
      .then(undefined, (err: unknown) => this.host.log(`CNN Lens panel: progress failed: ${errorText(err)}`));
  }
}

/** A run's start as the webview hears it: the request too, so previews are captioned by their own run. */
export function runStartedMessage(run: ActiveRun): HostToWebview {
  const { id, request, inspect } = run;
  return {
    type: 'runStarted',
    runId: id,
    technique: request.technique,
    request: { ...request, parameters: { ...request.parameters } },
    ...(inspect ? { inspect: { ...inspect } } : {}),
  };
}
