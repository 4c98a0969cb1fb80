/** Builds the panel's DOM once and hands back the elements the app updates. */
import { h, icon } from './dom';
import { createConceptLegend } from './conceptLegend';
import type { CompareView } from './compare';
import type { InspectView } from './inspect';
import type { OverlayView } from './overlay';
import type { ParameterControls } from './parameterControls';
import type { PredictionList } from './predictions';

export interface Layout {
  imageName: HTMLElement;
  headerMeta: HTMLElement;
  modelName: HTMLElement;
  inputShape: HTMLElement;
  backend: HTMLElement;
  stage: HTMLElement;
  placeholder: HTMLElement;
  placeholderIcon: HTMLElement;
  placeholderText: HTMLElement;
  caption: HTMLElement;
  conceptLegend: HTMLElement;
  status: HTMLElement;
  statusIcon: HTMLElement;
  statusText: HTMLElement;
  cancel: HTMLButtonElement;
  retry: HTMLButtonElement;
  notes: HTMLUListElement;
  technique: HTMLSelectElement;
  techniqueHint: HTMLElement;
  layer: HTMLSelectElement;
  layerHint: HTMLElement;
  fuseLayers: HTMLInputElement;
  fuseRow: HTMLElement;
  rerun: HTMLButtonElement;
  classForm: HTMLFormElement;
  classInput: HTMLInputElement;
  classGo: HTMLButtonElement;
  classOptions: HTMLUListElement;
  classError: HTMLElement;
  labelsNote: HTMLElement;
  colormap: HTMLSelectElement;
  opacity: HTMLInputElement;
  opacityValue: HTMLOutputElement;
  exportButton: HTMLButtonElement;
  exportMapButton: HTMLButtonElement;
  saveDefaults: HTMLButtonElement;
  /** The main grid, the sticky column with the image, and the results tray under the image. */
  layout: HTMLElement;
  stageColumn: HTMLElement;
  viewer: HTMLElement;
  tray: HTMLElement;
}

/** At most this wide (CSS px), the panel is one column: image (sticky), explanation, class, results, the rest. */
export const SINGLE_COLUMN_MAX_WIDTH = 900;

/**
 * Brings a new result (Compare, Look inside) into view without moving the image away: in two columns the
 * tray under the image scrolls; in one column the page scrolls it to just under the sticky image.
 */
export function revealResult(ui: Pick<Layout, 'layout' | 'viewer' | 'tray'>, element: HTMLElement): void {
  if (element.hidden) return;
  ui.layout.classList.toggle('has-results', true);
  const singleColumn = window.innerWidth <= SINGLE_COLUMN_MAX_WIDTH;
  if (!singleColumn) {
    const tray = ui.tray;
    tray.scrollTop += element.getBoundingClientRect().top - tray.getBoundingClientRect().top;
    return;
  }
  const below = ui.viewer.getBoundingClientRect().bottom;
  const top = element.getBoundingClientRect().top;
  if (top < below || top > window.innerHeight - 80) window.scrollBy({ top: top - below - 8 });
}

function section(title: string, id: string, ...children: Node[]): HTMLElement {
  return h('section', { class: `section ${id}`, 'aria-labelledby': id }, h('h2', { id, class: 'section-title' }, title), ...children);
}

function field(label: HTMLLabelElement, control: HTMLElement, hint?: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, label, control, hint);
}

function button(
  kind: 'primary' | 'secondary',
  iconName: string,
  text: string,
  attrs: Record<string, string | boolean> = {},
): HTMLButtonElement {
  return h('button', { type: 'button', class: `button ${kind}`, ...attrs }, icon(iconName), h('span', {}, text));
}

