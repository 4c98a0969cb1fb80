/** Look inside: feature maps, kernels and optimised images of a layer, with the image so far while it optimises. */
import type { InspectPreviewMessage, InspectResultMessage } from '../../src/shared/protocol';
import type { InspectRequestFields, InspectView } from '../view/inspect';
import { post } from '../vscodeApi';
import type { PanelCore } from './core';
import type { ExplainController } from './explain';

export class InspectController {
  constructor(
    private readonly core: PanelCore,
    private readonly view: InspectView,
    private readonly explain: ExplainController,
  ) {}

  /** The picker's fields; the layer and class are the explain controls'. */
  request(fields: InspectRequestFields): void {
    if (!this.core.init) return;
    this.explain.cancelScheduledRun();
    // Look inside reads one layer: the first of a fused pick.
    post({ type: 'inspect', ...fields, layer: this.explain.layers.selected()?.split(',')[0] ?? null, classIndex: this.explain.classIndex });
  }

  save(): void {
    post({ type: 'saveInspect' });
  }

  onPreview(msg: InspectPreviewMessage): void {
    const { core } = this;
    if (msg.runId !== core.activeRunId) return;
    this.view.showPreview(msg);
    core.setStatus('busy', `${core.activeTitle}: ${Math.round(msg.fraction * 100)} % — showing the image so far…`);
  }

  onResult(msg: InspectResultMessage): void {
    const { core } = this;
    if (!core.takeResult(msg.runId)) return;
    const error = this.view.show(msg);
    core.setStatus(error ? 'error' : 'ok', error ?? msg.caption);
    core.setPhase(error ? 'error' : 'ready');
    this.view.results.scrollIntoView({ block: 'nearest' });
  }
}
