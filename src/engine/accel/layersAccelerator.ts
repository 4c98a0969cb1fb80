/**
 * A layers model's forward passes and input/activation gradients on onnxruntime: each kind of run is
 * exported once (scores; the head after a layer; the input gradient under a ReLU rule; a layer's
 * activations with their gradient) and kept as a session until the weights change. Every method returns
 * null when it cannot run here (no runtime, a layer or op without an export or gradient rule): the
 * caller then runs on TF.js, so results never depend on whether onnxruntime is installed.
 */
import type { Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { ReluRule } from '../models/reluRules';
import { tf } from '../tf';
import { LayersExporter, UnsupportedLayerError, type ExportContext, type ExportStep } from './exportLayers';
import { addGradients } from './gradientGraph';
import { accelerationLog, ortRuntime, type OrtArray, type OrtSession } from './ortRuntime';

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

const INPUT = 'input';
/**
 * Sessions kept at once (least recently used go first): each holds a copy of the weights, and every target
 * layer a user tries adds one or two (its gradient, Ablation-CAM's head).
 */
export const MAX_SESSIONS = 8;
const SEED = 'seed';
const OUTPUT = 'output';
const GRADIENT = 'gradient';

/** The class scores, or a tensor of the model: its value, or for a convolution or dense layer the part before its activation. */
export type Target = 'scores' | { id: number; linear: boolean };

export class LayersAccelerator {
  private readonly sessions = new Map<string, OrtSession | null>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly model: ExportableModel,
    private readonly log: (line: string) => void = accelerationLog,
  ) {}

  /** Class scores [batch, classes] (logits where the model has them). */
  scores(input: Tensor4D): Tensor2D | null {
    return this.output(input, 'scores', null, false) as Tensor2D | null;
  }

  /**
   * A tensor of the model (the scores, or a layer's output, or its part before the activation) for the
   * batch. `differentiable`: an op whose gradient w.r.t. the input (under the ReLU rule) onnxruntime
   * computes too, so it composes with any TF.js objective around it (activation maximisation, deep dream).
   * Null for an input of another size than the model's (exported shapes are fixed) or anything not exported.
   */
  output(input: Tensor4D, target: Target, rule: ReluRule | null, differentiable: boolean): Tensor | null {
    if (input.shape.slice(1).join() !== this.model.inputShape.join()) return null;
    const key = target === 'scores' ? 'scores' : `out:${target.id}:${target.linear ? 'linear' : 'value'}`;
    const forward = this.session(key, (exporter) => this.exportTo(exporter, target));
    if (!forward) return null;
    if (!differentiable) return this.run(forward, { [INPUT]: input }, [OUTPUT])[0];
    const backward = this.vectorJacobian(target, rule);
    if (!backward) return null;
    const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const [x, save] = args as [Tensor4D, tf.GradSaveFunc];
      save([x]);
      return {
        value: this.run(forward, { [INPUT]: x }, [OUTPUT])[0],
        gradFunc: (dy: Tensor | Tensor[], [saved]: Tensor[]) => this.run(backward, { [INPUT]: saved, [SEED]: dy as Tensor }, [GRADIENT])[0],
      };
    });
    return op(input);
  }

  /** A session taking the input and a seed shaped like the target, giving Σ seed · d target / d input. */
  private vectorJacobian(target: Target, rule: ReluRule | null): OrtSession | null {
    const key = target === 'scores' ? 'scores' : `${target.id}:${target.linear ? 'linear' : 'value'}`;
    return this.session(`gradient:${key}:${rule ?? 'stock'}`, (exporter) => {
      const output = this.exportTo(exporter, target);
      const { graph } = exporter;
      graph.input(SEED, graph.shapeOf(output));
      const [gradient] = addGradients(graph, output, SEED, [INPUT], rule);
      graph.nodes.push({ op: 'Identity', inputs: [gradient], outputs: [GRADIENT], attributes: {} });
      graph.output(GRADIENT);
    });
  }

  /** Exports the steps from the input to the target and names the target OUTPUT (TF.js's layout). */
  private exportTo(exporter: LayersExporter, target: Target): string {
    exporter.addInput(this.model.inputId, INPUT, this.model.inputShape);
    if (target === 'scores') {
      exporter.addSteps(this.model.stepsTo(this.model.scoreId));
      return exporter.addOutput(this.model.scoreId, OUTPUT, true);
    }
    exporter.addSteps(this.model.stepsTo(target.id));
    return exporter.addOutput(target.linear ? exporter.linearValue(target.id) : exporter.value(target.id), OUTPUT);
  }

  /** Scores from replaced activations of `layer` (the rest of the input held fixed is not needed: chains only). */
  head(layer: string, activations: Tensor4D): Tensor2D | null {
    const session = this.session(`head:${layer}`, (exporter) => {
      const target = this.model.layerTensor(layer);
      const downstream = this.model.downstreamOf(target.id, this.model.stepsTo(this.model.scoreId));
      exporter.addInput(target.id, 'activations', target.shape);
      // A step needing a tensor from before the target (a skip connection over it) fails here: TF.js runs it.
      exporter.addSteps(downstream);
      exporter.addOutput(this.model.scoreId, 'scores', true);
    });
    return session ? (this.run(session, { activations }, ['scores'])[0] as Tensor2D) : null;
  }

  /** d score[classIndex] / d input for each image, under the ReLU rule if any (one run: a one-hot seed). */
  inputGradient(input: Tensor4D, classIndex: number, rule: ReluRule | null): Tensor4D | null {
    if (input.shape.slice(1).join() !== this.model.inputShape.join()) return null;
    const session = this.vectorJacobian('scores', rule);
    if (!session) return null;
    return this.run(session, { [INPUT]: input, [SEED]: this.oneHot(input.shape[0], classIndex) }, [GRADIENT])[0] as Tensor4D;
  }

  /** The activations of `layer` and d score[classIndex] / d activations, from one run. */
  layerGradient(input: Tensor4D, layer: string, classIndex: number): { activations: Tensor4D; gradients: Tensor4D } | null {
    const session = this.session(`layer:${layer}`, (exporter) => {
      const target = this.model.layerTensor(layer);
      exporter.addInput(this.model.inputId, INPUT, this.model.inputShape);
      exporter.addSteps(this.model.stepsTo(this.model.scoreId));
      const scores = exporter.addOutput(this.model.scoreId, 'scores', true);
      const value = exporter.value(target.id);
      exporter.addOutput(target.id, 'activations');
      const { graph } = exporter;
      graph.input(SEED, [this.model.numClasses]);
      let [gradient] = addGradients(graph, scores, SEED, [value.name]);
      if (value.layout === 'nchw') gradient = graph.op('Transpose', [gradient], { perm: [0, 2, 3, 1] });
      graph.nodes.push({ op: 'Identity', inputs: [gradient], outputs: ['gradient'], attributes: {} });
      graph.output('gradient');
    });
    if (!session) return null;
    const [activations, gradients] = this.run(session, { [INPUT]: input, [SEED]: this.oneHot(input.shape[0], classIndex) }, ['activations', 'gradient']);
    if (activations.rank !== 4) {
      tf.dispose([activations, gradients]);
      return null;
    }
    return { activations: activations as Tensor4D, gradients: gradients as Tensor4D };
  }

  /** The weights changed (the randomisation check): every session is exported again when next needed. */
  invalidate(): void {
    for (const session of this.sessions.values()) session?.dispose();
    this.sessions.clear();
  }

  dispose(): void {
    this.invalidate();
  }

  private oneHot(batch: number, classIndex: number): OrtArray {
    const seed = new Float32Array(batch * this.model.numClasses);
    for (let i = 0; i < batch; i++) seed[i * this.model.numClasses + classIndex] = 1;
    return { data: seed, dims: [batch, this.model.numClasses] };
  }

  private session(key: string, build: (exporter: LayersExporter) => void): OrtSession | null {
    const { runtime } = ortRuntime();
    if (!runtime) return null;
    if (this.sessions.has(key)) {
      const cached = this.sessions.get(key)!;
      // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
      this.sessions.delete(key);
      this.sessions.set(key, cached);
      return cached;
    }
    if (this.sessions.size >= MAX_SESSIONS) {
      const [oldest, session] = this.sessions.entries().next().value!;
      session?.dispose();
      this.sessions.delete(oldest);
    }
    let session: OrtSession | null = null;
    try {
      const exporter = new LayersExporter(this.model.context);
      build(exporter);
      session = runtime.session(exporter.graph.encode());
    } catch (error) {
      // Unsupported layers are expected; anything else (ORT refusing the graph) is logged the same way.
      const reason = error instanceof UnsupportedLayerError ? error.message : `export failed: ${String(error).split('\n')[0]}`;
      this.report(key, reason);
    }
    this.sessions.set(key, session);
    return session;
  }

  private report(key: string, reason: string): void {
    const kind = key.split(':')[0];
    if (this.reported.has(kind)) return;
    this.reported.add(kind);
    const what: Record<string, string> = { scores: 'the scores', out: 'reading layers', gradient: 'the gradient', head: 'the head after a layer', layer: 'the layer gradient' };
    this.log(`onnxruntime: TF.js computes ${what[kind] ?? kind} for this model (${reason}).`);
  }

  private run(session: OrtSession, feeds: Record<string, Tensor | OrtArray>, outputs: string[]): Tensor[] {
    const arrays: Record<string, OrtArray> = {};
    for (const [name, value] of Object.entries(feeds)) arrays[name] = value instanceof tf.Tensor ? { data: value.dataSync() as Float32Array, dims: value.shape } : value;
    const results = session.run(arrays, outputs);
    return outputs.map((name) => tf.tensor(results[name].data, results[name].dims));
  }
}
