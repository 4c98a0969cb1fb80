/**
 * Occlusion: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
 * (https://arxiv.org/abs/1311.2901), with Captum's conventions (captum.attr.Occlusion): a window slides over
 * the image with a stride, ceil((size − window) / stride) + 1 positions per axis, the last one cut at the
 * image's edge so every pixel is covered; each position hides the window (all channels) behind the baseline,
 * and every hidden pixel gets the score drop, score(image) − score(occluded). A pixel's attribution is the
 * mean drop over the windows that covered it. Signed: a window whose removal raises the score counts against.
 *
 * Defaults: a 15 px window with a stride of 8, Captum's image tutorials' choice for 224 px inputs (about
 * 1/15 of the side, each pixel under 2–4 windows: 784 forward passes at 224 px); larger inputs keep the
 * same pixel counts, so use a larger window there for the same coarseness.
 */
import { tf } from '../tfjs/tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { baselineParameter, mapTensor, originalScore, perturbationBaseline, scoreMaskedCopies } from './masking';
import { BATCH_PARAMETER } from './perturbation';

/** Start of each window position along an axis of `size` pixels (Captum's shift counts). */
export function windowStarts(size: number, window: number, stride: number): number[] {
  const span = Math.min(window, size);
  const count = Math.ceil((size - span) / stride) + 1;
  return Array.from({ length: count }, (_, i) => i * stride);
}

export class Occlusion extends Technique {
  readonly info = {
    id: 'occlusion',
    title: 'Occlusion',
    summary: 'A window slides over the image hiding what it covers; each pixel gets the mean score drop. No gradients.',
    needsGradients: false,
    needsLayer: false,
    parameters: [
      { name: 'window', summary: 'Window side in model-input pixels', default: 15, min: 1, max: 4096, integer: true },
      { name: 'stride', summary: 'Step between window positions, in pixels', default: 8, min: 1, max: 4096, integer: true },
      baselineParameter('zero'),
      BATCH_PARAMETER,
    ],
  };

  run(request: TechniqueInput): TechniqueOutput {
    const { parameters } = request;
    const [, h, w] = request.input.shape;
    const window = Number(parameters.window);
    const stride = Number(parameters.stride);
    if (stride > window && (window < h || window < w))
      throw new Error(`Occlusion's stride (${stride}) must not exceed its window (${window}): pixels would be left out.`);
    const rows = windowStarts(h, window, stride);
    const columns = windowStarts(w, window, stride);
    const [wh, ww] = [Math.min(window, h), Math.min(window, w)];
    const total = new Float64Array(h * w);
    const covered = new Float64Array(h * w);
    const original = originalScore(request);
    const each = (index: number, visit: (pixel: number) => void) => {
      const top = rows[Math.floor(index / columns.length)];
      const left = columns[index % columns.length];
      for (let y = top; y < Math.min(top + wh, h); y++) for (let x = left; x < Math.min(left + ww, w); x++) visit(y * w + x);
    };
    const averaged = () => total.map((sum, i) => (covered[i] > 0 ? sum / covered[i] : 0));
    const baseline = perturbationBaseline(String(parameters.baseline), request);
    scoreMaskedCopies(request, baseline, {
      count: rows.length * columns.length,
      batch: Number(parameters.batch),
      noun: 'window',
      masks: (start, size) => {
        const masks = new Float32Array(size * h * w).fill(1);
        for (let i = 0; i < size; i++) each(start + i, (pixel) => (masks[i * h * w + pixel] = 0));
        return masks;
      },
      take: (start, scores) =>
        scores.forEach((score, i) =>
          each(start + i, (pixel) => {
            total[pixel] += original - score;
            covered[pixel] += 1;
          }),
        ),
      preview: () => ({ map: mapTensor(averaged(), h, w), signed: true }),
    });
    tf.dispose(baseline);
    return { map: mapTensor(averaged(), h, w), signed: true, layer: '', notes: [] };
  }
}
