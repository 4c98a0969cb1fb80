/**
 * "Look inside": what a layer and a filter respond to — feature maps of the image (click a tile to see
 * that channel over the image), kernels, and images optimised for a filter or class, dreamed, or inverted
 * from the layer. The picker lives in the sidebar; the picture, its caption and the objective's curve
 * under the main figure, updated live while an optimisation runs.
 */
import type { InspectPreviewMessage, InspectResultMessage, PixelsMessagePart } from '../../src/shared/protocol';
import {
  INSPECT_KINDS,
  REGULARISER_NAMES,
  REGULARISER_RANGES,
  type InspectKind,
  type InspectRequest,
  type LayerInfo,
  type RegulariserName,
  type TileLayout,
} from '../../src/shared/vocabulary';
import { axisChart } from './charts';
import { h, icon } from './dom';
import { formatLayer, groupLayers } from './format';
import { toBytes } from './overlay';

export const KIND_TITLES: Record<InspectKind, string> = {
  featuremaps: 'Feature maps',
  filters: 'Filter weights',
  maximize: 'Maximise a filter',
  classimage: 'Class image',
  dream: 'Deep dream',
  invert: 'Invert the layer',
};

const KIND_HINTS: Record<InspectKind, string> = {
  featuremaps: 'Every channel of the target layer for this image, most active first. Filter: one channel over the image.',
  filters: 'The target layer’s convolution kernels (RGB for a first layer).',
  maximize: 'An image, grown from noise, that excites the filter of the target layer most.',
  classimage: 'An image, grown from noise, that the model scores highest for the target class.',
  dream: 'This image, pushed towards what the target layer (or filter) responds to.',
  invert: 'An image whose representation at the target layer matches this one’s.',
};

/** What the Look-inside controls set; the class comes from the panel's class picker. */
export type InspectRequestFields = Omit<InspectRequest, 'classIndex'>;

const REGULARISER_LABELS: Record<RegulariserName, [string, string]> = {
  l2: ['L2 decay', 'Pull towards grey each step, x ← 128 + (x − 128)(1 − l2)'],
  blurEvery: ['Blur every (steps)', 'A Gaussian blur every k steps; 0 = never'],
  blurSigma: ['Blur σ (px)', 'Width of that blur'],
  jitter: ['Jitter (px)', 'Random shift of the image each step'],
  clipNorm: ['Clip small norm', 'Pixels below this percentile of |x − grey| go grey (0–0.99)'],
  clipContribution: ['Clip small contribution', 'Pixels below this percentile of |x · gradient| go grey (0–0.99)'],
  tv: ['Total variation', 'Weight of the smoothness penalty'],
};

/** The Look-inside choices the webview state keeps across a hidden tab. */
export interface InspectChoices {
  kind: InspectKind;
  layer: string;
  filter: string;
  steps: string;
  seed?: string;
  fourier: boolean;
  sort: 'mean' | 'index';
}

export class InspectView {
  readonly picker: HTMLElement;
  readonly results: HTMLElement;
  /** Called when a choice changes (the webview state keeps them). */
  onChosen: () => void = () => undefined;
  readonly layer: HTMLSelectElement;
  private readonly kind: HTMLSelectElement;
  private readonly filter: HTMLInputElement;
  private readonly steps: HTMLInputElement;
  private readonly seed: HTMLInputElement;
  private readonly fourier: HTMLInputElement;
  private readonly fourierRow: HTMLElement;
  private readonly sort: HTMLSelectElement;
  private readonly sortRow: HTMLElement;
  private readonly pager: HTMLElement;
  private readonly pageLabel: HTMLElement;
  private readonly previous: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private page = 0;
  private pages = 1;
  private readonly options: HTMLDetailsElement;
  private readonly unitY: HTMLInputElement;
  private readonly unitX: HTMLInputElement;
  private readonly fromImage: HTMLInputElement;
  private readonly regulariserInputs: Record<RegulariserName, HTMLInputElement>;
  private readonly hint: HTMLElement;
  private readonly run: HTMLButtonElement;
  private readonly save: HTMLButtonElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly caption: HTMLElement;
  private readonly chart: HTMLElement;
  private readonly tileGrid: HTMLElement;
  private tiles: TileLayout | null = null;

