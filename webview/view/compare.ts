/**
 * The Compare view: 2–6 techniques on the same class and layer, side by side, each with the numbers
 * that say how faithful its map is — deletion AUC (lower is better), insertion AUC (higher is better),
 * time, average confidence drop — and both curves as a small chart. The picker lives in the sidebar,
 * the results under the main figure.
 */
import type { TechniqueInfo } from '../../src/shared/vocabulary';
import { MAX_COMPARED, MIN_COMPARED, type CompareResultMessage, type CompareRow, type ViewSettings } from '../../src/shared/protocol';
import { axisChart } from './charts';
import { h, icon } from './dom';
import { OverlayView } from './overlay';

/** Checked at first: a classic, a gradient-free and a pixel-space technique. */
const DEFAULT_PICKS = ['gradcam', 'scorecam', 'saliency'];

/** Deletion and insertion curves (class probability over the fraction of pixels) with labelled axes. */
export function curveChart(deletion: number[], insertion: number[], aucs: { deletion?: number; insertion?: number } = {}): SVGSVGElement {
  const auc = (v: number | undefined) => (v === undefined ? '' : ` (AUC ${v.toFixed(3)})`);
  return axisChart(
    [
      { values: insertion, className: 'insertion', name: `insertion${auc(aucs.insertion)}` },
      { values: deletion, className: 'deletion', name: `deletion${auc(aucs.deletion)}` },
    ],
    {
      label: `Class probability as pixels are deleted${auc(aucs.deletion)} and inserted${auc(aucs.insertion)}`,
      xTitle: 'pixels deleted / inserted',
      yTitle: 'probability',
      xMax: 1,
      xPercent: true,
      yRange: 'unit',
    },
  );
}

function metric(label: string, value: string, title: string, testid: string): HTMLElement {
  return h(
    'div',
    { class: 'metric', title, 'data-testid': testid },
    h('span', { class: 'metric-label' }, label),
    h('span', { class: 'metric-value' }, value),
  );
}

export class CompareView {
  /** The sidebar section's body: technique checkboxes, the sanity option, the button. */
  readonly picker: HTMLElement;
  /** Where results go (under the main figure). */
  readonly results: HTMLElement;
  readonly button: HTMLButtonElement;
  private readonly list: HTMLElement;
  private readonly sanity: HTMLInputElement;
  private readonly road: HTMLInputElement;
  private readonly hint: HTMLElement;
  private overlays: OverlayView[] = [];
  private titles = new Map<string, string>();
  /** Ticks kept from before the tab was hidden, applied when the techniques are known. */
  private restoredTicks: string[] | null = null;
  /** Called when the ticks change (the webview state keeps them). */
  onChosen: () => void = () => undefined;
  /** Called by the results' Export button with the colormap and opacity the tiles are drawn with. */
  onExport: (view: ViewSettings) => void = () => undefined;

  constructor(
    private view: ViewSettings,
    private readonly onCompare: (techniques: string[], sanity: boolean, road: boolean) => void,
  ) {
    this.list = h('div', { class: 'compare-list', role: 'group', 'aria-label': 'Techniques to compare', 'data-testid': 'compare-list' });
    this.sanity = h('input', { type: 'checkbox', id: 'compare-sanity', 'data-testid': 'compare-sanity' });
    this.road = h('input', { type: 'checkbox', id: 'compare-road', 'data-testid': 'compare-road' });
    this.hint = h('p', { class: 'hint', id: 'compare-hint' }, '');
    this.button = h(
      'button',
      { type: 'button', class: 'button secondary', 'data-testid': 'compare', disabled: true, 'aria-describedby': 'compare-hint' },
      icon('split-horizontal'),
      h('span', {}, 'Compare'),
    );
    this.picker = h(
      'div',
      { class: 'compare-picker' },
      this.list,
      h(
        'label',
        {
          class: 'check',
          for: 'compare-sanity',
          title: 'Randomise the weights layer by layer and measure how much each map changes (slow)',
        },
        this.sanity,
        ' Model-randomisation check (slow)',
      ),
      h(
        'label',
        {
          class: 'check',
          for: 'compare-road',
          title:
            'ROAD: impute the most and the least relevant pixels from their neighbours at 10–90 % and measure the class probability (slower)',
        },
        this.road,
        ' ROAD (slower)',
      ),
      this.hint,
      h('div', { class: 'actions' }, this.button),
    );
    this.results = h('section', { class: 'compare-results', 'aria-label': 'Comparison', 'data-testid': 'compare-results', hidden: true });
    this.button.addEventListener('click', () => this.onCompare(this.checked(), this.sanity.checked, this.road.checked));
    this.list.addEventListener('change', () => {
      this.updateButton();
      this.onChosen();
    });
    this.sanity.addEventListener('change', () => this.onChosen());
    this.road.addEventListener('change', () => this.onChosen());
  }