export function buildLayout(
  root: HTMLElement,
  overlay: OverlayView,
  predictions: PredictionList,
  parameters: ParameterControls,
  compare: CompareView,
  inspect: InspectView,
): Layout {
  const imageName = h('h1', { class: 'image-name', 'data-testid': 'image-name' }, 'CNN Lens');
  const modelName = h('span', { class: 'model-name', 'data-testid': 'model-name' }, '');
  const inputShape = h('span', { class: 'input-shape', 'data-testid': 'input-shape' }, '');
  const backend = h('span', { class: 'badge', 'data-testid': 'backend', hidden: true }, '');
  const headerMeta = h(
    'div',
    { class: 'header-meta', hidden: true },
    h('span', { class: 'model' }, icon('circuit-board'), modelName),
    inputShape,
    backend,
  );
  const header = h('header', { class: 'header' }, h('div', { class: 'header-title' }, icon('file-media'), imageName), headerMeta);

  // ---- viewer ----
  const placeholderIcon = h('span', { class: 'placeholder-icon' }, icon('loading', 'codicon-modifier-spin'));
  const placeholderText = h('span', { class: 'placeholder-text' }, 'Loading model…');
  const placeholder = h('div', { class: 'placeholder', 'data-testid': 'placeholder' }, placeholderIcon, placeholderText);
  const stage = h(
    'div',
    { class: 'stage', 'data-testid': 'stage' },
    h('div', { class: 'progress', 'aria-hidden': 'true' }),
    overlay.canvas,
    placeholder,
  );
  const colorbar = h('div', { class: 'colorbar' }, overlay.highLabel, overlay.ramp, overlay.lowLabel);
  const caption = h('figcaption', { class: 'caption', 'data-testid': 'caption' }, '');
  const conceptLegend = createConceptLegend();
  const figure = h('figure', { class: 'figure' }, h('div', { class: 'figure-row' }, stage, colorbar), caption, conceptLegend);

  const statusIcon = h('span', { class: 'status-icon' }, icon('loading', 'codicon-modifier-spin'));
  const statusText = h('span', { class: 'status-text' }, 'Loading model…');
  const status = h('div', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'status' }, statusIcon, statusText);
  const cancel = button('secondary', 'debug-stop', 'Cancel', { 'data-testid': 'cancel', hidden: true });
  const retry = button('secondary', 'refresh', 'Retry', { 'data-testid': 'retry', hidden: true });
  const notes = h('ul', { class: 'notes', 'data-testid': 'notes', 'aria-label': 'Notes' });
  const viewer = h(
    'section',
    { class: 'viewer', 'aria-label': 'Explanation', 'data-testid': 'viewer' },
    figure,
    h('div', { class: 'statusbar' }, status, cancel, retry),
    notes,
  );
  // Compare's and Look inside's results: under the image, in a tray that scrolls on its own (two
  // columns) or between the class and the other controls (one column), never pushing the image away.
  const tray = h('div', { class: 'results-tray', 'data-testid': 'results-tray' }, inspect.results, compare.results);
  const stageColumn = h('div', { class: 'stage-column' }, viewer, tray);

  // ---- controls ----
  const technique = h('select', { id: 'technique', 'data-testid': 'technique', disabled: true, 'aria-describedby': 'technique-hint' });
  const techniqueHint = h('p', { id: 'technique-hint', class: 'hint' }, '');
  const layer = h('select', { id: 'layer', 'data-testid': 'layer', disabled: true, 'aria-describedby': 'layer-hint' });
  const layerHint = h('p', { id: 'layer-hint', class: 'hint' }, '');
  const fuseLayers = h('input', { type: 'checkbox', id: 'fuse-layers', 'data-testid': 'fuse-layers' });
  const fuseRow = h(
    'label',
    { class: 'check', for: 'fuse-layers', title: 'Pick several layers (Ctrl/Cmd-click); their maps are scaled and averaged' },
    fuseLayers,
    ' Fuse several layers',
  );
  const rerun = button('secondary', 'play', 'Run again', { 'data-testid': 'rerun', disabled: true });

  const classOptions = h('ul', {
    id: 'class-options',
    class: 'class-options',
    'data-testid': 'class-options',
    'aria-label': 'Matching classes',
  });
  const classInput = h('input', {
    id: 'class-input',
    type: 'text',
    placeholder: 'Search: e.g. tabby, pickup or 281',
    autocomplete: 'off',
    spellcheck: 'false',
    disabled: true,
    'aria-describedby': 'class-error labels-note',
    'data-testid': 'class-input',
  });
  const classGo = h(
    'button',
    {
      type: 'submit',
      class: 'button icon-only secondary',
      title: 'Explain this class',
      'aria-label': 'Explain this class',
      'data-testid': 'class-go',
      disabled: true,
    },
    icon('arrow-right'),
  );
  const classError = h('p', { id: 'class-error', class: 'field-error', 'data-testid': 'class-error', hidden: true }, '');
  // How the labels were fitted to the outputs, when they were: every class name depends on it.
  const labelsNote = h('p', { id: 'labels-note', class: 'hint', 'data-testid': 'labels-note' }, '');
  const classForm = h(
    'form',
    { class: 'class-form', 'data-testid': 'class-form', novalidate: true },
    h('label', { for: 'class-input' }, 'Any class by name or index'),
    h('div', { class: 'input-row combobox' }, classInput, classGo, classOptions),
    classError,
    labelsNote,
  );

  const colormap = h('select', { id: 'colormap', 'data-testid': 'colormap' });
  const opacity = h('input', { id: 'opacity', type: 'range', min: 0, max: 100, step: 1, value: 50, 'data-testid': 'opacity' });
  const opacityValue = h('output', { for: 'opacity', class: 'range-value', 'data-testid': 'opacity-value' }, '50%');
  const exportButton = button('primary', 'export', 'Export overlay', {
    'data-testid': 'export',
    disabled: true,
    title: 'The overlay at the photo’s full size, beside the image: <image>.<technique>.<class>.<layer>.png',
  });
  const exportMapButton = button('secondary', 'export', 'Export raw map (.png 16-bit + .npy)', {
    'data-testid': 'export-map',
    disabled: true,
    title: 'The map at its own resolution: a 16-bit grayscale PNG of the normalised map and a float32 .npy of the raw values',
  });
  const saveDefaults = button('secondary', 'settings-gear', 'Use for New Panels', {
    'data-testid': 'save-view-defaults',
    title: 'Save this colormap and opacity as the defaults of new panels (workspace settings)',
  });

  const controls = h(
    'aside',
    { class: 'controls', 'aria-label': 'Controls' },
    section(
      'Explanation',
      'section-explanation',
      field(h('label', { for: 'technique' }, 'Technique'), technique, techniqueHint),
      parameters.element,
      field(h('label', { for: 'layer' }, 'Target layer'), layer, layerHint),
      fuseRow,
      h('div', { class: 'actions' }, rerun),
    ),
    section('Target class', 'section-class', predictions.element, classForm),
    section('Compare techniques', 'section-compare', compare.picker),
    section('Look inside', 'section-inspect', inspect.picker),
    section(
      'Display',
      'section-display',
      field(h('label', { for: 'colormap' }, 'Colormap'), colormap),
      field(h('label', { for: 'opacity' }, 'Heatmap opacity'), h('div', { class: 'range-row' }, opacity, opacityValue)),
      h('div', { class: 'actions' }, saveDefaults, exportButton, exportMapButton),
    ),
  );

  const layout = h('main', { class: 'layout' }, stageColumn, controls);
  root.replaceChildren(header, layout);
  return {
    imageName,
    headerMeta,
    modelName,
    inputShape,
    backend,
    stage,
    placeholder,
    placeholderIcon,
    placeholderText,
    caption,
    conceptLegend,
    status,
    statusIcon,
    statusText,
    cancel,
    retry,
    notes,
    technique,
    techniqueHint,
    layer,
    layerHint,
    fuseLayers,
    fuseRow,
    rerun,
    classForm,
    classInput,
    classGo,
    classOptions,
    classError,
    labelsNote,
    colormap,
    opacity,
    opacityValue,
    exportButton,
    exportMapButton,
    saveDefaults,
    layout,
    stageColumn,
    viewer,
    tray,
  };
}