  constructor(
    private readonly onRun: (fields: InspectRequestFields) => void,
    onSave: () => void,
  ) {
    this.kind = h('select', { id: 'inspect-kind', 'data-testid': 'inspect-kind' });
    this.layer = h('select', { id: 'inspect-layer', 'data-testid': 'inspect-layer', disabled: true });
    this.kind.replaceChildren(...INSPECT_KINDS.map((k) => h('option', { value: k }, KIND_TITLES[k])));
    this.filter = h('input', {
      id: 'inspect-filter',
      type: 'number',
      min: 0,
      step: 1,
      placeholder: 'auto',
      'data-testid': 'inspect-filter',
    });
    this.steps = h('input', {
      id: 'inspect-steps',
      type: 'number',
      min: 1,
      max: 5000,
      step: 1,
      placeholder: 'default',
      'data-testid': 'inspect-steps',
    });
    this.seed = h('input', { id: 'inspect-seed', type: 'number', min: 0, step: 1, value: 0, 'data-testid': 'inspect-seed' });
    this.hint = h('p', { class: 'hint', id: 'inspect-hint' }, '');
    this.sort = h(
      'select',
      { id: 'inspect-sort', 'data-testid': 'inspect-sort' },
      h('option', { value: 'mean' }, 'Most active first'),
      h('option', { value: 'index' }, 'Index order'),
    );
    this.sortRow = h('div', { class: 'field' }, h('label', { for: 'inspect-sort' }, 'Channel order'), this.sort);
    this.previous = h(
      'button',
      { type: 'button', class: 'button secondary', 'data-testid': 'inspect-previous', title: 'Previous page' },
      icon('chevron-left'),
    );
    this.next = h(
      'button',
      { type: 'button', class: 'button secondary', 'data-testid': 'inspect-next', title: 'Next page' },
      icon('chevron-right'),
    );
    this.pageLabel = h('span', { 'data-testid': 'inspect-page' }, '');
    this.pager = h('div', { class: 'pager', hidden: true }, this.previous, this.pageLabel, this.next);
    this.fourier = h('input', { type: 'checkbox', id: 'inspect-fourier', 'data-testid': 'inspect-fourier' });
    this.unitY = h('input', {
      id: 'inspect-unit-y',
      type: 'number',
      min: 0,
      step: 1,
      placeholder: 'mean',
      'data-testid': 'inspect-unit-y',
    });
    this.unitX = h('input', {
      id: 'inspect-unit-x',
      type: 'number',
      min: 0,
      step: 1,
      placeholder: 'mean',
      'data-testid': 'inspect-unit-x',
    });
    this.fromImage = h('input', { type: 'checkbox', id: 'inspect-from-image', 'data-testid': 'inspect-from-image' });
    this.regulariserInputs = Object.fromEntries(
      REGULARISER_NAMES.map((name) => {
        const [min, max] = REGULARISER_RANGES[name];
        return [
          name,
          h('input', {
            id: `inspect-${name}`,
            type: 'number',
            min,
            max,
            step: 'any',
            placeholder: 'default',
            'data-testid': `inspect-${name}`,
          }),
        ];
      }),
    ) as Record<RegulariserName, HTMLInputElement>;
    this.fourierRow = h(
      'label',
      {
        class: 'check',
        for: 'inspect-fourier',
        title: 'Optimise a decorrelated Fourier spectrum (as Lucid) instead of pixels: cleaner images',
      },
      this.fourier,
      ' Fourier parameterisation',
    );
    this.run = h(
      'button',
      { type: 'button', class: 'button secondary', 'data-testid': 'inspect-run', disabled: true },
      icon('eye'),
      h('span', {}, 'Show'),
    );
    this.save = h(
      'button',
      { type: 'button', class: 'button secondary', 'data-testid': 'inspect-save', disabled: true },
      icon('save'),
      h('span', {}, 'Save PNG'),
    );
    const small = (id: string, text: string, control: HTMLElement) =>
      h('div', { class: 'field inline' }, h('label', { for: id }, text), control);
    this.picker = h(
      'div',
      { class: 'inspect-picker' },
      h('div', { class: 'field' }, h('label', { for: 'inspect-kind' }, 'View'), this.kind, this.hint),
      h(
        'div',
        {
          class: 'field',
          title: 'Follows the target layer; the model view’s Show Feature Maps and Visualise Filters set only this one',
        },
        h('label', { for: 'inspect-layer' }, 'Layer'),
        this.layer,
      ),
      h(
        'div',
        { class: 'inline-fields' },
        small('inspect-filter', 'Filter', this.filter),
        small('inspect-steps', 'Steps', this.steps),
        small('inspect-seed', 'Seed', this.seed),
      ),
      this.fourierRow,
      this.sortRow,
      (this.options = h(
        'details',
        { class: 'inspect-options', 'data-testid': 'inspect-options' },
        h('summary', {}, 'Unit, start and regularisers'),
        h(
          'div',
          { class: 'inline-fields' },
          small('inspect-unit-y', 'Unit row', this.unitY),
          small('inspect-unit-x', 'Unit column', this.unitX),
        ),
        h('label', { class: 'check', for: 'inspect-from-image' }, this.fromImage, ' Maximise starting from this image'),
        h(
          'div',
          { class: 'inline-fields two' },
          ...REGULARISER_NAMES.map((name) => {
            const [label, title] = REGULARISER_LABELS[name];
            return h('div', { class: 'field inline', title }, h('label', { for: `inspect-${name}` }, label), this.regulariserInputs[name]);
          }),
        ),
      )),
      h('div', { class: 'actions' }, this.save, this.run),
    );
    this.canvas = h('canvas', {
      class: 'inspect-canvas pixelated',
      'data-testid': 'inspect-canvas',
      role: 'img',
      'aria-label': 'Nothing shown yet',
    });
    this.caption = h('p', { class: 'caption', 'data-testid': 'inspect-caption' }, '');
    this.chart = h('div', { class: 'inspect-chart' });
    this.tileGrid = h('div', { class: 'tile-grid', role: 'group', 'aria-label': 'Feature-map tiles', hidden: true });
    this.results = h(
      'section',
      { class: 'inspect-results', 'aria-label': 'Look inside', 'data-testid': 'inspect-results', hidden: true },
      h('h2', { class: 'section-title' }, 'Look inside'),
      h('div', { class: 'tile-stage' }, this.canvas, this.tileGrid),
      this.pager,
      this.caption,
      this.chart,
    );
    this.kind.addEventListener('change', () => this.updateHint());
    this.seed.addEventListener('input', () => (this.seed.dataset.edited = 'true'));
    this.picker.addEventListener('change', () => this.onChosen());
    this.tileGrid.addEventListener('keydown', (event) => this.moveTileFocus(event));
    this.run.addEventListener('click', () => this.submit(0));
    // Paging and reordering show the grid again, not the channel picked from it.
    const grid = (page: number) => {
      this.filter.value = '';
      this.submit(page);
    };
    this.sort.addEventListener('change', () => grid(0));
    this.previous.addEventListener('click', () => grid(this.page - 1));
    this.next.addEventListener('click', () => grid(this.page + 1));
    this.save.addEventListener('click', onSave);
    this.canvas.addEventListener('click', (event) => this.pickTile(event));
    this.updateHint();
  }

