/**
 * A TF.js graph model on onnxruntime: exportGraphModel.ts writes the graph from the image to the asked-for
 * nodes; a target is a node, by name. Everything else (sessions, gradients, Score-CAM's masked batch) is
 * the shared accelerator's.
 */
import type { Acceleration } from '../../accel/ortRuntime';
import { Accelerator, INPUT, type ExportedGraph } from '../../accel/accelerator';
import { GraphModelExporter, type GraphExportSource } from './exportGraphModel';

export class GraphModelAccelerator extends Accelerator<string> {
  constructor(
    private readonly source: GraphExportSource,
    private readonly scoreNode: string,
    numClasses: number,
    acceleration: Acceleration,
  ) {
    super(source.inputShape, numClasses, acceleration);
  }

  protected keyOf(target: string): string {
    return target;
  }

  protected exportGraph(targets: ('scores' | string)[]): ExportedGraph {
    const exporter = new GraphModelExporter(this.source, INPUT);
    const names = this.outputNames(targets);
    const outputs = targets.map((target, i) => {
      const value = exporter.value(target === 'scores' ? this.scoreNode : target);
      exporter.addOutput(value, names[i], target === 'scores');
      return { name: names[i], native: value.name, perm: value.layout === 'nchw' ? [0, 2, 3, 1] : null };
    });
    return { graph: exporter.graph, outputs };
  }
}
