/** The line under the figure: technique (with any changed parameters), class, layer(s) and the image's size. */
import type { ResultMessage } from '../../src/shared/protocol';
import { append, clear, h } from './dom';

export function renderCaption(caption: HTMLElement, msg: ResultMessage, title: string, changed: string): void {
  clear(caption);
  append(
    caption,
    h(
      'span',
      { class: 'caption-technique' },
      title,
      changed ? h('span', { class: 'caption-params', 'data-testid': 'caption-params' }, ` (${changed})`) : null,
    ),
    h('span', { class: 'caption-sep', 'aria-hidden': 'true' }, '·'),
    h('span', {}, 'class ', h('strong', {}, msg.target.label), ` #${msg.target.index}`),
  );
  if (msg.layer) {
    caption.append(
      h('span', { class: 'caption-sep', 'aria-hidden': 'true' }, '·'),
      h('span', {}, msg.layer.includes(',') ? 'layers ' : 'layer ', h('code', {}, msg.layer.split(',').join(' + '))),
    );
  }
  const size = msg.imageSize;
  if (size && Number.isInteger(size.width) && Number.isInteger(size.height)) {
    const cropped = msg.region && (msg.region.width < 1 || msg.region.height < 1);
    caption.append(
      h('span', { class: 'caption-sep', 'aria-hidden': 'true' }, '·'),
      h(
        'span',
        {
          'data-testid': 'caption-image',
          title: cropped
            ? 'The model saw the bright centre crop (torchvision-style resize); the rest is dimmed.'
            : 'The whole image, resized to the model input',
        },
        `${size.width}×${size.height}${cropped ? ', centre crop' : ''}`,
      ),
    );
  }
}
