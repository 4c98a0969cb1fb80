/** Compare: 2–6 techniques on the current class and layer, side by side with their faithfulness metrics. */
import type { CompareResultMessage } from '../../src/shared/protocol';
import type { CompareView } from '../view/compare';
import { revealResult } from '../view/layout';
import { post } from '../vscodeApi';
import type { PanelCore } from './core';
import type { ExplainController } from './explain';

export class CompareController {
  constructor(
    private readonly core: PanelCore,
    private readonly view: CompareView,
    private readonly explain: ExplainController,
  ) {
    view.onExport = (settings) => {
      core.setStatus('busy', 'Exporting the comparison…');
      post({ type: 'export', view: settings, what: 'compare' });
    };
  }

  request(techniques: string[], sanity: boolean, road: boolean): void {
    if (!this.core.init) return;
    const classIndex = this.explain.classIndex;
    const layer = this.explain.layers.selected();
    this.explain.dropScheduledRun();
    post({ type: 'compare', techniques, classIndex, layer, sanity, road });
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
    // Where the user looks: the image stays put, the results come into view beside or under it.
    revealResult(core.ui, this.view.results);
  }
}
