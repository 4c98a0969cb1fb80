/**
 * Score-CAM: Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
 * Networks", CVPR-W 2020 (https://arxiv.org/abs/1910.01279). Gradient-free: each channel's activation,
 * upsampled to the input and min-max scaled to 0..1, masks the input; the class score of each masked
 * input, softmaxed over the channels, is that channel's weight (as pytorch-grad-cam computes it).
 * Faster Score-CAM (Wang et al.'s own follow-up, in their repository): only the N channels whose
 * activations vary most are scored; the rest weigh 0.
 */
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { reduce, SCORES, type GraphRecipe } from '../accel/recipes';
import type { ModelAdapter } from '../models/adapter';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';
import { BATCH_PARAMETER, channelBatches } from './perturbation';

const BASE = 'cnn_lens_base';
const MAPS = 'cnn_lens_maps';

/**
 * The masked batch scored in one onnxruntime run: the image BASE [1, h, w, c] times each map of MAPS
 * [b, mh, mw, 1], upsampled (bilinear, half-pixel centres, as tf.image.resizeBilinear) and min-max scaled
 * to 0..1 on its own, inside the graph. Building the masked batch in TF.js and copying it over cost more than
 * scoring it. Where the graph only reads the image through its channels-first transpose, the masks multiply
 * the image channels-first: a broadcast over whole rows instead of one per pixel, and no transpose of the
 * batch (the two took a third of Score-CAM's run on MobileNet v1 0.25).
 */
const maskedBatch = ([mh, mw]: number[]): GraphRecipe => ({
  key: `masked:${mh}x${mw}`,
  title: "Score-CAM's masked batches",
  build({ graph, input, inputShape: [h, w, c] }) {
    const start = graph.nodes.length;
    const readers = graph.nodes.filter((node) => node.inputs.includes(input));
    const channelsFirst =
      readers.length > 0 && readers.every((node) => node.op === 'Transpose' && (node.attributes.perm as number[]).join() === '0,3,1,2');
    graph.removeInput(input);
    graph.input(BASE, [h, w, c]);
    graph.input(MAPS, [mh, mw, 1]);
    const nchw = graph.op('Reshape', [MAPS, graph.ints([0, 1, mh, mw])]);
    const sizes = graph.op(
      'Concat',
      [graph.op('Slice', [graph.op('Shape', [MAPS]), graph.ints([0]), graph.ints([1])]), graph.ints([1, h, w])],
      { axis: 0 },
    );
    const empty = graph.floats(new Float32Array(0), [0], 'no_scales');
    const masks = graph.op('Resize', [nchw, '', empty, sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
    const low = reduce(graph, 'ReduceMin', masks, [1, 2, 3], true);
    const high = reduce(graph, 'ReduceMax', masks, [1, 2, 3], true);
    const scaled = graph.op('Div', [graph.op('Sub', [masks, low]), graph.op('Add', [graph.op('Sub', [high, low]), graph.scalar(1e-8)])]);
    if (channelsFirst) {
      const masked = graph.op('Mul', [graph.op('Transpose', [BASE], { perm: [0, 3, 1, 2] }), scaled]);
      for (const reader of readers) Object.assign(reader, { op: 'Identity', inputs: [masked], attributes: {} });
    } else {
      graph.nodes.push({
        op: 'Mul',
        inputs: [BASE, graph.op('Reshape', [scaled, graph.ints([0, h, w, 1])])],
        outputs: [input],
        attributes: {},
      });
    }
    graph.moveToFront(start);
  },
});

/** Each map [b, mh, mw, 1] masking the one image [1, h, w, c], scored in one onnxruntime run: [b, classes]; null where the model has none. */
export function inGraphMaskedScores(model: ModelAdapter, input: Tensor4D, maps: Tensor4D): Tensor2D | null {
  const runs = input.shape[0] === 1 ? model.accelerated() : null;
  return (
    (runs?.run(maskedBatch(maps.shape.slice(1, 3)), { [BASE]: input, [MAPS]: maps }, [SCORES], input)?.[0] as Tensor2D | undefined) ?? null
  );
}

export class ScoreCam extends CamTechnique {
  readonly info = {
    id: 'scorecam',
    title: 'Score-CAM',
    summary: 'Each channel masks the image; the class score of the masked image weighs the channel. No gradients.',
    needsGradients: false,
    needsLayer: true,
    parameters: [
      {
        name: 'channels',
        summary: 'Channels to score, the N with the most varied activations (Faster Score-CAM); 0 = all',
        default: 64,
        min: 0,
        integer: true,
      },
      BATCH_PARAMETER,
    ],
  };

  protected override readonly usesGradients = false;

  protected override channelWeights({ activations }: CamEvidence, request: TechniqueInput): Tensor1D {
    const { input, model, classIndex, parameters } = request;
    const c = activations.shape[3];
    const [, height, width] = input.shape;
    const wanted = Number(parameters.channels);
    const chosen = wanted > 0 && wanted < c ? mostVariedChannels(activations, wanted) : Array.from({ length: c }, (_, k) => k);
    const { distinct, representative } = distinctMaps(activations, chosen);
    const distinctScores = channelBatches(request, distinct, Number(parameters.batch), (channels) => {
      // [1, h, w, b] → [b, h, w, 1] → input size, each mask scaled to 0..1 on its own.
      const maps = tf.transpose(tf.gather(activations, channels, 3), [3, 1, 2, 0]) as Tensor4D;
      const scored = inGraphMaskedScores(model, input, maps);
      if (scored) return scored.slice([0, classIndex], [-1, 1]).reshape([-1]) as Tensor1D;
      const masks = tf.image.resizeBilinear(maps, [height, width], false, true);
      const min = tf.min(masks, [1, 2, 3], true);
      const max = tf.max(masks, [1, 2, 3], true);
      const scaled = masks.sub(min).div(max.sub(min).add(1e-8));
      return model
        .scores(input.mul(scaled) as Tensor4D)
        .slice([0, classIndex], [-1, 1])
        .reshape([-1]) as Tensor1D;
    });
    const scores = tf.gather(distinctScores, representative);
    distinctScores.dispose();
    const weights = tf.softmax(scores);
    return tf.scatterND(tf.tensor2d(chosen, [chosen.length, 1], 'int32'), weights, [c]) as Tensor1D;
  }
}

/**
 * Channels with the same map mask the image the same way and get the same score, so each distinct map is
 * scored once: ReLU layers often have whole channels at 0 (50 of 256 in MobileNet v1 0.25's last block on
 * the snake). Returns the distinct channels and, for each chosen one, the index of its map among them.
 */
function distinctMaps(activations: Tensor4D, chosen: number[]): { distinct: number[]; representative: number[] } {
  const c = activations.shape[3];
  const values = activations.dataSync();
  const seen = new Map<string, number>();
  const distinct: number[] = [];
  const representative = chosen.map((channel) => {
    const map = new Float32Array(values.length / c);
    for (let i = 0; i < map.length; i++) map[i] = values[i * c + channel];
    const key = Buffer.from(map.buffer).toString('base64');
    let index = seen.get(key);
    if (index === undefined) {
      index = distinct.push(channel) - 1;
      seen.set(key, index);
    }
    return index;
  });
  return { distinct, representative };
}

/** The n channels whose activations vary most over the map (Faster Score-CAM's choice). */
function mostVariedChannels(activations: Tensor4D, n: number): number[] {
  return tf.tidy(() => {
    const { variance } = tf.moments(activations, [0, 1, 2]);
    return Array.from(tf.topk(variance, n).indices.dataSync());
  });
}
