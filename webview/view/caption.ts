/** The line under the figure: what is drawn — technique (with any changed parameters), preview, class, layer(s) — and the image's size. */
import type { Region } from '../../src/shared/vocabulary';
import { captionParts, type Drawn } from './captionText';
import { append, clear, h } from './dom';

function sep(): HTMLElement {
  return h('span', { class: 'caption-sep', 'aria-hidden': 'true' }, '·');
}

export function renderCaption(
  caption: HTMLElement,
  drawn: Drawn,
  image: { size?: { width: number; height: number }; region?: Region } = {},
): void {
  clear(caption);
  const parts = captionParts(drawn);
  caption.dataset.preview = drawn.preview === null ? '' : String(Math.round(drawn.preview));
  if (drawn.preview === null) delete caption.dataset.preview;
  append(
    caption,
    h(
      'span',
      { class: 'caption-technique' },
      drawn.title,
      drawn.changed ? h('span', { class: 'caption-params', 'data-testid': 'caption-params' }, ` (${drawn.changed})`) : null,
    ),
  );
  if (parts.preview) caption.append(sep(), h('span', { class: 'caption-preview', 'data-testid': 'caption-preview' }, parts.preview));
  caption.append(sep());
  if (drawn.classAgnostic)
    caption.append(h('span', { 'data-testid': 'caption-class', title: 'This technique does not use the target class' }, 'class-agnostic'));
  else if (drawn.target)
    caption.append(h('span', { 'data-testid': 'caption-class' }, 'class ', h('strong', {}, drawn.target.label), ` #${drawn.target.index}`));
  else caption.append(h('span', { 'data-testid': 'caption-class' }, 'class: the top prediction'));
  if (drawn.layer) {
    caption.append(
      sep(),
      h('span', {}, drawn.layer.includes(',') ? 'layers ' : 'layer ', h('code', {}, drawn.layer.split(',').join(' + '))),
    );
  }
  const size = image.size;
  if (size && Number.isInteger(size.width) && Number.isInteger(size.height)) {
    const region = image.region;
    const cropped = region && (region.width < 1 || region.height < 1);
    caption.append(
      sep(),
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
