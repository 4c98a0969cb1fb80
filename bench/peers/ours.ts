/**
 * CNN Lens's own draws for bench/peers/perturbation.py, as JSON on stdout, so Captum's reference runs replay them:
 *   npx tsx bench/peers/ours.ts segments            SLIC labels of the photo (default parameters) and their hash
 *   npx tsx bench/peers/ours.ts slic N,COMPACTNESS   the same with other parameters
 *   npx tsx bench/peers/ours.ts lime|kernel-shap SAMPLES,SEGMENTS,SEED   the coalitions (as '0'/'1' strings)
 *   npx tsx bench/peers/ours.ts gradient-shap SAMPLES,BASELINES,SEED   each sample's baseline index and α
 *   npx tsx bench/peers/ours.ts rise MASKS,CELLS,KEEP,SEED   RISE's grids ('0'/'1' strings, row-major) and shifts at 224 × 224
 */
import * as path from 'node:path';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import { tf } from '../../src/engine/tfjs/tf';
import { gradientShapDraws } from '../../src/engine/techniques/gradientShap';
import { kernelShapCoalitions } from '../../src/engine/techniques/kernelShap';
import { limeCoalitions } from '../../src/engine/techniques/lime';
import { riseDraws } from '../../src/engine/techniques/rise';
import { segmentationHash, segmentationOf } from '../../src/engine/techniques/superpixels';
import type { Tensor4D } from '@tensorflow/tfjs-core';

const PHOTO = path.resolve(__dirname, '../../../shared/fixtures/images/pytorch-cnn-visualizations/cat_dog.png');

async function photoPixels(): Promise<Tensor4D> {
  const image = await readImageFile(PHOTO, DEFAULT_IMAGE_LIMITS);
  const rgb = new Float32Array(image.width * image.height * 3);
  for (let p = 0; p < image.width * image.height; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = image.data[p * 4 + c];
  return tf.tensor4d(rgb, [1, image.height, image.width, 3]);
}

async function main(): Promise<void> {
  const [what, options = ''] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const pixels = await photoPixels();
  if (what === 'segments' || what === 'slic') {
    const [segments = 50, compactness = 10] = options ? options.split(',').map(Number) : [];
    const segmentation = segmentationOf(pixels, { segments, compactness });
    process.stdout.write(
      JSON.stringify({ count: segmentation.count, hash: segmentationHash(segmentation), labels: Array.from(segmentation.labels) }),
    );
    return;
  }
  if (what === 'lime' || what === 'kernel-shap') {
    const [samples, segments, seed] = options.split(',').map(Number);
    const draw = what === 'lime' ? limeCoalitions : kernelShapCoalitions;
    process.stdout.write(JSON.stringify({ coalitions: draw(samples, segments, seed).map((c) => c.join('')) }));
    return;
  }
  if (what === 'rise') {
    const [masks, cells, keep, seed] = options.split(',').map(Number);
    const draws = riseDraws(masks, cells, keep, 224, 224, seed);
    process.stdout.write(JSON.stringify({ grids: draws.map((d) => d.grid.join('')), shifts: draws.map((d) => d.shift) }));
    return;
  }
  if (what === 'gradient-shap') {
    const [samples, baselines, seed] = options.split(',').map(Number);
    process.stdout.write(JSON.stringify(gradientShapDraws(samples, baselines, seed)));
    return;
  }
  throw new Error(`unknown request "${what}"`);
}

void main();
