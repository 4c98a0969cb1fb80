/** The shipped model on its shipped samples: right class, and Grad-CAM's peak inside the item's box. */
import { strict as assert } from 'node:assert';
import { mapOver } from '../../src/engine/render';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundledModelPath } from '../../src/engine/bundledModel';
import { Engine } from '../../src/engine/engine';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

const SAMPLES = path.resolve(__dirname, '../../models/samples');

describe('the bundled model on its samples', () => {
  it('classifies every sample correctly and points inside the ground-truth box (pointing game)', async () => {
    const engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    const model = await engine.loadModel(bundledModelPath());
    const boxes = JSON.parse(readFileSync(path.join(SAMPLES, 'boxes.json'), 'utf8')) as Record<
      string,
      { index: number; box: [number, number, number, number] }
    >;
    let hits = 0;
    for (const [file, { index, box }] of Object.entries(boxes)) {
      const image = await readImageFile(path.join(SAMPLES, file), DEFAULT_IMAGE_LIMITS);
      const result = await engine.explain(model, image, {});
      assert.equal(result.target.index, index, `${file} is classified as its label`);
      // The map comes at its own resolution; laid over the image as the panel and exports draw it.
      const map = mapOver(result.heatmap, result.region, image.width, image.height);
      let peak = 0;
      map.data.forEach((v, i) => v > map.data[peak] && (peak = i));
      const [x, y] = [peak % image.width, Math.floor(peak / image.width)];
      if (x >= box[0] && x < box[2] && y >= box[1] && y < box[3]) hits++;
    }
    engine.dispose();
    const total = Object.keys(boxes).length;
    console.log(`      (pointing game: ${hits} of ${total})`);
    assert.ok(hits >= total - 1, `Grad-CAM peak inside the box on ${hits} of ${total} samples`);
  });
});
