import { strict as assert } from 'node:assert';
import { drawSegmentBoundaries, segmentOutline } from '../../src/shared/mapDrawing';
import { WHOLE_IMAGE } from '../../src/shared/vocabulary';
import { drawOutline, outlineAt } from '../../webview/view/overlay';

// The superpixel outline the panel draws over LIME, KernelSHAP and feature ablation maps.
describe('superpixel outlines', () => {
  // Two segments, left (0) and right (1) halves of a 4 × 2 label image.
  const segments = { width: 4, height: 2, count: 2, labels: Int32Array.from([0, 0, 1, 1, 0, 0, 1, 1]) };

  it('mark the pixels whose right or lower neighbour is in another segment', () => {
    assert.deepEqual(Array.from(segmentOutline(segments)), [0, 255, 0, 0, 0, 255, 0, 0]);
  });

  it('scale onto the display image and lighten only the boundary', () => {
    const outline = outlineAt({ width: 4, height: 2, data: segmentOutline(segments) }, WHOLE_IMAGE, 8, 4);
    // Column 1 of 4 becomes columns 2–3 of 8 (bilinear, at least half on).
    assert.deepEqual(Array.from(outline.slice(0, 8)), [0, 0, 1, 1, 0, 0, 0, 0]);
    const pixels = new Uint8ClampedArray(8 * 4 * 4).fill(0);
    drawOutline(outline, pixels);
    assert.equal(pixels[2 * 4], Math.round(0.65 * 255));
    assert.equal(pixels[0], 0);
  });

  it('on an export: boundaries of the labels sampled over the region, as wide as asked, the rest untouched', () => {
    // A 40 × 10 RGB image, the 4 × 2 labels over its right half: their boundary (label column 1 | 2) falls at x = 30.
    const image = { width: 40, height: 10, channels: 3, data: new Uint8Array(40 * 10 * 3).fill(10) };
    drawSegmentBoundaries(image, segments, { x: 0.5, y: 0, width: 0.5, height: 1 }, 2);
    const lit = (x: number, y: number) => image.data[(y * 40 + x) * 3] !== 10;
    for (let y = 0; y < 10; y++) {
      assert.deepEqual(
        Array.from({ length: 40 }, (_, x) => (lit(x, y) ? x : -1)).filter((x) => x >= 0),
        [28, 29],
        `row ${y}`,
      );
    }
    assert.equal(image.data[(5 * 40 + 28) * 3], Math.round(0.35 * 10 + 0.65 * 255));
  });
});
