/**
 * The selected technique's parameters as controls under the technique picker: a number input (min, max,
 * step) or a `<select>` of choices per parameter, labelled with its summary, `data-testid="param-NAME"`.
 */
import type { ParameterSpec, TechniqueInfo, TechniqueParameters } from '../../src/shared/vocabulary';
import { h, icon } from './dom';
import { allDefaults, choiceText, describeSpec, outOfRange, parameterStep, readParameter } from './parameters';

interface Control {
  spec: ParameterSpec;
  field: HTMLElement;
  input: HTMLInputElement | HTMLSelectElement;
  error: HTMLElement;
}

export type ParametersRead = { ok: true; values: TechniqueParameters } | { ok: false; name: string; error: string };

export class ParameterControls {
  readonly element: HTMLElement;
  private readonly title: HTMLElement;
  private readonly list: HTMLElement;
  private readonly reset: HTMLButtonElement;
  private controls: Control[] = [];
  private techniqueId: string | null = null;
  private disabled = false;

  /** `onEdit` runs after the user changes a control (not after `render` or `setValues`). */
  constructor(private readonly onEdit: () => void) {
    this.title = h('span', { id: 'params-title', class: 'params-title' }, 'Parameters');
    this.reset = h(
      'button',
      {
        type: 'button',
        class: 'button icon-only secondary small',
        title: 'Reset to defaults',
        'aria-label': 'Reset parameters to defaults',
        'data-testid': 'params-reset',
      },
      icon('discard'),
    );
    this.list = h('div', { class: 'params-list' });
    this.element = h(
      'div',
      { class: 'params', role: 'group', 'aria-labelledby': 'params-title', 'data-testid': 'params', hidden: true },
      h('div', { class: 'params-header' }, this.title, this.reset),
      this.list,
    );
    this.reset.addEventListener('click', () => {
      for (const control of this.controls) control.input.value = String(control.spec.default);
      this.refresh();
      this.onEdit();
    });
  }

  /** The technique whose controls are shown, if any. */
  get technique(): string | null {
    return this.techniqueId;
  }

  /** Builds the controls for `technique` with `values` (already filled with defaults). */
  render(technique: TechniqueInfo | undefined, values: TechniqueParameters, techniques: readonly TechniqueInfo[]): void {
    this.techniqueId = technique?.id ?? null;
    const specs = technique?.parameters ?? [];
    this.controls = specs.map((spec) => this.build(spec, values[spec.name] ?? spec.default, techniques));
    this.list.replaceChildren(...this.controls.map((control) => control.field));
    this.title.textContent = technique ? `${technique.title} parameters` : 'Parameters';
    this.element.hidden = this.controls.length === 0;
    this.setDisabled(this.disabled);
    this.refresh();
  }

  /** Puts values into the controls (e.g. what a run actually used), leaving the one being edited alone. */
  setValues(values: TechniqueParameters): void {
    for (const control of this.controls) {
      const value = values[control.spec.name];
      if (value === undefined || control.input === document.activeElement) continue;
      control.input.value = String(value);
    }
    this.refresh();
  }

  setDisabled(disabled: boolean): void {
    this.disabled = disabled;
    for (const control of this.controls) control.input.disabled = disabled;
    this.reset.disabled = disabled || this.reset.dataset.defaults === 'true';
  }

  /** Reads every control; the first unreadable one is reported (and marked) instead. */
  read(): ParametersRead {
    const values: TechniqueParameters = {};
    let failure: ParametersRead | null = null;
    for (const { spec, input } of this.controls) {
      const read = readParameter(spec, input.value);
      if (read.ok) values[spec.name] = read.value;
      else failure ??= { ok: false, name: spec.name, error: read.error };
    }
    this.refresh();
    return failure ?? { ok: true, values };
  }

  /** Marks unreadable and out-of-range controls and updates the reset button. */
  private refresh(): void {
    const values: TechniqueParameters = {};
    for (const { spec, input, error } of this.controls) {
      const read = readParameter(spec, input.value);
      error.textContent = read.ok ? '' : read.error;
      error.hidden = read.ok;
      if (read.ok) values[spec.name] = read.value;
      const invalid = !read.ok || outOfRange(spec, read.value);
      if (invalid) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    const specs = this.controls.map((control) => control.spec);
    this.reset.dataset.defaults = String(Object.keys(values).length === specs.length && allDefaults(specs, values));
    this.reset.disabled = this.disabled || this.reset.dataset.defaults === 'true';
  }

  private build(spec: ParameterSpec, value: number | string, techniques: readonly TechniqueInfo[]): Control {
    const id = `param-${spec.name}`;
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const common = { id, name: spec.name, 'data-testid': id, 'aria-describedby': `${hintId} ${errorId}` };
    let input: HTMLInputElement | HTMLSelectElement;
    if (spec.choices) {
      input = h('select', common, ...spec.choices.map((choice) => h('option', { value: choice }, choiceText(spec, choice, techniques))));
      input.addEventListener('change', () => this.edited());
    } else {
      input = h('input', {
        ...common,
        type: 'number',
        min: spec.min,
        max: spec.max,
        step: parameterStep(spec),
        inputmode: spec.integer ? 'numeric' : 'decimal',
      });
      // Typing re-runs after the panel's usual pause; the spinner and Enter fire `change` as well.
      input.addEventListener('input', () => this.edited());
      input.addEventListener('change', () => this.edited());
    }
    input.value = String(value);
    const error = h('p', { id: errorId, class: 'field-error', 'data-testid': `${id}-error`, hidden: true }, '');
    const field = h(
      'div',
      { class: 'field param' },
      h(
        'div',
        { class: 'param-label-row' },
        h('label', { for: id }, spec.summary),
        h('code', { class: 'param-name', title: `Parameter "${spec.name}" (CLI: --param ${spec.name}=…)` }, spec.name),
      ),
      input,
      h('p', { id: hintId, class: 'hint' }, describeSpec(spec)),
      error,
    );
    return { spec, field, input, error };
  }

  private edited(): void {
    this.refresh();
    this.onEdit();
  }
}
