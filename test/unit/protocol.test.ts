import { strict as assert } from 'node:assert';
import { parseWebviewMessage } from '../../src/shared/protocol';

describe('webview message validation', () => {
  it('accepts well-formed messages and rebuilds them field by field', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'ready', extra: 'dropped' }), { type: 'ready' });
    assert.deepEqual(parseWebviewMessage({ type: 'run', technique: 'gradcam', classIndex: 3, layer: 'conv', evil: 1 }), {
      type: 'run',
      technique: 'gradcam',
      classIndex: 3,
      layer: 'conv',
    });
    assert.deepEqual(parseWebviewMessage({ type: 'run', technique: 'cam', classIndex: null, layer: null }), { type: 'run', technique: 'cam', classIndex: null, layer: null });
    assert.deepEqual(parseWebviewMessage({ type: 'export', view: { colormap: 'viridis', opacity: 0.25 } }), { type: 'export', view: { colormap: 'viridis', opacity: 0.25 } });
  });

  const bad: [string, unknown][] = [
    ['null', null],
    ['a string', 'run'],
    ['an array', [{ type: 'ready' }]],
    ['an unknown type', { type: 'eval', code: 'x' }],
    ['a negative class', { type: 'run', technique: 'gradcam', classIndex: -1, layer: null }],
    ['a fractional class', { type: 'run', technique: 'gradcam', classIndex: 1.5, layer: null }],
    ['a missing technique', { type: 'run', classIndex: null, layer: null }],
    ['a huge layer name', { type: 'run', technique: 'gradcam', classIndex: null, layer: 'x'.repeat(10_000) }],
    ['an unknown colormap', { type: 'export', view: { colormap: 'rainbow', opacity: 0.5 } }],
    ['opacity out of range', { type: 'viewChanged', view: { colormap: 'jet', opacity: 2 } }],
    ['NaN opacity', { type: 'viewChanged', view: { colormap: 'jet', opacity: NaN } }],
  ];
  for (const [what, raw] of bad) {
    it(`rejects ${what}`, () => assert.equal(parseWebviewMessage(raw), null));
  }
});