  /** Every layer, CAM-capable ones first, as the target-layer picker lists them. */
  fillLayers(layers: readonly LayerInfo[], defaultLayer: string | null): void {
    const { cam, other } = groupLayers(layers);
    const option = (layer: LayerInfo) =>
      h(
        'option',
        { value: layer.name, title: formatLayer(layer) },
        `${formatLayer(layer)}${layer.name === defaultLayer ? ' (default)' : ''}`,
      );
    const previous = this.layer.value;
    this.layer.replaceChildren(
      ...(cam.length ? [h('optgroup', { label: 'CAM-capable layers' }, ...cam.map(option))] : []),
      ...(other.length ? [h('optgroup', { label: 'Other layers' }, ...other.map(option))] : []),
    );
    const wanted = previous || defaultLayer || cam[0]?.name || '';
    if (this.hasLayer(wanted)) this.layer.value = wanted;
  }

  private hasLayer(name: string): boolean {
    return Array.from(this.layer.options).some((o) => o.value === name);
  }

  /** The target layer changed: Look inside follows it. */
  followLayer(name: string | null): void {
    if (name && this.hasLayer(name)) this.layer.value = name;
  }

  choices(): InspectChoices {
    return {
      kind: this.kind.value as InspectKind,
      layer: this.layer.value,
      filter: this.filter.value,
      steps: this.steps.value,
      seed: this.seed.dataset.edited ? this.seed.value : undefined,
      fourier: this.fourier.checked,
      sort: this.sort.value === 'index' ? 'index' : 'mean',
    };
  }

  /** Choices kept from before the tab was hidden (the layer once the layers are known). */
  restore(choices: InspectChoices): void {
    if ((INSPECT_KINDS as readonly string[]).includes(choices.kind)) this.kind.value = choices.kind;
    if (this.hasLayer(choices.layer)) this.layer.value = choices.layer;
    this.filter.value = choices.filter;
    this.steps.value = choices.steps;
    if (choices.seed !== undefined) {
      this.seed.value = choices.seed;
      this.seed.dataset.edited = 'true';
    }
    this.fourier.checked = choices.fourier;
    this.sort.value = choices.sort;
    this.updateHint();
  }

  /** The setting's seed, unless the user typed one already. */
  setSeed(seed: number): void {
    if (!this.seed.dataset.edited && Number.isInteger(seed) && seed >= 0) this.seed.value = String(seed);
  }

