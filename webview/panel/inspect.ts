/** Look inside: feature maps, kernels and optimised images of a layer, with the image so far while it optimises. */
import type { InspectPreviewMessage, InspectResultMessage } from '../../src/shared/protocol';
import type { InspectRequest } from '../../src/shared/vocabulary';
import { inspectPreviewCaption } from '../view/captionText';
import { KIND_TITLES, type InspectRequestFields, type InspectView } from '../view/inspect';
import { revealResult } from '../view/layout';
import { post } from '../vscodeApi';
import type { PanelCore } from './core';
import type { ExplainController } from './explain';

export class InspectController {
  /** The request of the Look-inside run in progress (from runStarted), which its previews are captioned by. */
  private active: InspectRequest | undefined;

  constructor(
    private readonly core: PanelCore,
    private readonly view: InspectView,
    private readonly explain: ExplainController,
  ) {}

  /** The picker's fields (its own layer, which follows the target layer); the class is the explain controls'. */
  request(fields: InspectRequestFields): void {
    if (!this.core.init) return;
    const classIndex = this.explain.classIndex;
    this.explain.dropScheduledRun();
    post({ type: 'inspect', ...fields, classIndex });
  }

  save(): void {
    post({ type: 'saveInspect' });
  }

  onRunStarted(request: InspectRequest | undefined): void {
    this.active = request;
  }

  onPreview(msg: InspectPreviewMessage): void {
    const { core } = this;
    if (msg.runId !== core.activeRunId) return;
    const percent = Math.round(Math.min(1, Math.max(0, msg.fraction)) * 100);
    const request = this.active;
    const labels = core.init?.model.labels ?? [];
    const caption = request
      ? inspectPreviewCaption(
          KIND_TITLES[request.kind],
          request,
          percent,
          request.classIndex === null ? undefined : labels[request.classIndex],
        )
      : `Optimising: ${percent} % done (preview)`;
    const first = this.view.results.hidden;
    this.view.showPreview(msg, caption);
    if (first) revealResult(core.ui, this.view.results);
    core.setStatus('busy', `${core.activeTitle}: ${percent} % — showing the image so far…`);
  }

  onResult(msg: InspectResultMessage): void {
    const { core } = this;
    if (!core.takeResult(msg.runId)) return;
    this.active = undefined;
    const error = this.view.show(msg);
    core.setStatus(error ? 'error' : 'ok', error ?? msg.caption);
    core.setPhase(error ? 'error' : 'ready');
    revealResult(core.ui, this.view.results);
  }
}
