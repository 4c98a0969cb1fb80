/** Compare: 2–6 techniques on the current class and layer, side by side with their faithfulness metrics. */
import type { CompareResultMessage } from '../../src/shared/protocol';
import type { CompareView } from '../view/compare';
import { post } from '../vscodeApi';
import type { PanelCore } from './core';
import type { ExplainController } from './explain';

export class CompareController {
  constructor(
    private readonly core: PanelCore,
    private readonly view: CompareView,
    private readonly explain: ExplainController,
  ) {}

  request(techniques: string[], sanity: boolean): void {
    if (!this.core.init) return;
    this.explain.cancelScheduledRun();
    post({ type: 'compare', techniques, classIndex: this.explain.classIndex, layer: this.explain.layers.selected(), sanity });
  }

  onResult(msg: CompareResultMessage): void {
    const { core } = this;
    if (!core.takeResult(msg.runId)) return;
    this.view.show(msg);
    const failed = msg.rows.filter((row) => row.error).length;
    core.setStatus(
      failed ? 'error' : 'ok',
      `Compared ${msg.rows.length} techniques${failed ? `; ${failed} could not run (see their cards)` : ''}.`,
    );
    core.setPhase(failed === msg.rows.length ? 'error' : 'ready');
    this.view.results.scrollIntoView({ block: 'nearest' });
  }
}
