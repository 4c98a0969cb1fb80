import { strict as assert } from 'node:assert';
import { activationBytesPerImage, ACTIVATION_BUDGET_BYTES, memoryBoundBatch } from '../../src/engine/techniques/batching';
import type { LayerInfo } from '../../src/engine/types';

const layer = (outputShape: (number | null)[]): LayerInfo => ({
  name: 'l',
  kind: 'Conv2D',
  outputShape,
  params: 0,
  camCapable: true,
  hasKernel: true,
});

describe('batch sizes bounded by activation memory', () => {
  it('counts every layer output, 4 bytes per value', () => {
    assert.equal(activationBytesPerImage([layer([112, 112, 24]), layer([1000])]), 4 * (112 * 112 * 24 + 1000));
  });

  it('gives small models the full batch and big ones as many as fit, half as many with gradients, never 0', () => {
    const tiny = [layer([8, 8, 16])];
    assert.equal(memoryBoundBatch(tiny, 32, false), 32);
    assert.equal(memoryBoundBatch(tiny, 16, true), 16);
    // MobileNet v1 0.75 at 224 px holds ~43 MB of activations per image.
    const big = [layer([11_351_352])];
    const forward = memoryBoundBatch(big, 32, false);
    const backward = memoryBoundBatch(big, 16, true);
    assert.equal(forward, Math.floor(ACTIVATION_BUDGET_BYTES / (4 * 11_351_352)));
    assert.ok(backward >= 1 && backward <= Math.ceil(forward / 2), `${backward} with gradients vs ${forward} without`);
    assert.equal(memoryBoundBatch([layer([1e9])], 16, true), 1, 'at least one image');
  });
});
