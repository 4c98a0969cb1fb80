/** The top-k predictions as a clickable list with score bars; the explained class is highlighted. */
import type { Prediction } from '../../src/shared/vocabulary';
import { clear, h, icon } from './dom';
import { formatScore, scoreFractions, scoresAreProbabilities } from './format';

export class PredictionList {
  readonly element: HTMLOListElement;
  private onPick: (classIndex: number) => void;

  constructor(onPick: (classIndex: number) => void) {
    this.onPick = onPick;
    this.element = h('ol', { class: 'predictions', 'aria-label': 'Top predictions', 'data-testid': 'predictions' });
    this.element.addEventListener('click', (event) => {
      const row = (event.target as Element | null)?.closest<HTMLButtonElement>('button.prediction');
      if (!row || row.disabled) return;
      const index = Number(row.dataset.classIndex);
      if (Number.isInteger(index)) this.onPick(index);
    });
    this.showPlaceholder('Predictions appear after the first run.');
  }

  showPlaceholder(text: string): void {
    clear(this.element);
    this.element.appendChild(h('li', { class: 'predictions-empty' }, text));
  }

  render(predictions: readonly Prediction[], target: Prediction | null): void {
    clear(this.element);
    const rows = [...predictions];
    const targetListed = target !== null && rows.some((p) => p.index === target.index);
    if (target && !targetListed) rows.push(target);
    const asPercent = scoresAreProbabilities(rows);
    const fractions = scoreFractions(
      rows.map((p) => p.score),
      asPercent,
    );
    rows.forEach((prediction, i) => {
      const isTarget = target !== null && prediction.index === target.index;
      const extra = i >= predictions.length;
      const score = formatScore(prediction.score, asPercent);
      const fill = h('span', { class: 'score-fill' });
      fill.style.width = `${(fractions[i] * 100).toFixed(1)}%`;
      const button = h(
        'button',
        {
          type: 'button',
          class: `prediction${isTarget ? ' is-target' : ''}`,
          'data-testid': 'prediction',
          'data-class-index': prediction.index,
          'data-rank': extra ? null : i + 1,
          'aria-pressed': isTarget ? 'true' : 'false',
          'aria-label': `${prediction.label}, class ${prediction.index}, score ${score}${isTarget ? ', explained' : ''}`,
          title: isTarget ? `${prediction.label} (#${prediction.index}) — explained` : `Explain ${prediction.label} (#${prediction.index})`,
        },
        h('span', { class: 'rank', 'aria-hidden': 'true' }, extra ? icon('target') : String(i + 1)),
        h('span', { class: 'label' }, prediction.label, h('span', { class: 'class-index' }, `#${prediction.index}`)),
        h('span', { class: 'score' }, score),
        h('span', { class: 'score-bar', 'aria-hidden': 'true' }, fill),
      );
      this.element.appendChild(h('li', { class: extra ? 'extra' : null }, button));
    });
  }
}
