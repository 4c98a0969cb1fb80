/**
 * What the superpixel techniques (feature ablation, LIME, KernelSHAP) share: SLIC segments of the image at the
 * model's input size (their parameters), copies of the image with chosen segments hidden, and maps that paint
 * each segment with its value. The segments go out with the map so the panel can draw their boundaries.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { slic, type Segmentation } from '../image/slic';
import type { ParameterSpec, TechniqueParameters } from '../types';

export const SEGMENT_PARAMETERS: ParameterSpec[] = [
  { name: 'segments', summary: 'About how many SLIC superpixels', default: 50, min: 2, max: 2000, integer: true },
  {
    name: 'compactness',
    summary: 'SLIC compactness: higher, squarer superpixels; lower, closer to colour edges',
    default: 10,
    min: 0.01,
    max: 1000,
  },
];

/** SLIC superpixels of the [1, h, w, c] 0..255 pixels the model sees. */
export function segmentationOf(pixels: Tensor4D, parameters: TechniqueParameters): Segmentation {
  const [, h, w, c] = pixels.shape;
  return slic(pixels.dataSync(), w, h, c, { segments: Number(parameters.segments), compactness: Number(parameters.compactness) });
}

/** Keep-masks [size · h · w] of the coalitions `present` (one 0/1 per segment each): a segment's pixels are kept where it is present. */
export function coalitionMasks({ labels }: Segmentation, present: ArrayLike<number>[]): Float32Array {
  const masks = new Float32Array(present.length * labels.length);
  present.forEach((coalition, i) => {
    const offset = i * labels.length;
    for (let p = 0; p < labels.length; p++) masks[offset + p] = coalition[labels[p]];
  });
  return masks;
}

/** A map [h · w] with each segment's pixels set to its value. */
export function paintSegments({ labels }: Segmentation, values: ArrayLike<number>): Float32Array {
  return Float32Array.from(labels, (label) => values[label]);
}

/** FNV-1a of the labels: the peer references record it to show both sides used the same segments. */
export function segmentationHash({ labels }: Segmentation): string {
  let hash = 0x811c9dc5;
  for (const label of labels) hash = Math.imul(hash ^ label, 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}