  /** The ticked techniques and the sanity and ROAD options, for the webview state. */
  choices(): { ticks: string[]; sanity: boolean; road: boolean } {
    return { ticks: this.restoredTicks ?? this.checked(), sanity: this.sanity.checked, road: this.road.checked };
  }

  restore(choices: { ticks: string[]; sanity: boolean; road: boolean }): void {
    this.restoredTicks = [...choices.ticks];
    this.sanity.checked = choices.sanity;
    this.road.checked = choices.road;
  }

  setTechniques(techniques: TechniqueInfo[]): void {
    const before = new Set(this.restoredTicks ?? this.checked());
    this.restoredTicks = null;
    this.titles = new Map(techniques.map((t) => [t.id, t.title]));
    this.list.replaceChildren(
      ...techniques.map((t) => {
        const box = h('input', { type: 'checkbox', value: t.id, id: `compare-${t.id}`, 'data-testid': `compare-${t.id}` });
        box.checked = before.size ? before.has(t.id) : DEFAULT_PICKS.includes(t.id);
        return h('label', { class: 'check', for: `compare-${t.id}`, title: t.summary }, box, ` ${t.title}`);
      }),
    );
    this.updateButton();
  }

  setDisabled(disabled: boolean): void {
    this.list.querySelectorAll('input').forEach((box) => ((box as HTMLInputElement).disabled = disabled));
    this.sanity.disabled = disabled;
    this.road.disabled = disabled;
    this.updateButton(disabled);
  }

  setView(view: ViewSettings): void {
    this.view = view;
    this.overlays.forEach((overlay) => overlay.setView(view));
  }

  private checked(): string[] {
    return Array.from(this.list.querySelectorAll('input:checked'), (box) => (box as HTMLInputElement).value);
  }

  private updateButton(disabled = false): void {
    const n = this.checked().length;
    const ok = n >= MIN_COMPARED && n <= MAX_COMPARED;
    this.button.disabled = disabled || !ok;
    this.hint.textContent = ok
      ? `${n} techniques, same class and layer.`
      : `Pick ${MIN_COMPARED} to ${MAX_COMPARED} techniques (${n} picked).`;
  }

  show(msg: CompareResultMessage): string | null {
    this.overlays = [];
    const cards = msg.rows.map((row) => this.card(row, msg));
    this.results.replaceChildren(
      h(
        'h2',
        { class: 'section-title', 'data-testid': 'compare-title' },
        `Compared on “${msg.classLabel}” (#${msg.classIndex})${layerText(msg)}`,
      ),
      h(
        'p',
        { class: 'hint' },
        `Deletion: the class probability as the map's most important pixels are blacked out (${msg.steps} steps) — lower area is better. `,
        `Insertion: as they are put back into a blurred copy — higher is better. `,
        h('span', { class: 'legend deletion' }, '— deletion'),
        ' ',
        h('span', { class: 'legend insertion' }, '— insertion'),
      ),
      h('div', { class: 'compare-grid' }, ...cards),
      h('div', { class: 'actions' }, this.exportButton()),
    );
    this.results.hidden = false;
    return null;
  }

