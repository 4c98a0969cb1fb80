/**
 * Deep Feature Factorization's legend under the image: each concept's colour (as drawn over the photo)
 * and the classes its channel vector scores, e.g. "boxer 38 %, bull mastiff 12 %".
 */
import { conceptColour } from '../../src/shared/conceptDrawing';
import type { Prediction } from '../../src/shared/vocabulary';
import { h } from './dom';

export function createConceptLegend(): HTMLOListElement {
  return h('ol', { class: 'concept-legend', 'data-testid': 'concept-legend', 'aria-label': 'Concepts', hidden: true });
}

/** Fills the legend with one row per concept; hides it when there are none (every other technique). */
export function renderConceptLegend(legend: HTMLElement, classes: Prediction[][] | null): void {
  legend.hidden = !classes?.length;
  legend.replaceChildren(
    ...(classes ?? []).map((top, i) => {
      const [r, g, b] = conceptColour(i, classes!.length);
      const swatch = h('span', { class: 'concept-swatch', 'aria-hidden': 'true' });
      // CSSOM, which the CSP allows (no style attribute).
      swatch.style.setProperty('--swatch', `rgb(${r}, ${g}, ${b})`);
      const text = top.map((p) => `${p.label} ${(p.score * 100).toFixed(p.score < 0.1 ? 1 : 0)} %`).join(', ');
      return h(
        'li',
        { class: 'concept', 'data-testid': 'concept' },
        swatch,
        h('span', { class: 'concept-name' }, `Concept ${i + 1}`),
        h('span', {}, text),
      );
    }),
  );
}
