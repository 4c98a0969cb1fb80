/**
 * A TF.js layers (or Keras) model on onnxruntime: exportLayers.ts writes the graph; a target is a tensor of
 * the model, or a convolution's / dense layer's part before its activation. Besides what every accelerated
 * model runs (accelerator.ts), the graph can start at a layer: the head after it, for Ablation-CAM's copies
 * and for replacing a layer's activations.
 */
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Accelerator, INPUT, type ExportedGraph } from '../../accel/accelerator';
import { LayersExporter, type ExportContext, type ExportStep, type GraphValue } from './exportLayers';
import type { OnnxGraph } from '../../accel/onnxGraph';
import type { Acceleration } from '../../accel/ortRuntime';
import { SCORES } from '../../accel/recipes';

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
  protected override readonly cutsAtLayers = true;

  constructor(
    private readonly model: ExportableModel,
    acceleration: Acceleration,
  ) {
    super(model.inputShape, model.numClasses, acceleration);
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
    return session ? ((this.tryRun(session, { activations }, [SCORES])?.[0] as Tensor2D | undefined) ?? null) : null;
  }

  protected override exportFrom(layer: string, input: string): { graph: OnnxGraph; inputShape: number[]; scores: string } {
    const target = this.model.layerTensor(layer);
    const exporter = new LayersExporter(this.model.context);
    exporter.addInput(target.id, input, target.shape);
    exporter.addSteps(this.model.downstreamOf(target.id, this.model.stepsTo(this.model.scoreId)));
    exporter.addOutput(this.model.scoreId, SCORES, true);
    return { graph: exporter.graph, inputShape: target.shape, scores: SCORES };
  }

  /** Whether the head after `layer` runs here (exporting it if not yet done). */
  hasHead(layer: string): boolean {
    return this.headSession(layer) !== null;
  }

  private headSession(layer: string) {
    return this.session(`head:${layer}`, () => ({ graph: this.exportFrom(layer, 'activations').graph, outputs: [] }));
  }
}
