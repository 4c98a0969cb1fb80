/**
 * "Any class by name or index" as a combobox: typing lists the matching labels (whole label, one of its
 * names, a word starting with it, anywhere in it; when none contains the text, the names spelled alike —
 * src/shared/classMatch.ts, as the CLI matches), the arrow keys move through them, Enter picks the
 * highlighted one or the class the text names, Escape closes the list. The mouse works too.
 */
import { lookUpClass, matchClasses, type ClassMatch } from '../../src/shared/classMatch';
import { h } from './dom';

/** Options shown at once (the list scrolls to more). */
const MAX_OPTIONS = 50;

export class ClassSearch {
  private labels: readonly string[] = [];
  private matches: ClassMatch[] = [];
  private active = -1;

  constructor(
    readonly input: HTMLInputElement,
    readonly list: HTMLUListElement,
    private readonly onPick: (index: number) => void,
    private readonly onError: (text: string | null) => void,
  ) {
    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-expanded', 'false');
    input.setAttribute('aria-controls', list.id);
    list.setAttribute('role', 'listbox');
    list.hidden = true;
    input.addEventListener('input', () => {
      this.onError(null);
      this.update();
    });
    input.addEventListener('keydown', (event) => this.onKey(event));
    input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    // Keep the focus in the field while an option is clicked.
    list.addEventListener('mousedown', (event) => event.preventDefault());
    list.addEventListener('click', (event) => {
      const option = (event.target as Element | null)?.closest<HTMLElement>('[role="option"]');
      const index = Number(option?.dataset.classIndex);
      if (option && Number.isInteger(index)) this.pick(index);
    });
  }

  setLabels(labels: readonly string[]): void {
    this.labels = labels;
    this.close();
  }

  get isOpen(): boolean {
    return !this.list.hidden;
  }

  /**
   * The text names a class (or only one label contains it): pick it; otherwise say why and list suggestions
   * (a label only spelled alike is suggested, never picked).
   */
  submit(): void {
    const found = lookUpClass(this.input.value, this.labels);
    if (found.ok) return this.pick(found.index);
    const matches = matchClasses(this.input.value, this.labels, 2);
    if (matches.length === 1 && matches[0].kind !== 'similar') return this.pick(matches[0].index);
    this.onError(found.error);
    if (found.suggestions.length) this.open(matchClasses(this.input.value, this.labels, MAX_OPTIONS));
  }

  private pick(index: number): void {
    this.input.value = this.labels[index] ?? String(index);
    this.close();
    this.onError(null);
    this.onPick(index);
  }

  private update(): void {
    const text = this.input.value.trim();
    if (text === '' || /^#?\d+$/.test(text)) return this.close();
    this.open(matchClasses(text, this.labels, MAX_OPTIONS));
  }

  private onKey(event: KeyboardEvent): void {
    switch (event.key) {
      case 'ArrowDown':
      case 'ArrowUp': {
        event.preventDefault();
        if (!this.isOpen) this.update();
        if (!this.matches.length) return;
        const step = event.key === 'ArrowDown' ? 1 : -1;
        this.setActive(
          this.active < 0 ? (step > 0 ? 0 : this.matches.length - 1) : (this.active + step + this.matches.length) % this.matches.length,
        );
        return;
      }
      case 'Enter':
        event.preventDefault();
        if (this.isOpen && this.active >= 0) this.pick(this.matches[this.active].index);
        else this.submit();
        return;
      case 'Escape':
        if (this.isOpen) {
          event.preventDefault();
          event.stopPropagation();
          this.close();
        }
        return;
      case 'Tab':
        this.close();
        return;
    }
  }

  private open(matches: ClassMatch[]): void {
    this.matches = matches;
    this.active = -1;
    this.input.removeAttribute('aria-activedescendant');
    if (!matches.length) {
      this.list.replaceChildren(h('li', { class: 'class-option empty', role: 'presentation' }, 'No class matches.'));
    } else {
      const query = this.input.value.trim().length;
      this.list.replaceChildren(
        ...matches.map((match, i) => {
          const { label, at } = match;
          const text = at >= 0 ? [label.slice(0, at), h('mark', {}, label.slice(at, at + query)), label.slice(at + query)] : [label];
          return h(
            'li',
            {
              id: `class-option-${i}`,
              class: 'class-option',
              role: 'option',
              'aria-selected': 'false',
              'data-class-index': match.index,
              'data-testid': 'class-option',
            },
            h('span', { class: 'label' }, ...text),
            h('span', { class: 'class-index' }, `#${match.index}`),
          );
        }),
      );
    }
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  private setActive(i: number): void {
    const options = this.list.querySelectorAll<HTMLElement>('[role="option"]');
    options.forEach((option, k) => option.setAttribute('aria-selected', String(k === i)));
    this.active = i;
    const option = options[i];
    if (!option) return;
    this.input.setAttribute('aria-activedescendant', option.id);
    option.scrollIntoView({ block: 'nearest' });
  }

  close(): void {
    this.list.hidden = true;
    this.matches = [];
    this.active = -1;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }
}