  private exportButton(): HTMLButtonElement {
    const button = h(
      'button',
      {
        type: 'button',
        class: 'button secondary',
        'data-testid': 'compare-export',
        title: 'Beside the image: <image>.compare.<class>.png (the tiles as one grid) and .csv (the metrics per technique)',
      },
      icon('export'),
      h('span', {}, 'Export grid + metrics (.png + .csv)'),
    );
    button.addEventListener('click', () => this.onExport(this.view));
    return button;
  }

  private card(row: CompareRow, msg: CompareResultMessage): HTMLElement {
    const title = this.titles.get(row.technique) ?? row.technique;
    if (row.error || !row.heatmap) {
      return h(
        'article',
        { class: 'compare-card failed', 'data-testid': 'compare-card' },
        h('h3', {}, title),
        h('p', { class: 'field-error' }, row.error ?? 'No map.'),
      );
    }
    const overlay = new OverlayView(this.view);
    overlay.setPixels(msg.image, row.heatmap, `${title} for ${msg.classLabel}`, {
      signed: row.signed,
      colour: row.colour,
      region: row.region,
      outline: row.outline,
    });
    this.overlays.push(overlay);
    const fixed = (v: number | undefined, digits = 3) => (v === undefined ? '—' : v.toFixed(digits));
    const metrics = h(
      'div',
      { class: 'metrics' },
      metric(
        'deletion AUC ↓',
        fixed(row.deletionAuc),
        'Area under the deletion curve: lower means the map found what the class needs',
        'metric-deletion',
      ),
      metric(
        'insertion AUC ↑',
        fixed(row.insertionAuc),
        'Area under the insertion curve: higher means the map found what the class needs',
        'metric-insertion',
      ),
      metric(
        'time',
        `${fixed(row.timeMs, 0)} ms · ${fixed(row.timeRatio, 1)}× fwd`,
        'Technique time, and as a multiple of one forward pass',
        'metric-time',
      ),
      metric(
        'avg drop ↓',
        row.averageDrop === undefined ? '—' : `${(100 * row.averageDrop).toFixed(1)} %`,
        'Confidence lost when the image is multiplied by the map',
        'metric-drop',
      ),
      metric(
        'image×map ↑',
        row.imageTimesMapChange === undefined ? '—' : signed(row.imageTimesMapChange),
        'Change in class probability when the model input is multiplied by the map (pytorch-grad-cam’s CamMultImageConfidenceChange): nearer 0 or above means the map kept what the class needs',
        'metric-times-map',
      ),
    );
    if (row.road)
      metrics.append(
        metric(
          'ROAD ↑',
          signed(row.road.combined),
          `ROAD (LeRF − MoRF) / 2: mean change in class probability with the most relevant pixels imputed ${signed(row.road.mostRelevantFirst)} (lower is better), the least relevant ${signed(row.road.leastRelevantFirst)} (higher is better)`,
          'metric-road',
        ),
      );
    if (row.sanity?.length) {
      const halfway = row.sanity[Math.max(0, Math.ceil(row.sanity.length / 2) - 1)];
      metrics.append(
        metric(
          'sanity ρ',
          halfway.correlation.toFixed(2),
          `Rank correlation with the original map once the layers down to ${halfway.layer} are random: near 0 is good`,
          'metric-sanity',
        ),
      );
    }
    return h(
      'article',
      { class: 'compare-card', 'data-testid': 'compare-card', 'data-technique': row.technique },
      h('h3', {}, title),
      overlay.canvas,
      metrics,
      curveChart(row.deletion ?? [], row.insertion ?? [], { deletion: row.deletionAuc, insertion: row.insertionAuc }),
      row.sanityWarning
        ? h('p', { class: 'field-error', 'data-testid': 'sanity-warning' }, icon('warning'), ` ${row.sanityWarning}`)
        : null,
    );
  }
}

/** A change in probability, its sign always shown. */
function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(3)}`;
}

/** " at layer L" when every technique that used a layer used the same one. */
function layerText(msg: CompareResultMessage): string {
  const layers = new Set(msg.rows.map((row) => row.layer).filter((layer): layer is string => Boolean(layer)));
  return layers.size === 1 ? ` at layer ${[...layers][0].split(',').join(' + ')}` : '';
}
