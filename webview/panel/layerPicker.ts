/** The layer picker: one layer, or (CAM techniques) several fused, as a multi-select list. */
import type { LayerInfo } from '../../src/shared/vocabulary';
import { h } from '../view/dom';
import { formatLayer, groupLayers } from '../view/format';
import { hasOption } from './core';

export class LayerPicker {
  constructor(
    readonly select: HTMLSelectElement,
    private readonly fuse: HTMLInputElement,
  ) {}

  setFusing(on: boolean): void {
    this.fuse.checked = on;
    const keep = this.select.value;
    this.select.multiple = on;
    this.select.size = on ? 8 : 0;
    if (!on) this.select.value = keep;
  }

  /** The picked layer, or the picked layers joined by commas when fusing; null = the model's default. */
  selected(): string | null {
    const picked = Array.from(this.select.selectedOptions, (option) => option.value).filter(Boolean);
    return picked.length ? picked.join(',') : null;
  }

  /** Selects the layer(s) a result ran at (comma-separated when fused). */
  show(layers: string): void {
    const names = layers.split(',');
    if (names.length > 1 && !this.select.multiple) this.setFusing(true);
    if (!names.every((name) => hasOption(this.select, name))) return;
    for (const option of Array.from(this.select.options)) option.selected = names.includes(option.value);
  }

  fill(layers: LayerInfo[], defaultLayer: string | null): void {
    const { cam, other } = groupLayers(layers);
    const option = (layer: LayerInfo): HTMLOptionElement =>
      h(
        'option',
        { value: layer.name, title: formatLayer(layer) },
        `${formatLayer(layer)}${layer.name === defaultLayer ? ' (default)' : ''}`,
      );
    const groups: HTMLElement[] = [];
    if (cam.length > 0) groups.push(h('optgroup', { label: 'CAM-capable layers' }, ...cam.map(option)));
    if (other.length > 0) groups.push(h('optgroup', { label: 'Other layers' }, ...other.map(option)));
    const previous = this.select.value;
    this.select.replaceChildren(...groups);
    const wanted = previous || defaultLayer || cam[0]?.name || '';
    if (hasOption(this.select, wanted)) this.select.value = wanted;
  }
}
