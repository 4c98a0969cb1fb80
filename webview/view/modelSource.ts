/**
 * One header line saying which model explains and why (the shipped default, the cnnLens.model setting, a
 * downloaded model; set up by a cnnlens.json or not), with Select Model… and Download… at hand.
 */
import { parseModelSource, type PanelCommand } from '../../src/shared/protocol';
import { post } from '../vscodeApi';
import { h, icon } from './dom';

export class ModelSourceLine {
  private readonly text = h('span', { class: 'model-source-text', 'data-testid': 'model-source' }, '');
  readonly element = h(
    'div',
    { class: 'model-source', hidden: true },
    icon('info'),
    this.text,
    h(
      'span',
      { class: 'model-source-actions' },
      link('Select Model…', 'cnnLens.selectModel', 'model-source-select'),
      link('Download…', 'cnnLens.downloadModel', 'model-source-download'),
    ),
  );

  /** `raw`: the init message's `model.source`; anything malformed hides the line. */
  show(raw: unknown): void {
    const source = parseModelSource(raw);
    this.element.hidden = source === null;
    this.element.dataset.origin = source?.origin ?? '';
    this.text.textContent = source?.text ?? '';
    this.text.title = source?.text ?? '';
  }
}

function link(text: string, command: PanelCommand, testId: string): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'link-button', 'data-testid': testId }, text);
  button.addEventListener('click', () => post({ type: 'runCommand', command }));
  return button;
}
