/**
 * SmoothGrad: Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017
 * (https://arxiv.org/abs/1706.03825), as a wrapper over any other technique (like Captum's NoiseTunnel):
 * the base technique's attribution averaged over n copies of the input with Gaussian noise of
 * σ = noise × the input's value range. Variants (Hooker et al. 2019, Adebayo et al. 2018): SquareGrad
 * averages the squared attributions, VarGrad takes their variance.
 *
 * Input-space bases are averaged as raw attributions, up to MAX_BATCH noisy copies per pass, and then drawn with
 * the chosen view; map bases (Grad-CAM, guided Grad-CAM) are averaged as maps, one copy at a time.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { oneHot, reduce, replaceInput, type GraphRecipe } from '../accel/recipes';
import type { OrtArray } from '../accel/ortRuntime';
import type { ModelAdapter } from '../models/adapter';
import type { ReluRule } from '../models/reluRules';
import { gaussianValues } from '../random';
import { tf } from '../tfjs/tf';
import { AttributionTechnique, renderAttribution, viewParameter, type AttributionView } from './attribution';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { resolveParameters } from './parameters';
import { memoryBoundBatch } from './batching';

/** Noisy copies per pass, at most (memoryBoundBatch lowers it for big models). */
const MAX_BATCH = 8;

type Variant = 'smoothgrad' | 'squaregrad' | 'vargrad';

/** Running sums of x and x² over samples, owned here (kept from tidies) until `dispose`. */
class Moments<T extends Tensor> {
  private sum: T | null = null;
  private sumOfSquares: T | null = null;
  count = 0;

  /** Adds a batch of samples (summed along axis 0 when `batched`). */
  add(samples: T, batched: boolean, size: number): void {
    const [sum, squares] = tf.tidy(
      () => (batched ? [tf.sum(samples, 0, true), tf.sum(samples.square(), 0, true)] : [samples.clone(), samples.square()]) as [T, T],
    );
    this.addSums(sum, squares, size);
  }

  /** Adds sums of samples and of their squares made elsewhere (taken over: disposed here). */
  addSums(sum: T, squares: T, size: number): void {
    if (this.sum && this.sumOfSquares) {
      const totals = tf.tidy(() => [this.sum!.add(sum), this.sumOfSquares!.add(squares)] as [T, T]);
      tf.dispose([this.sum, this.sumOfSquares, sum, squares]);
      [sum, squares] = totals;
    }
    // Kept: callers add from inside their own tidy, which must not take the running sums with it.
    this.sum = tf.keep(sum);
    this.sumOfSquares = tf.keep(squares);
    this.count += size;
  }

  /** The aggregate of the samples so far; a new tensor. */
  aggregate(variant: Variant): T {
    return tf.tidy(() => {
      const mean = this.sum!.div(this.count);
      const meanSquare = this.sumOfSquares!.div(this.count);
      if (variant === 'squaregrad') return meanSquare as T;
      if (variant === 'vargrad') return tf.relu(meanSquare.sub(mean.square())) as T;
      return mean as T;
    });
  }

  dispose(): void {
    tf.dispose([this.sum, this.sumOfSquares].filter((t): t is T => t !== null));
  }
}

const SEED = 'cnn_lens_seed';
const ORIGIN = 'cnn_lens_origin';
const OFFSETS = 'cnn_lens_offsets';
const SUM = 'cnn_lens_sum';
const SQUARES = 'cnn_lens_squares';

/**
 * Σᵢ aᵢ and Σᵢ aᵢ² of the base's attributions aᵢ of the noisy copies ORIGIN + OFFSETS[i], built and
 * differentiated inside one onnxruntime run (aᵢ: the input gradient under the rule, times the copy with
 * `timesInput`). Only the image, the noise and two sums cross over instead of a batch of copies and one of
 * gradients, and no TF.js op runs per batch: on the shipped model that overhead was a third of SmoothGrad.
 */
const noiseSums = (rule: ReluRule | null, timesInput: boolean): GraphRecipe => ({
  key: `sums:noise${timesInput ? '-times-input' : ''}:${rule ?? 'stock'}`,
  title: 'the gradients of batched copies',
  build({ graph, input, inputShape: [h, w, c], numClasses, scores, gradients }) {
    graph.input(SEED, [numClasses]);
    const [gradient] = gradients(scores, SEED, [input], rule);
    replaceInput(graph, input, () => {
      graph.input(ORIGIN, [h, w, c]);
      return { op: 'Add', inputs: [ORIGIN, graph.input(OFFSETS, [h, w, c])] };
    });
    const attribution = timesInput ? graph.op('Mul', [gradient, input]) : gradient;
    graph.nameOutput(reduce(graph, 'ReduceSum', attribution, [0], true), SUM);
    graph.nameOutput(reduce(graph, 'ReduceSum', graph.op('Mul', [attribution, attribution]), [0], true), SQUARES);
  },
});

/**
 * Σ and Σ² of the attributions of the noisy copies origin + offsets[i] (input gradients under the rule,
 * times the copy with `timesInput`) from one onnxruntime run; null where the model has none.
 */
