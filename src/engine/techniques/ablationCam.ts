/**
 * Ablation-CAM: Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional Network via
 * Gradient-free Localization", WACV 2020. A channel's weight is the relative drop of the class score when
 * that channel alone is zeroed: (y − y_k) / y. Batched: one copy of the activations per ablated channel; at
 * the layer a linear head pools, the drop is read off the head's weights instead (the same numbers).
 */
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { GraphNode, OnnxGraph } from '../accel/onnxGraph';
import { SCORES, type GraphRecipe } from '../accel/recipes';
import type { ModelAdapter } from '../models/adapter';
import { tf } from '../tfjs/tf';
import { CamTechnique, type CamEvidence, type TechniqueInput } from './base';
import { BATCH_PARAMETER, channelBatches } from './perturbation';

const ACTIVATIONS = 'activations';
const KEEP = 'keep';

/**
 * The ablated copies scored in one onnxruntime run, through the layers after `layer` (formats that can cut
 * there): ACTIVATIONS [1, h, w, c] with channel k zeroed in copy i where KEEP [b, c] holds 0. The copies are
 * made inside the graph, so only the activations and the mask cross over (copying the batch cost more than
 * scoring it).
 */
const ablatedCopies = (layer: string): GraphRecipe => ({
  key: 'ablate',
  title: "Ablation-CAM's copies",
  from: layer,
  build({ graph, input, inputShape: [h, w, c] }) {
    graph.removeInput(input);
    graph.input(ACTIVATIONS, [h, w, c]);
    graph.input(KEEP, [c]);
    const pool = poolingFirst(graph, input);
    const start = graph.nodes.length;
    if (pool) {
      // The head pools first: zeroing a channel commutes with averaging it, exactly (a mask of 0s and 1s),
      // so the image's activations are pooled once and the copies made of the pooled vector.
      const keep = graph.op('Reshape', [KEEP, graph.ints([-1, c, 1, 1])]);
      graph.moveToFront(start);
      for (const node of graph.nodes) node.inputs = node.inputs.map((name) => (name === input ? ACTIVATIONS : name));
      const pooled = pool.outputs[0];
      pool.outputs = [`${pooled}_once`];
      graph.nodes.splice(graph.nodes.indexOf(pool) + 1, 0, {
        op: 'Mul',
        inputs: [pool.outputs[0], keep],
        outputs: [pooled],
        attributes: {},
      });
    } else {
      const keep = graph.op('Reshape', [KEEP, graph.ints([-1, 1, 1, c])]);
      graph.nodes.push({ op: 'Mul', inputs: [ACTIVATIONS, keep], outputs: [input], attributes: {} });
      graph.moveToFront(start);
    }
  },
});

/** The head's global average pooling when it reads the ablated activations first and alone (through their transpose). */
function poolingFirst(graph: OnnxGraph, input: string): GraphNode | null {
  const readersOf = (name: string) => graph.nodes.filter((node) => node.inputs.includes(name));
  const readers = readersOf(input);
  if (readers.length !== 1) return null;
  const [first] = readers;
  const next = first.op === 'Transpose' && (first.attributes.perm as number[]).join() === '0,3,1,2' ? readersOf(first.outputs[0]) : [first];
  return next.length === 1 && next[0].op === 'GlobalAveragePool' && first.op === 'Transpose' ? next[0] : null;
}

/** Scores [b, classes] of `layer`'s activations [1, h, w, c] with channels[i] zeroed in copy i, from one onnxruntime run; null where the model has none. */
export function inGraphAblatedScores(model: ModelAdapter, layer: string, activations: Tensor4D, channels: number[]): Tensor2D | null {
  const runs = model.accelerated();
  if (!runs) return null;
  const c = activations.shape[3];
  const mask = new Float32Array(channels.length * c).fill(1);
  channels.forEach((channel, i) => (mask[i * c + channel] = 0));
  const feeds = { [ACTIVATIONS]: activations, [KEEP]: { data: mask, dims: [channels.length, c] } };
  return (runs.run(ablatedCopies(layer), feeds, [SCORES])?.[0] as Tensor2D | undefined) ?? null;
}

export class AblationCam extends CamTechnique {
  readonly info = {
    id: 'ablationcam',
    title: 'Ablation-CAM',
    summary: 'How much the class score drops when each channel is zeroed weighs that channel. No gradients.',
    needsGradients: false,
    needsLayer: true,
    parameters: [BATCH_PARAMETER],
  };

  protected override readonly usesGradients = false;

  protected override channelWeights({ activations, head }: CamEvidence, request: TechniqueInput): Tensor1D {
    const { classIndex, parameters } = request;
    const c = activations.shape[3];
    const original = head(activations).slice([0, classIndex], [1, 1]).reshape([]);
    // Guard a zero score without flipping its sign.
    const denominator = tf.where(tf.greaterEqual(original, 0), tf.maximum(original, 1e-7), tf.minimum(original, -1e-7));
    const gap = request.model.gapHead();
    if (gap?.layer === request.layer) {
      // The layer feeds a pooled linear head: zeroing channel k lowers the score by exactly W[k, class] ·
      // mean(A_k), which is what its ablated copy would score — no copies to run (MobileNet: 768 of them).
      const column = gap.weights.slice([0, classIndex], [-1, 1]).reshape([c]);
      return tf.mean(activations, [0, 1, 2]).mul(column).div(denominator) as Tensor1D;
    }
    const channels = Array.from({ length: c }, (_, k) => k);
    // The copies run through the layers after this one only (the head), so those bound the batch.
    const { layers } = request.model;
    const after = layers.slice(layers.findIndex((layer) => layer.name === request.layer) + 1);
    const score = (chunk: number[]) => {
      const scored = inGraphAblatedScores(request.model, request.layer, activations, chunk);
      if (scored) return scored.slice([0, classIndex], [-1, 1]).reshape([-1]) as Tensor1D;
      const keep = tf.sub(1, tf.oneHot(tf.tensor1d(chunk, 'int32'), c)).reshape([chunk.length, 1, 1, c]);
      return head(activations.mul(keep) as Tensor4D)
        .slice([0, classIndex], [-1, 1])
        .reshape([-1]) as Tensor1D;
    };
    const ablated = channelBatches(request, channels, Number(parameters.batch), score, after.length ? after : layers);
    return original.sub(ablated).div(denominator) as Tensor1D;
  }
}
