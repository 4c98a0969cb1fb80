/**
 * Feature ablation over superpixels (captum.attr.FeatureAblation with a feature mask): each SLIC segment in
 * turn is replaced by the baseline, and its attribution is the score drop, score(image) − score(without it),
 * painted on its pixels. Signed: a segment whose removal raises the score counts against the class.
 */
import { tf } from '../tfjs/tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { baselineParameter, mapTensor, originalScore, perturbationBaseline, scoreMaskedCopies } from './masking';
import { BATCH_PARAMETER } from './perturbation';
import { coalitionMasks, paintSegments, SEGMENT_PARAMETERS, segmentationOf } from './superpixels';

export class FeatureAblation extends Technique {
  readonly info = {
    id: 'feature-ablation',
    title: 'Feature ablation',
    summary: 'Each superpixel in turn is hidden; its score drop is its attribution. No gradients.',
    needsGradients: false,
    needsLayer: false,
    parameters: [...SEGMENT_PARAMETERS, baselineParameter('zero'), BATCH_PARAMETER],
  };

  run(request: TechniqueInput): TechniqueOutput {
    const [, h, w] = request.input.shape;
    const segments = segmentationOf(request.pixels, request.parameters);
    const drops = new Float64Array(segments.count);
    const original = originalScore(request);
    const without = (segment: number) => Float32Array.from({ length: segments.count }, (_, s) => (s === segment ? 0 : 1));
    const baseline = perturbationBaseline(String(request.parameters.baseline), request);
    scoreMaskedCopies(request, baseline, {
      count: segments.count,
      batch: Number(request.parameters.batch),
      noun: 'superpixel',
      masks: (start, size) =>
        coalitionMasks(
          segments,
          Array.from({ length: size }, (_, i) => without(start + i)),
        ),
      take: (start, scores) => scores.forEach((score, i) => (drops[start + i] = original - score)),
      preview: () => ({ map: mapTensor(paintSegments(segments, drops), h, w), signed: true }),
    });
    tf.dispose(baseline);
    return { map: mapTensor(paintSegments(segments, drops), h, w), signed: true, layer: '', notes: [], segments };
  }
}