export function inGraphNoiseSums(
  model: ModelAdapter,
  noise: { origin: Tensor4D; offsets: OrtArray },
  classIndex: number,
  { rule, timesInput }: { rule: ReluRule | null; timesInput: boolean },
): { sum: Tensor4D; squares: Tensor4D } | null {
  const feeds = { [ORIGIN]: noise.origin, [OFFSETS]: noise.offsets, [SEED]: oneHot(noise.offsets.dims[0], model.numClasses, classIndex) };
  const sums = model.accelerated()?.run(noiseSums(rule, timesInput), feeds, [SUM, SQUARES], noise.origin);
  return sums ? { sum: sums[0] as Tensor4D, squares: sums[1] as Tensor4D } : null;
}

export class SmoothGrad extends Technique {
  readonly info = {
    id: 'smoothgrad',
    title: 'SmoothGrad',
    summary: 'Any technique averaged over noisy copies of the image: less speckle, same story.',
    needsGradients: true,
    needsLayer: false,
    parameters: [
      {
        name: 'base',
        summary: 'Technique to smooth',
        default: 'saliency',
        choices: [
          'saliency',
          'guided-backprop',
          'deconvnet',
          'guided-layer',
          'grad-x-image',
          'integrated-gradients',
          'gradcam',
          'guided-gradcam',
        ],
      },
      { name: 'samples', summary: 'Noisy samples (n)', default: 25, min: 1, max: 500, integer: true },
      { name: 'noise', summary: 'Noise σ as a fraction of the input range', default: 0.15, min: 0, max: 1 },
      { name: 'variant', summary: 'Aggregate', default: 'smoothgrad', choices: ['smoothgrad', 'squaregrad', 'vargrad'] },
      viewParameter('max-abs'),
    ],
  };

  constructor(private readonly find: (id: string) => Technique) {
    super();
  }

  run(request: TechniqueInput): TechniqueOutput {
    const { base, samples, noise, variant, view } = request.parameters;
    const inner = this.find(String(base));
    const n = Number(samples);
    const sigma = tf.tidy(() => Number(noise) * (request.input.max().dataSync()[0] - request.input.min().dataSync()[0]));
    const takesView = inner.info.parameters?.some((spec) => spec.name === 'view');
    const innerParameters = resolveParameters(inner.info.id, inner.info.parameters, takesView ? { view: String(view) } : {});
    // Noise for copies start … start + size − 1, the same whichever way the copies are then attributed.
    const offsets = (start: number, size: number) => {
      const dims = [size, ...request.input.shape.slice(1)];
      return {
        data: gaussianValues(
          dims.reduce((a, b) => a * b, 1),
          0,
          sigma,
          1000 + start,
        ),
        dims,
      };
    };
    const noisy = ({ data, dims }: { data: Float32Array; dims: number[] }) => request.input.add(tf.tensor(data, dims)) as Tensor4D;
    const moments = new Moments<Tensor>();
    const notes: string[] = [];
    let layer = '';
    try {
      if (inner instanceof AttributionTechnique) {
        const batch = inner.batchable(innerParameters) ? memoryBoundBatch(request.model.layers, MAX_BATCH, true) : 1;
        const summed = inner.noiseSummable(innerParameters, request.model);
        for (let start = 0; start < n; start += batch) {
          request.checkCancelled();
          const size = Math.min(batch, n - start);
          const noise = offsets(start, size);
          const sums = summed && inGraphNoiseSums(request.model, { origin: request.input, offsets: noise }, request.classIndex, summed);
          if (sums) {
            moments.addSums(sums.sum, sums.squares, size);
          } else {
            tf.tidy(() => {
              const out = inner.attribute({
                ...request,
                input: noisy(noise),
                parameters: innerParameters,
                reportProgress: () => undefined,
              });
              layer = out.layer ?? '';
              moments.add(out.attribution, true, size);
            });
          }
          request.reportProgress(moments.count / n, () =>
            renderAttribution(moments.aggregate(variant as Variant) as Tensor4D, view as AttributionView),
          );
        }
        const rendered = renderAttribution(moments.aggregate(variant as Variant) as Tensor4D, view as AttributionView);
        return { ...rendered, layer, notes };
      }
      if (!takesView && view !== 'max-abs') notes.push(`${inner.info.title} draws its own map; the "${view}" view does not apply.`);
      for (let i = 0; i < n; i++) {
        request.checkCancelled();
        tf.tidy(() => {
          const out = inner.run({ ...request, input: noisy(offsets(i, 1)), parameters: innerParameters, reportProgress: () => undefined });
          layer = out.layer;
          moments.add(out.map, false, 1);
        });
        request.reportProgress(moments.count / n, () => ({ map: moments.aggregate(variant as Variant) as tf.Tensor2D }));
      }
      return { map: moments.aggregate(variant as Variant) as tf.Tensor2D, layer, notes };
    } finally {
      moments.dispose();
    }
  }
}
