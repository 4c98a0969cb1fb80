import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { slic } from '../../src/engine/image/slic';
import { segmentationHash } from '../../src/engine/techniques/superpixels';
import { fixture, requireFixtures } from './helpers/fixtures';

// skimage.segmentation.slic on the peers' photo (recorded by `/usr/bin/python3 bench/peers/perturbation.py slic`):
// CNN Lens's SLIC gives the very same labels, compared by their hash.
interface SlicReference {
  peer: string;
  settings: { segments: number; compactness: number; count: number; hash: string }[];
}

describe('SLIC superpixels', () => {
  it('label exactly as skimage.segmentation.slic on the photo', async function () {
    requireFixtures(this);
    const reference = JSON.parse(readFileSync(path.resolve(__dirname, '../fixtures/peer/slic-skimage.json'), 'utf8')) as SlicReference;
    const image = await readImageFile(fixture('images/pytorch-cnn-visualizations/cat_dog.png'), DEFAULT_IMAGE_LIMITS);
    for (const { segments, compactness, count, hash } of reference.settings) {
      const ours = slic(image.data, image.width, image.height, 4, { segments, compactness });
      assert.equal(ours.count, count, `${segments} segments, compactness ${compactness}: count`);
      assert.equal(
        segmentationHash(ours),
        hash,
        `${segments} segments, compactness ${compactness}: labels differ from ${reference.peer}'s`,
      );
    }
  });

  it('gives connected segments labelled 0 … count − 1 that cover the image', () => {
    const [width, height] = [40, 30];
    const pixels = Float32Array.from({ length: width * height * 3 }, (_, i) => ((i * 2654435761) >>> 0) % 256);
    const { labels, count } = slic(pixels, width, height, 3, { segments: 12, compactness: 10 });
    const seen = new Set(labels);
    assert.equal(seen.size, count);
    for (let label = 0; label < count; label++) assert.ok(seen.has(label), `label ${label} missing`);
    // Each label is one 4-connected piece: a flood fill from its first pixel reaches all of it.
    for (let label = 0; label < count; label++) {
      const start = labels.indexOf(label);
      const reached = new Set([start]);
      const queue = [start];
      while (queue.length) {
        const p = queue.pop()!;
        const [y, x] = [Math.floor(p / width), p % width];
        for (const [yy, xx] of [
          [y, x + 1],
          [y, x - 1],
          [y + 1, x],
          [y - 1, x],
        ]) {
          const q = yy * width + xx;
          if (yy >= 0 && yy < height && xx >= 0 && xx < width && labels[q] === label && !reached.has(q)) {
            reached.add(q);
            queue.push(q);
          }
        }
      }
      assert.equal(reached.size, labels.filter((l) => l === label).length, `label ${label} is in pieces`);
    }
  });
});
