/**
 * RISE: Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box Models", BMVC
 * 2018 (https://arxiv.org/abs/1806.07421), as the authors' code (eclique/RISE) makes its masks: N random
 * s × s grids, each cell kept with probability p, upsampled bilinearly to (s + 1) · ⌈H/s⌉ (half-pixel
 * centres, mirrored edges: skimage's resize with mode 'reflect') and cropped at a random offset within one
 * cell, so the kept regions fall anywhere. The image is multiplied by each mask (the baseline 0 of the model's
 * input, as theirs), and saliency = Σᵢ P(class | masked i) · Mᵢ / (N · p): how likely the class is when a pixel
 * is kept.
 *
 * Defaults: s = 8 and p = 0.5 as the authors' ImageNet notebook; N = 1000 masks, half the notebook's 2000
 * (and a quarter of the paper's 4000) for speed — the map's shape is settled by then; raise N for smoother maps.
 */
import { uniformStream } from '../random';
import { tf } from '../tfjs/tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { baselineParameter, mapTensor, perturbationBaseline, scoreMaskedCopies, SEED_PARAMETER } from './masking';
import { BATCH_PARAMETER } from './perturbation';

export interface RiseDraw {
  /** s × s cells, 1 = kept. */
  grid: Uint8Array;
  /** The crop's offset into the upsampled grid: rows, columns. */
  shift: [number, number];
}

/** The grids and shifts of `count` masks for an h × w input, the same for the same seed. */
export function riseDraws(count: number, cells: number, keep: number, h: number, w: number, seed: number): RiseDraw[] {
  const random = uniformStream(seed);
  const [cellH, cellW] = [Math.ceil(h / cells), Math.ceil(w / cells)];
  return Array.from({ length: count }, () => ({
    grid: Uint8Array.from({ length: cells * cells }, () => (random() < keep ? 1 : 0)),
    shift: [Math.floor(random() * cellH), Math.floor(random() * cellW)],
  }));
}

/**
 * For each output index along an axis of `size`, the two grid cells and the weight of the second:
 * linear interpolation of `cells` values stretched to `upsampled`, read from `shift` on, mirrored at the ends.
 */
function axisSamples(
  cells: number,
  upsampled: number,
  shift: number,
  size: number,
): { low: Int32Array; high: Int32Array; weight: Float32Array } {
  const mirror = (i: number) => (cells === 1 ? 0 : i < 0 ? -i : i > cells - 1 ? 2 * (cells - 1) - i : i);
  const low = new Int32Array(size);
  const high = new Int32Array(size);
  const weight = new Float32Array(size);
  for (let o = 0; o < size; o++) {
    const t = ((o + shift + 0.5) * cells) / upsampled - 0.5;
    const floor = Math.floor(t);
    low[o] = mirror(floor);
    high[o] = mirror(floor + 1);
    weight[o] = t - floor;
  }
  return { low, high, weight };
}

/** Writes the h × w mask of one draw into `out` at `offset`. */
export function riseMask({ grid, shift }: RiseDraw, cells: number, h: number, w: number, out: Float32Array, offset = 0): void {
  const rows = axisSamples(cells, (cells + 1) * Math.ceil(h / cells), shift[0], h);
  const columns = axisSamples(cells, (cells + 1) * Math.ceil(w / cells), shift[1], w);
  for (let y = 0; y < h; y++) {
    const [r0, r1, fy] = [rows.low[y] * cells, rows.high[y] * cells, rows.weight[y]];
    for (let x = 0; x < w; x++) {
      const [c0, c1, fx] = [columns.low[x], columns.high[x], columns.weight[x]];
      const top = grid[r0 + c0] + fx * (grid[r0 + c1] - grid[r0 + c0]);
      const bottom = grid[r1 + c0] + fx * (grid[r1 + c1] - grid[r1 + c0]);
      out[offset + y * w + x] = top + fy * (bottom - top);
    }
  }
}

export class Rise extends Technique {
  readonly info = {
    id: 'rise',
    title: 'RISE',
    summary: 'Random blurry masks keep parts of the image; each pixel gets the mean class probability when it is kept. No gradients.',
    needsGradients: false,
    needsLayer: false,
    parameters: [
      { name: 'masks', summary: 'Random masks (N)', default: 1000, min: 1, max: 100000, integer: true },
      { name: 'cells', summary: 'Grid cells per side (s)', default: 8, min: 1, max: 256, integer: true },
      { name: 'keep', summary: 'Probability a cell is kept (p)', default: 0.5, min: 0.01, max: 1 },
      baselineParameter('zero'),
      SEED_PARAMETER,
      BATCH_PARAMETER,
    ],
  };

  run(request: TechniqueInput): TechniqueOutput {
    const { parameters } = request;
    const [, h, w] = request.input.shape;
    const cells = Number(parameters.cells);
    const keep = Number(parameters.keep);
    const draws = riseDraws(Number(parameters.masks), cells, keep, h, w, Number(parameters.seed));
    const saliency = new Float64Array(h * w);
    let done = 0;
    const scaled = () => saliency.map((v) => v / (Math.max(done, 1) * keep));
    const baseline = perturbationBaseline(String(parameters.baseline), request);
    scoreMaskedCopies(request, baseline, {
      count: draws.length,
      batch: Number(parameters.batch),
      noun: 'mask',
      probability: true,
      masks: (start, size) => {
        const masks = new Float32Array(size * h * w);
        for (let i = 0; i < size; i++) riseMask(draws[start + i], cells, h, w, masks, i * h * w);
        return masks;
      },
      take: (_start, scores, masks) => {
        scores.forEach((score, i) => {
          for (let p = 0, offset = i * h * w; p < h * w; p++) saliency[p] += score * masks[offset + p];
        });
        done += scores.length;
      },
      preview: () => ({ map: mapTensor(scaled(), h, w) }),
    });
    tf.dispose(baseline);
    return { map: mapTensor(scaled(), h, w), layer: '', notes: [] };
  }
}