  setDisabled(disabled: boolean): void {
    const controls = [
      this.kind,
      this.layer,
      this.filter,
      this.steps,
      this.seed,
      this.fourier,
      this.sort,
      this.unitY,
      this.unitX,
      this.fromImage,
      ...Object.values(this.regulariserInputs),
      this.run,
    ];
    for (const control of controls) control.disabled = disabled;
    if (!disabled) this.updateHint();
  }

  private updateHint(): void {
    const kind = this.kind.value as InspectKind;
    this.hint.textContent = KIND_HINTS[kind];
    const optimises = !['featuremaps', 'filters'].includes(kind);
    this.steps.disabled = !optimises;
    this.seed.disabled = !optimises;
    this.filter.disabled = kind === 'filters' || kind === 'classimage' || kind === 'invert';
    this.fourierRow.hidden = kind !== 'maximize' && kind !== 'classimage';
    this.sortRow.hidden = kind !== 'featuremaps';
    this.options.hidden = !optimises;
    for (const input of [this.unitY, this.unitX, this.fromImage]) input.disabled = kind !== 'maximize';
  }

  private whole(input: HTMLInputElement): number | null {
    const text = input.value.trim();
    if (input.disabled || text === '') return null;
    const n = Number(text);
    return Number.isInteger(n) && n >= 0 ? n : NaN;
  }

  private submit(page = 0): void {
    const filter = this.whole(this.filter);
    const steps = this.whole(this.steps);
    const seed = this.whole(this.seed) ?? 0;
    for (const [value, input] of [
      [filter, this.filter],
      [steps, this.steps],
      [seed, this.seed],
    ] as const) {
      input.toggleAttribute('aria-invalid', Number.isNaN(value));
    }
    const [y, x] = [this.whole(this.unitY), this.whole(this.unitX)];
    for (const input of [this.unitY, this.unitX])
      input.toggleAttribute('aria-invalid', Number.isNaN(this.whole(input)) || (y === null) !== (x === null));
    const regularisers: Partial<Record<RegulariserName, number>> = {};
    let regularisersOk = true;
    for (const name of REGULARISER_NAMES) {
      const input = this.regulariserInputs[name];
      const text = input.value.trim();
      if (text === '' || input.disabled) continue;
      const [min, max] = REGULARISER_RANGES[name];
      const value = Number(text);
      const ok = Number.isFinite(value) && value >= min && value <= max;
      input.toggleAttribute('aria-invalid', !ok);
      if (ok) regularisers[name] = value;
      regularisersOk &&= ok;
    }
    if ([filter, steps, seed, y, x].some((v) => Number.isNaN(v)) || steps === 0 || (y === null) !== (x === null) || !regularisersOk) return;
    const kind = this.kind.value as InspectKind;
    const fourier = this.fourier.checked && (kind === 'maximize' || kind === 'classimage');
    this.onRun({
      kind,
      layer: this.layer.value || null,
      filter,
      steps,
      seed,
      fourier,
      sort: this.sort.value === 'index' ? 'index' : 'mean',
      page: Math.max(0, Math.min(page, this.pages - 1)),
      unit: kind === 'maximize' && y !== null && x !== null ? { y, x } : null,
      fromImage: kind === 'maximize' && this.fromImage.checked,
      regularisers,
    });
  }

  /** Asked from outside (the model tree): show the whole grid of maps or filters of the picked layer. */
  start(kind: 'featuremaps' | 'filters', layer: string): void {
    this.kind.value = kind;
    this.followLayer(layer);
    this.filter.value = '';
    this.updateHint();
    this.picker.scrollIntoView({ block: 'nearest' });
    this.submit(0);
  }

  /** A click on a feature-map grid picks that channel and shows it over the image. */
  private pickTile(event: MouseEvent): void {
    const tiles = this.tiles;
    if (!tiles) return;
    const bounds = this.canvas.getBoundingClientRect();
    const x = ((event.clientX - bounds.left) / bounds.width) * this.canvas.width;
    const y = ((event.clientY - bounds.top) / bounds.height) * this.canvas.height;
    const column = Math.floor(x / (tiles.tileWidth + tiles.gap));
    const row = Math.floor(y / (tiles.tileHeight + tiles.gap));
    const channel = tiles.channels[row * tiles.columns + column];
    if (channel === undefined || column >= tiles.columns) return;
    this.showChannel(channel);
  }

  private showChannel(channel: number): void {
    this.kind.value = 'featuremaps';
    this.filter.value = String(channel);
    this.updateHint();
    this.submit(0);
  }

