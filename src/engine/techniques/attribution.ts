/**
 * The shared base of the input-space techniques (saliency, guided backprop, deconvnet, guided-layer,
 * grad × image, integrated gradients): each writes one method, the raw [n, h, w, c] attribution of
 * a batch, and this base turns it into the view the user picked. SmoothGrad averages raw attributions
 * of whole batches of noisy copies through the same method (Captum's NoiseTunnel does the same).
 *
 * Views (pytorch-cnn-visualizations' and Captum's):
 *  - max-abs: max over channels of |a| (Simonyan et al.'s grayscale saliency);
 *  - sum-abs: |Σ over channels a| (for attributions whose per-pixel sum means something, as IG's);
 *  - signed: Σ over channels a, shown with a diverging colormap (red for, blue against);
 *  - positive / negative: Σ over channels of the positive (negative) parts;
 *  - colour: the attribution as an RGB image, each channel scaled on its own about grey.
 */
import type { Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import type { ModelAdapter } from '../models/adapter';
import type { ReluRule } from '../models/reluRules';
import { quantile } from '../quantile';
import { tf } from '../tfjs/tf';
import type { ParameterSpec, TechniqueParameters } from '../types';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';

export const ATTRIBUTION_VIEWS = ['max-abs', 'sum-abs', 'signed', 'positive', 'negative', 'colour'] as const;
export type AttributionView = (typeof ATTRIBUTION_VIEWS)[number];

export function viewParameter(defaultView: AttributionView): ParameterSpec {
  return { name: 'view', summary: 'How channels become a map', default: defaultView, choices: [...ATTRIBUTION_VIEWS] };
}

export interface Attribution {
  /** [n, h, w, c], one attribution per image of the input batch. */
  attribution: Tensor4D;
  layer?: string;
  notes?: string[];
  metrics?: Record<string, number>;
}

export abstract class AttributionTechnique extends Technique {
  /** The raw attribution of every image in `request.input` (a batch when SmoothGrad calls). */
  abstract attribute(request: TechniqueInput): Attribution;

  /** False when `attribute` handles one image at a time (it batches internally, as integrated gradients). */
  batchable(_parameters: TechniqueParameters): boolean {
    return true;
  }

  /**
   * When this attribution is an input gradient under a ReLU rule (times the input with `timesInput`),
   * SmoothGrad sums it over its noisy copies inside one onnxruntime run; null: SmoothGrad calls `attribute`.
   */
  noiseSummable(_parameters: TechniqueParameters, _model: ModelAdapter): { rule: ReluRule | null; timesInput: boolean } | null {
    return null;
  }

  run(request: TechniqueInput): TechniqueOutput {
    const { attribution, layer = '', notes = [], metrics } = this.attribute(request);
    return { ...renderAttribution(attribution, String(request.parameters.view ?? 'max-abs') as AttributionView), layer, notes, metrics };
  }
}

/**
 * Clips a map at its 99th percentile: a handful of extreme pixels would otherwise take the whole colour
 * range and leave the rest of the map dark (the usual practice in Captum's visualiser).
 */
export function clipOutliers(map: Tensor2D, share = 0.99): Tensor2D {
  const cap = quantile(map.dataSync(), share);
  return cap > 0 ? (tf.minimum(map, cap) as Tensor2D) : map;
}

/** Clips a signed map symmetrically at the 99th percentile of |v|, keeping 0 at the centre. */
function clipSigned(map: Tensor2D): Tensor2D {
  const cap = quantile(tf.abs(map).dataSync(), 0.99);
  return cap > 0 ? (tf.clipByValue(map, -cap, cap) as Tensor2D) : map;
}

/** Each channel scaled by its own 99th percentile of |a| into 0..1 around 0.5 (zero is grey). */
function colourImage(attribution: Tensor3D): Tensor3D {
  const channels = tf.unstack(attribution, 2).map((channel) => {
    const cap = quantile(tf.abs(channel).dataSync(), 0.99);
    return cap > 0 ? tf.clipByValue(channel.div(cap), -1, 1).mul(0.5).add(0.5) : tf.fill(channel.shape, 0.5);
  });
  return tf.stack(channels, 2) as Tensor3D;
}

export function renderAttribution(batch: Tensor4D, view: AttributionView): Pick<TechniqueOutput, 'map' | 'signed' | 'colour'> {
  const attribution = batch.squeeze([0]) as Tensor3D;
  const channelSum = () => tf.sum(attribution, -1) as Tensor2D;
  switch (view) {
    case 'sum-abs':
      return { map: clipOutliers(tf.abs(channelSum())) };
    case 'signed':
      return { map: clipSigned(channelSum()), signed: true };
    case 'positive':
      return { map: clipOutliers(tf.sum(tf.relu(attribution), -1) as Tensor2D) };
    case 'negative':
      return { map: clipOutliers(tf.sum(tf.relu(tf.neg(attribution)), -1) as Tensor2D) };
    case 'colour':
      return { map: clipOutliers(tf.max(tf.abs(attribution), -1) as Tensor2D), colour: colourImage(attribution) };
    default:
      return { map: clipOutliers(tf.max(tf.abs(attribution), -1) as Tensor2D) };
  }
}
