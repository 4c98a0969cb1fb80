/**
 * TF.js graph models (converted SavedModels / TF-Hub modules). Any node can be a target: a graph
 * model can be fed at an intermediate node (`execute({[node]: activation}, output)`), which gives
 * Grad-CAM its head. Gradients go through tfjs's own op gradients, several of which need kernels
 * the wasm backend lacks, so the engine runs gradient techniques for graph models on the cpu backend.
 */
import type { Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { Acceleration } from '../../accel/ortRuntime';
import type { AcceleratedRuns } from '../../accel/recipes';
import type { TfNode } from './exportGraphModel';
import { UnsupportedLayerError } from '../../accel/layoutWriter';
import { GraphModelAccelerator } from './graphModelAccelerator';
import { recordingGradients, tf } from '../../tfjs/tf';
import type { LayerInfo } from '../../types';
import { isCamCapableShape, type GapHead, type ModelAdapter, type SplitModel } from '../adapter';
import { tfc } from '../../tfjs/tf';
import type { ModelFiles } from '../../../files/modelFiles';
import { checkImageInput, chooseOutput, classCountOf, loadError, type AdapterOptions } from '../outputCheck';
import { checkGraphArtifacts } from '../topologyCheck';
import { firstNonFinite } from '../../finite';

/**
 * Builds a TF.js graph model.json's adapter, after the checks tfjs does not make (topologyCheck.ts).
 * TODO(merge): loadModel's TFJS_ADAPTERS.graph should call this, with { file, output } from cnnlens.json.
 */
export async function loadGraphAdapter(files: ModelFiles, acceleration: Acceleration, options: AdapterOptions = {}): Promise<GraphAdapter> {
  const file = options.file ?? files.modelJsonPath;
  checkGraphArtifacts(files.artifacts, file);
  const model = await tfc.loadGraphModel(tf.io.fromMemory(files.artifacts));
  const nodes = (files.artifacts.modelTopology as { node: TfNode[] }).node;
  try {
    return new GraphAdapter(model, nodes, acceleration, { ...options, file });
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** A probed shape (batch of one) with its batch axis shown open, as the model declares it. */
const batchOpen = (shape: number[]): (number | null)[] => (shape.length >= 2 ? [null, ...shape.slice(1)] : shape);

const RECTIFIER_OPS = new Set(['Relu', 'Relu6', 'LeakyRelu']);

/** Bookkeeping ops that are not worth listing as layers. */
const HIDDEN_OPS = new Set(['Const', 'Placeholder', 'Identity', 'NoOp', 'Shape', 'StridedSlice', 'Pack', 'Squeeze']);

/** Ops without an output worth a shape (the export reads constants from the weights instead). */
const UNPROBED_OPS = new Set(['Const', 'Placeholder', 'NoOp']);

export class GraphAdapter implements ModelAdapter {
  readonly format = 'graph' as const;
  /**
   * tfjs's op gradients lack wasm kernels, so gradient techniques move to the cpu backend, unless
   * onnxruntime computes every gradient this model needs.
   */
  get gradientsOnWasm(): boolean {
    return this.accelerator.differentiates();
  }

  gradientsOnWasmAt(layer: string, of: 'scores' | 'activations'): boolean {
    return of === 'scores' ? this.accelerator.layerDifferentiates(layer) : this.accelerator.differentiates(layer);
  }

  readonly supportsReluRules = false;
  readonly hasLogits: boolean;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly layers: LayerInfo[];
  private readonly inputName: string;
  private readonly scoreNode: string;

  private readonly nodeInputs: Map<string, string[]>;
  private readonly accelerator: GraphModelAccelerator;
  private readonly runs: AcceleratedRuns;

  constructor(
    private readonly model: GraphModel,
    nodes: TfNode[],
    acceleration: Acceleration,
    options: AdapterOptions = {},
  ) {
    if (model.inputs.length !== 1)
      throw new Error(`The graph has ${model.inputs.length} inputs; CNN Lens explains single-input image models.`);
    const input = model.inputs[0];
    const shape = input.shape ?? [];
    const [, h, w, c] = shape;
    if (shape.length !== 4 || !(h > 0) || !(w > 0) || !(c > 0)) {
      throw new Error(
        `The graph's input "${input.name}" has shape ${JSON.stringify(shape)}; CNN Lens needs a fixed [batch, height, width, channels] input.`,
      );
    }
    this.inputShape = checkImageInput([h, w, c], `the graph's input "${input.name}"`, options.file);
    this.inputName = input.name;
    const byName = new Map(nodes.map((node) => [node.name, node]));
    this.nodeInputs = new Map(nodes.map((node) => [node.name, (node.input ?? []).map((name) => name.replace(/:\d+$/, ''))]));
    const weights = this.model.weights as Record<string, Tensor[]>;
    const named = Object.entries(weights).flatMap(([name, tensors]) => tensors.map((tensor) => ({ name, tensor })));
    const bad = firstNonFinite(named.map(({ tensor }) => tensor));
    if (bad) {
      throw loadError(
        options.file,
        `weight "${named[bad.index].name}" holds ${bad.what}; a model with NaN or infinite weights gives meaningless scores, so CNN Lens does not load it.`,
      );
    }
    // Several outputs and no choice: refused, with every output's shape (one run of a zero image).
    const outputNames = model.outputs.map((output) => output.name);
    const outputInfos = (shapes?: Map<string, number[]>) =>
      outputNames.map((name) => ({ name: name.replace(/:0$/, ''), shape: shapes ? batchOpen(shapes.get(name) ?? []) : [] }));
    const chosen = chooseOutput(
      outputNames.length > 1 && options.output === undefined ? outputInfos(this.probeShapes(outputNames)) : outputInfos(),
      options,
    );
    const outputName = model.outputs[chosen].name.replace(/:\d+$/, '');
    const outputNode = byName.get(outputName);
    // Score with logits: step back over a trailing Softmax.
    this.scoreNode = outputNode?.op === 'Softmax' && outputNode.input?.[0] ? outputNode.input[0].replace(/:\d+$/, '') : outputName;
    // Scores step back over a trailing Softmax, so they are logits unless the graph ends in a Sigmoid.
    this.hasLogits = outputNode?.op !== 'Sigmoid';

    const listed = nodes.filter((node) => !HIDDEN_OPS.has(node.op) && node.name !== this.inputName);
    // Every node's shape, for the export; the listed ones alone where some node cannot be fetched.
    let shapes: Map<string, number[]>;
    try {
      shapes = this.probeShapes(nodes.filter((node) => !UNPROBED_OPS.has(node.op)).map((node) => node.name));
    } catch {
      shapes = this.probeShapes(listed.map((node) => node.name));
    }
    const constShapes = this.constShapes(nodes);
    const constOf = (input: string) => constShapes.get(input.replace(/:\d+$/, ''));
    this.layers = listed
      .filter((node) => shapes.has(node.name))
      .map((node) => {
        const outputShape = (shapes.get(node.name) ?? []).slice(1);
        const params = (node.input ?? []).reduce((sum, name) => sum + (constOf(name)?.reduce((a, b) => a * b, 1) ?? 0), 0);
        const hasKernel = (node.input ?? []).some((name) => constOf(name)?.length === 4);
        return { name: node.name, kind: node.op, outputShape, params, camCapable: isCamCapableShape(outputShape), hasKernel };
      });
    const scores = shapes.get(this.scoreNode);
    if (!scores) throw loadError(options.file, `could not read the class count from node "${this.scoreNode}".`);
    this.numClasses = classCountOf({ name: outputName, shape: batchOpen(scores) }, options, outputNames.length);
    this.accelerator = new GraphModelAccelerator(
      {
        nodes: byName,
        inputName: this.inputName,
        inputShape: this.inputShape,
        constant: (name) => {
          const tensor = byName.get(name)?.op === 'Const' ? weights[name]?.[0] : undefined;
          return tensor && (tensor.dtype === 'float32' || tensor.dtype === 'int32')
            ? { data: tensor.dataSync() as Float32Array | Int32Array, shape: tensor.shape }
            : null;
        },
        shapeOf: (name) => {
          const shape = shapes.get(name);
          if (!shape) throw new UnsupportedLayerError(`no shape for node "${name}"`);
          return shape.slice(1);
        },
      },
      this.scoreNode,
      this.numClasses,
      acceleration,
    );
    this.runs = this.accelerator.runs((layer) => {
      if (!this.layers.some((info) => info.name === layer)) throw new Error(`The graph has no node named "${layer}".`);
      return layer;
    });
  }

  /** Output shapes are not stored in graph models: run one zero image and read them. */
  private probeShapes(names: string[]): Map<string, number[]> {
    const shapes = new Map<string, number[]>();
    tf.tidy(() => {
      const zeros = tf.zeros([1, ...this.inputShape]);
      const wanted = Array.from(new Set(this.scoreNode ? [...names, this.scoreNode] : names));
      const outputs = this.model.execute({ [this.inputName]: zeros }, wanted) as Tensor[];
      wanted.forEach((name, i) => shapes.set(name, outputs[i].shape));
    });
    return shapes;
  }

  private constShapes(nodes: TfNode[]): Map<string, number[]> {
    const shapes = new Map<string, number[]>();
    const weights = (this.model as unknown as { weights: Record<string, Tensor[]> }).weights ?? {};
    for (const node of nodes) {
      if (node.op === 'Const' && weights[node.name]) shapes.set(node.name, weights[node.name][0].shape);
    }
    return shapes;
  }

  scores(input: Tensor4D): Tensor2D {
    const fast = this.accelerator.output(input, 'scores', null, recordingGradients());
    if (fast) return fast as Tensor2D;
    return tf.tidy(() => {
      const out = this.model.execute({ [this.inputName]: input }, this.scoreNode) as Tensor;
      return out.reshape([input.shape[0], -1]) as Tensor2D;
    });
  }

  layerOutput(input: Tensor4D, layer: string, _rule: unknown = null, beforeRectifier = false): Tensor4D {
    const info = this.layers.find((l) => l.name === layer);
    if (!info) throw new Error(`The graph has no node named "${layer}".`);
    const node = beforeRectifier && RECTIFIER_OPS.has(info.kind) ? (this.nodeInputs.get(layer)?.[0] ?? layer) : layer;
    const output =
      this.accelerator.output(input, node, null, recordingGradients()) ?? (this.model.execute({ [this.inputName]: input }, node) as Tensor);
    if (output.rank !== 4) {
      output.dispose();
      throw new Error(`Node "${layer}" has a ${output.rank}-D output; a spatial (4-D) node is needed.`);
    }
    return output as Tensor4D;
  }

  split(input: Tensor4D, layer: string): SplitModel {
    if (!this.layers.some((info) => info.name === layer)) throw new Error(`The graph has no node named "${layer}".`);
    const fast = recordingGradients() ? null : this.accelerator.outputs(input, [layer, 'scores']);
    const [activations, scores] = fast ?? (this.model.execute({ [this.inputName]: input }, [layer, this.scoreNode]) as Tensor[]);
    if (activations.rank !== 4) {
      tf.dispose([activations, scores]);
      throw new Error(`Node "${layer}" has a ${activations.rank}-D output; a spatial (4-D) node is needed.`);
    }
    const head = (replaced: Tensor4D): Tensor2D => {
      // The input stays fed so that branches which bypass the node still see the image.
      const out = this.model.execute({ [this.inputName]: input, [layer]: replaced }, this.scoreNode) as Tensor;
      return out.reshape([replaced.shape[0], -1]) as Tensor2D;
    };
    return { activations: activations as Tensor4D, scores: scores.reshape([input.shape[0], -1]) as Tensor2D, head };
  }

  accelerated(): AcceleratedRuns | null {
    return recordingGradients() ? null : this.runs;
  }

  gapHead(): GapHead | null {
    // Graph heads are op soups (AvgPool → Conv2D → Squeeze …); CAM is offered for layers models.
    return null;
  }

  weightedLayers(): string[] {
    return [];
  }

  layerWeights(layer: string): Tensor[] {
    const weights = this.model.weights as Record<string, Tensor[]>;
    return (this.nodeInputs.get(layer) ?? []).flatMap((name) => weights[name] ?? []);
  }

  withRandomWeights<T>(): Promise<T> {
    return Promise.reject(
      new Error('The weight-randomisation check needs a TF.js layers model; graph models keep their weights as constants.'),
    );
  }

  firstNonFiniteLayer(input: Tensor4D): string | null {
    let found: string | null = null;
    tf.tidy(() => {
      const names = this.layers.map((layer) => layer.name);
      const outputs = this.model.execute({ [this.inputName]: input }, names) as Tensor[];
      const bad = firstNonFinite(outputs);
      found = bad ? names[bad.index] : null;
    });
    return found;
  }

  ownedTensors(): Tensor[] {
    return Object.values(this.model.weights).flat();
  }

  dispose(): void {
    this.accelerator.dispose();
    this.model.dispose();
  }
}
