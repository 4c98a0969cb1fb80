/**
 * A TF.js layers (or Keras) model on onnxruntime: exportLayers.ts writes the graph; a target is a tensor of
 * the model, or a convolution's / dense layer's part before its activation. Besides what every accelerated
 * model runs (accelerator.ts), the head after a layer (Ablation-CAM's batched passes) runs here too.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Accelerator, INPUT, type ExportedGraph } from './accelerator';

/** The head's input: the activations with one channel zeroed per copy. */
const ABLATED = 'cnn_lens_ablated';
import { LayersExporter, type ExportContext, type ExportStep, type GraphValue } from './exportLayers';
import type { GraphNode, OnnxGraph } from './onnxGraph';

export interface ExportableModel {
  inputId: number;
  /** [height, width, channels] */
  inputShape: number[];
  scoreId: number;
  numClasses: number;
  /** Steps computing `tensorId`, in order. */
  stepsTo(tensorId: number): ExportStep[];
  /** Of `steps`, those that read `tensorId` or what was computed from it, in order. */
  downstreamOf(tensorId: number, steps: ExportStep[]): ExportStep[];
  /** The output tensor of a layer and its shape without the batch. */
  layerTensor(layer: string): { id: number; shape: number[] };
  context: ExportContext;
}

/** A tensor of the model: its value, or for a convolution or dense layer the part before its activation. */
export interface LayersTarget {
  id: number;
  linear: boolean;
}

export class LayersAccelerator extends Accelerator<LayersTarget> {
  constructor(
    private readonly model: ExportableModel,
    log?: (line: string) => void,
  ) {
    super(model.inputShape, model.numClasses, log);
  }

  protected keyOf(target: LayersTarget): string {
    return `${target.id}:${target.linear ? 'linear' : 'value'}`;
  }

  protected exportGraph(targets: ('scores' | LayersTarget)[]): ExportedGraph {
    const exporter = new LayersExporter(this.model.context);
    exporter.addInput(this.model.inputId, INPUT, this.model.inputShape);
    // With the scores among the targets the others must lie on their way (a layer off it: TF.js).
    const last = targets.includes('scores') ? this.model.scoreId : (targets[0] as LayersTarget).id;
    exporter.addSteps(this.model.stepsTo(last));
    const names = this.outputNames(targets);
    const outputs = targets.map((target, i) => {
      const value: GraphValue =
        target === 'scores'
          ? exporter.value(this.model.scoreId)
          : target.linear
            ? exporter.linearValue(target.id)
            : exporter.value(target.id);
      exporter.addOutput(value, names[i], target === 'scores');
      return { name: names[i], native: value.name, perm: value.layout === 'nchw' ? [0, 2, 3, 1] : null };
    });
    return { graph: exporter.graph, outputs };
  }

  /** Scores from replaced activations of `layer` (chains only: a skip connection over the layer stays on TF.js). */
  head(layer: string, activations: Tensor4D): Tensor2D | null {
    const session = this.headSession(layer);
    return session ? ((this.tryRun(session, { activations }, ['scores'])?.[0] as Tensor2D | undefined) ?? null) : null;
  }

  /**
   * Ablation-CAM's batch in one run: the layer's activations [1, h, w, c] with channel `channels[i]` zeroed
   * in copy i, through the head: [b, classes]. The copies are made inside the graph, so only the
   * activations and a [b, c] mask cross over (copying the batch cost more than scoring it).
   */
  ablatedScores(layer: string, activations: Tensor4D, channels: number[]): Tensor2D | null {
    const target = this.model.layerTensor(layer);
    const [h, w, c] = target.shape;
    const session = this.session(`ablate:${layer}`, () => {
      const exporter = new LayersExporter(this.model.context);
      exporter.addInput(target.id, ABLATED, target.shape);
      exporter.addSteps(this.model.downstreamOf(target.id, this.model.stepsTo(this.model.scoreId)));
      exporter.addOutput(this.model.scoreId, 'scores', true);
      const { graph } = exporter;
      graph.removeInput(ABLATED);
      graph.input('activations', [h, w, c]);
      graph.input('keep', [c]);
      const pool = poolingFirst(graph);
      const start = graph.nodes.length;
      if (pool) {
        // The head pools first: zeroing a channel commutes with averaging it, exactly (a mask of 0s and 1s),
        // so the image's activations are pooled once and the copies made of the pooled vector.
        const keep = graph.op('Reshape', ['keep', graph.ints([-1, c, 1, 1])]);
        graph.moveToFront(start);
        for (const node of graph.nodes) node.inputs = node.inputs.map((name) => (name === ABLATED ? 'activations' : name));
        const pooled = pool.outputs[0];
        pool.outputs = [`${pooled}_once`];
        graph.nodes.splice(graph.nodes.indexOf(pool) + 1, 0, {
          op: 'Mul',
          inputs: [pool.outputs[0], keep],
          outputs: [pooled],
          attributes: {},
        });
      } else {
        graph.nodes.push({
          op: 'Mul',
          inputs: ['activations', graph.op('Reshape', ['keep', graph.ints([-1, 1, 1, c])])],
          outputs: [ABLATED],
          attributes: {},
        });
        graph.moveToFront(start);
      }
      return { graph, outputs: [] };
    });
    if (!session) return null;
    const keep = new Float32Array(channels.length * c).fill(1);
    channels.forEach((channel, i) => (keep[i * c + channel] = 0));
    return (
      (this.tryRun(session, { activations, keep: { data: keep, dims: [channels.length, c] } }, ['scores'])?.[0] as Tensor2D | undefined) ??
      null
    );
  }

  /** Whether the head after `layer` runs here (exporting it if not yet done). */
  hasHead(layer: string): boolean {
    return this.headSession(layer) !== null;
  }

  private headSession(layer: string) {
    return this.session(`head:${layer}`, () => {
      const exporter = new LayersExporter(this.model.context);
      const target = this.model.layerTensor(layer);
      exporter.addInput(target.id, 'activations', target.shape);
      exporter.addSteps(this.model.downstreamOf(target.id, this.model.stepsTo(this.model.scoreId)));
      exporter.addOutput(this.model.scoreId, 'scores', true);
      return { graph: exporter.graph, outputs: [] };
    });
  }
}

/** The head's global average pooling when it reads the ablated activations first and alone (through their transpose). */
function poolingFirst(graph: OnnxGraph): GraphNode | null {
  const readersOf = (name: string) => graph.nodes.filter((node) => node.inputs.includes(name));
  const readers = readersOf(ABLATED);
  if (readers.length !== 1) return null;
  const [first] = readers;
  const next = first.op === 'Transpose' && (first.attributes.perm as number[]).join() === '0,3,1,2' ? readersOf(first.outputs[0]) : [first];
  return next.length === 1 && next[0].op === 'GlobalAveragePool' && first.op === 'Transpose' ? next[0] : null;
}