  private draw(image: PixelsMessagePart, label: string): boolean {
    const bytes = toBytes(image.data, image.width * image.height * 4);
    const context = this.canvas.getContext('2d');
    if (!bytes || !context) return false;
    this.canvas.width = image.width;
    this.canvas.height = image.height;
    const data = context.createImageData(image.width, image.height);
    data.data.set(bytes);
    context.putImageData(data, 0, 0);
    // CSSOM (allowed by the CSP): small pictures are shown enlarged with crisp pixels.
    this.canvas.style.width = `${Math.min(512, image.width * Math.max(1, Math.floor(256 / Math.max(image.width, image.height))))}px`;
    this.canvas.setAttribute('aria-label', label);
    this.results.hidden = false;
    return true;
  }

  /** The picture so far, captioned by the run that is drawing it. */
  showPreview(msg: InspectPreviewMessage, caption: string): void {
    this.tiles = null;
    this.tileGrid.hidden = true;
    this.canvas.classList.remove('clickable');
    if (!this.draw(msg.image, caption)) return;
    this.results.dataset.preview = String(Math.round(msg.fraction * 100));
    this.caption.textContent = caption;
    this.chart.replaceChildren();
    this.save.disabled = true;
  }

  show(msg: InspectResultMessage): string | null {
    if (!this.draw(msg.image, msg.caption)) return 'The picture’s pixels are malformed.';
    delete this.results.dataset.preview;
    this.results.dataset.kind = msg.kind;
    this.tiles = msg.tiles;
    this.page = msg.page;
    this.pages = msg.tiles ? msg.pages : 1;
    this.pager.hidden = this.pages <= 1;
    this.pageLabel.textContent = `page ${msg.page + 1} of ${msg.pages}`;
    this.previous.disabled = msg.page <= 0;
    this.next.disabled = msg.page >= msg.pages - 1;
    this.canvas.classList.toggle('clickable', msg.tiles !== null);
    this.showTiles(msg.tiles);
    this.caption.textContent = msg.caption;
    this.chart.replaceChildren(
      ...(msg.history.length > 1
        ? [
            axisChart([{ values: msg.history, className: 'insertion', name: 'objective' }], {
              label: 'Objective per optimisation step',
              xTitle: 'step',
              yTitle: 'objective',
              xMax: msg.history.length - 1,
              yRange: 'data',
            }),
          ]
        : []),
    );
    this.save.disabled = false;
    return null;
  }

  endPreview(): void {
    delete this.results.dataset.preview;
  }

  /** One button per tile over the grid picture: a tooltip, a name, and one tab stop (arrows move between them). */
  private showTiles(tiles: TileLayout | null): void {
    this.tileGrid.hidden = tiles === null;
    if (!tiles) return this.tileGrid.replaceChildren();
    const { width, height } = this.canvas;
    const buttons = tiles.channels.map((channel, i) => {
      const column = i % tiles.columns;
      const row = Math.floor(i / tiles.columns);
      const button = h('button', {
        type: 'button',
        class: 'tile',
        tabindex: i === 0 ? 0 : -1,
        'data-testid': 'tile',
        'data-channel': channel,
        'aria-label': `Channel ${channel} (tile ${i + 1} of ${tiles.channels.length}): show it over the image`,
        title: `Channel ${channel} — click or press Enter to show it over the image`,
      });
      // CSSOM (allowed by the CSP): the tile's place on the picture, in percent so it scales with it.
      button.style.left = `${((column * (tiles.tileWidth + tiles.gap)) / width) * 100}%`;
      button.style.top = `${((row * (tiles.tileHeight + tiles.gap)) / height) * 100}%`;
      button.style.width = `${(tiles.tileWidth / width) * 100}%`;
      button.style.height = `${(tiles.tileHeight / height) * 100}%`;
      button.addEventListener('click', () => this.showChannel(channel));
      return button;
    });
    this.tileGrid.replaceChildren(...buttons);
  }

  private moveTileFocus(event: KeyboardEvent): void {
    const tiles = this.tiles;
    if (!tiles) return;
    const buttons = Array.from(this.tileGrid.querySelectorAll<HTMLButtonElement>('button.tile'));
    const current = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (current < 0) return;
    const steps: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: tiles.columns,
      ArrowUp: -tiles.columns,
      Home: -current,
      End: buttons.length - 1 - current,
    };
    const step = steps[event.key];
    if (step === undefined) return;
    event.preventDefault();
    const next = Math.min(buttons.length - 1, Math.max(0, current + step));
    buttons[current].tabIndex = -1;
    buttons[next].tabIndex = 0;
    buttons[next].focus();
  }
}
