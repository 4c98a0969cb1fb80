/**
 * What every accelerated model shares: a model exported to ONNX runs its forward passes, input gradients,
 * a layer's gradients and techniques' graph recipes (recipes.ts) on onnxruntime. Each kind of run is exported once (its graph from the image to the
 * target, plus a backward pass where one is asked for) and kept as a session until the weights change.
 * Every method returns null when it cannot run here (no runtime, a layer or op without an export or gradient
 * rule, an input of another size than the export's): the caller then runs on TF.js, so results never
 * depend on whether onnxruntime is installed. Subclasses say how to write the graph (layersAccelerator.ts
 * with exportLayers.ts for TF.js layers models, graphModelAccelerator.ts with exportGraphModel.ts for graph
 * models, onnxFileAccelerator.ts for ONNX files).
 */
import type { Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { ReluRule } from '../models/reluRules';
import { tf } from '../tfjs/tf';
import { UnsupportedLayerError } from './layoutWriter';
import { addGradients } from './gradientGraph';
import type { OnnxGraph } from './onnxGraph';
import type { Acceleration, OrtArray, OrtSession } from './ortRuntime';
import { ACTIVATIONS, IMAGE, oneHot, type AcceleratedRuns, type GraphRecipe } from './recipes';

/** Graph input holding the image batch, channels-last as TF.js feeds it. */
export const INPUT = IMAGE;
const SEED = 'cnn_lens_seed';
const GRADIENT = 'cnn_lens_gradient';
const FROM = ACTIVATIONS;

/**
 * Sessions kept at once (least recently used go first): each holds a copy of the weights, and every target
 * layer a user tries adds one or two (its gradient, Ablation-CAM's head).
 */
export const MAX_SESSIONS = 8;

/** A graph from INPUT to its targets: output i is named `outputs[i].name` (TF.js's layout, scores flattened). */
export interface ExportedGraph {
  graph: OnnxGraph;
  outputs: {
    name: string;
    /** The target's own tensor (for gradients w.r.t. it). */ native: string;
    /** Transposes `native`'s layout to TF.js's, if needed. */ perm: number[] | null;
    /** Writes the nodes reading a tensor laid out as `native` in TF.js's layout, where a transpose is not enough (token sequences). */
    readout?: (graph: OnnxGraph, tensor: string) => string;
  }[];
}

export abstract class Accelerator<T> {
  private readonly sessions = new Map<string, OrtSession | null>();
  private readonly reported = new Set<string>();

  /** Titles of the recipes run so far, by session kind, for the log. */
  private readonly titles = new Map<string, string>();

  constructor(
    private readonly inputShape: readonly number[],
    private readonly numClasses: number,
    private readonly acceleration: Acceleration,
  ) {}

  /** Writes the graph from INPUT to the targets; throws UnsupportedLayerError for what it cannot write. */
  protected abstract exportGraph(targets: ('scores' | T)[]): ExportedGraph;

  /** Whether exportFrom can cut the graph at a layer; where not, recipes with `from` run on TF.js. */
  protected readonly cutsAtLayers: boolean = false;

  /** The graph from a layer's activations (channels-last, as the graph input `input`) to the scores. */
  protected exportFrom(layer: string, input: string): { graph: OnnxGraph; inputShape: number[]; scores: string } {
    throw new UnsupportedLayerError(`this format does not start a graph at layer ${layer} (${input})`);
  }

  /** A short, unique key for a target (session names). */
  protected abstract keyOf(target: T): string;

  /** Class scores [batch, classes] (logits where the model has them). */
  scores(input: Tensor4D): Tensor2D | null {
    return this.output(input, 'scores', null, false) as Tensor2D | null;
  }

  /**
   * The scores or a target tensor for the batch. `differentiable`: an op whose gradient w.r.t. the input
   * (under the ReLU rule) onnxruntime computes too, so it composes with any TF.js objective around it
   * (activation maximisation, deep dream, class images).
   */
  output(input: Tensor4D, target: 'scores' | T, rule: ReluRule | null, differentiable: boolean): Tensor | null {
    if (!this.fits(input)) return null;
    const key = target === 'scores' ? 'scores' : `out:${this.keyOf(target)}`;
    const forward = this.session(key, () => this.exportGraph([target]));
    if (!forward) return null;
    const [name] = this.outputNames([target]);
    if (!differentiable) return this.tryRun(forward, { [INPUT]: input }, [name])?.[0] ?? null;
    const backward = this.vectorJacobian(target, rule);
    if (!backward) return null;
    // Run before the op is recorded, so that a failing run still leaves TF.js to compute it.
    const value = this.tryRun(forward, { [INPUT]: input }, [name])?.[0];
    if (!value) return null;
    const op = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const [x, save] = args as [Tensor4D, tf.GradSaveFunc];
      save([x]);
      const gradFunc = (dy: Tensor | Tensor[], [saved]: Tensor[]) => {
        const gradient = this.tryRun(backward, { [INPUT]: saved, [SEED]: dy as Tensor }, [GRADIENT])?.[0];
        // Too late to fall back within this gradient; the next one is computed by TF.js.
        if (!gradient) throw new Error('onnxruntime failed to compute this gradient (see the log); run it again to compute it with TF.js.');
        return gradient;
      };
      return { value, gradFunc };
    });
    return op(input);
  }

  /**
   * Whether onnxruntime differentiates the scores w.r.t. the image (exporting that session if not yet done).
   * Every other gradient session is a part of this graph, so their ops have rules too.
   */
  differentiates(target: 'scores' | T = 'scores'): boolean {
    return this.vectorJacobian(target, null) !== null;
  }

  /** Whether onnxruntime gives the target's activations and the scores' gradient w.r.t. them (exporting that session if not yet done). */
  layerDifferentiates(target: T): boolean {
    return this.layerSession(target) !== null;
  }

  /** Several targets' values from one forward run (not differentiable), in TF.js's layout. */
  outputs(input: Tensor4D, targets: ('scores' | T)[]): Tensor[] | null {
    if (!this.fits(input)) return null;
    const key = `outs:${targets.map((target) => (target === 'scores' ? 'scores' : this.keyOf(target))).join(',')}`;
    const session = this.session(key, () => this.exportGraph(targets));
    return session ? this.tryRun(session, { [INPUT]: input }, this.outputNames(targets)) : null;
  }

  /** d score[classIndex] / d input for each image, under the ReLU rule if any (one run: a one-hot seed). */
  inputGradient(input: Tensor4D, classIndex: number, rule: ReluRule | null): Tensor4D | null {
    if (!this.fits(input)) return null;
    const session = this.vectorJacobian('scores', rule);
    if (!session) return null;
    return (
      (this.tryRun(session, { [INPUT]: input, [SEED]: this.oneHot(input.shape[0], classIndex) }, [GRADIENT])?.[0] as
        Tensor4D | undefined) ?? null
    );
  }

  /** The target's activations and d score[classIndex] / d activations, from one run. */
  layerGradient(input: Tensor4D, target: T, classIndex: number): { activations: Tensor4D; gradients: Tensor4D } | null {
    if (!this.fits(input)) return null;
    const session = this.layerSession(target);
    if (!session) return null;
    const [, activationsName] = this.outputNames(['scores', target]);
    const results = this.tryRun(session, { [INPUT]: input, [SEED]: this.oneHot(input.shape[0], classIndex) }, [activationsName, GRADIENT]);
    if (!results) return null;
    const [activations, gradients] = results;
    if (activations.rank !== 4) {
      tf.dispose([activations, gradients]);
      return null;
    }
    return { activations: activations as Tensor4D, gradients: gradients as Tensor4D };
  }

  /**
   * Several layers' activations and d score[classIndex] / d each of them, from one run, in TF.js's layout
   * (FullGrad reads every biased layer: one backward pass instead of one per layer).
   */
  layerGradients(input: Tensor4D, targets: T[], classIndex: number): { activations: Tensor[]; gradients: Tensor[] } | null {
    if (!this.fits(input) || targets.length === 0) return null;
    const gradientNames = targets.map((_, i) => `cnn_lens_layer_gradient${i}`);
    const session = this.session(`grads:${targets.map((t) => this.keyOf(t)).join(',')}`, () => {
      const exported = this.exportGraph(['scores', ...targets]);
      const { graph } = exported;
      const [scores, ...layers] = exported.outputs;
      graph.input(SEED, [this.numClasses]);
      addGradients(
        graph,
        scores.name,
        SEED,
        layers.map((layer) => layer.native),
      ).forEach((gradient, i) => {
        const layer = layers[i];
        const readout =
          layer.readout?.(graph, gradient) ?? (layer.perm ? graph.op('Transpose', [gradient], { perm: layer.perm }) : gradient);
        graph.nameOutput(readout, gradientNames[i]);
      });
      return exported;
    });
    if (!session) return null;
    const names = this.outputNames(['scores', ...targets]).slice(1);
    const results = this.tryRun(session, { [INPUT]: input, [SEED]: this.oneHot(input.shape[0], classIndex) }, [...names, ...gradientNames]);
    if (!results) return null;
    return { activations: results.slice(0, targets.length), gradients: results.slice(targets.length) };
  }

  /**
   * Tensors of the graph as the graph holds them (no change of layout) and, with a class, d score[class] / d
   * each of them, from one run: the attention probabilities of a ViT's blocks and their gradients.
   */
  rawTensors(input: Tensor4D, targets: T[], classIndex: number | null): { values: Tensor[]; gradients: Tensor[] | null } | null {
    if (!this.fits(input)) return null;
    const withGradients = classIndex !== null;
    const key = `raw${withGradients ? '-gradient' : ''}:${targets.map((t) => this.keyOf(t)).join(',')}`;
    const names = targets.map((_, i) => `cnn_lens_raw${i}`);
    const gradientNames = targets.map((_, i) => `cnn_lens_raw_gradient${i}`);
    const session = this.session(key, () => {
      const exported = this.exportGraph(['scores', ...targets]);
      const { graph } = exported;
      const natives = exported.outputs.slice(1).map((output) => output.native);
      natives.forEach((native, i) => graph.nameOutput(native, names[i]));
      if (withGradients) {
        graph.input(SEED, [this.numClasses]);
        addGradients(graph, exported.outputs[0].name, SEED, natives).forEach((gradient, i) => graph.nameOutput(gradient, gradientNames[i]));
      }
      return exported;
    });
    if (!session) return null;
    const feeds: Record<string, Tensor | OrtArray> = { [INPUT]: input };
    if (withGradients) feeds[SEED] = this.oneHot(input.shape[0], classIndex);
    const results = this.tryRun(session, feeds, withGradients ? [...names, ...gradientNames] : names);
    if (!results) return null;
    return { values: results.slice(0, targets.length), gradients: withGradients ? results.slice(targets.length) : null };
  }

  /**
   * Runs a technique's graph recipe (recipes.ts): the export to the scores (and to the recipe's layer, or from
   * it), edited by the recipe, kept as a session under the recipe's key.
   */
  runRecipe(
    recipe: GraphRecipe,
    at: T | null,
    feeds: Record<string, Tensor | OrtArray>,
    outputs: string[],
    image?: Tensor4D,
  ): Tensor[] | null {
    if (image && !this.fits(image)) return null;
    const kind = recipe.key.split(':')[0];
    this.titles.set(kind, recipe.title);
    const where = recipe.from !== undefined ? `from:${recipe.from}` : at !== null ? this.keyOf(at) : '';
    const key = `${recipe.key}${where ? `:${where}` : ''}`;
    if (recipe.from !== undefined && !this.cutsAtLayers) return null;
    const session = this.session(key, () => {
      if (recipe.from !== undefined) {
        const { graph, inputShape, scores } = this.exportFrom(recipe.from, FROM);
        recipe.build({ graph, input: FROM, inputShape, numClasses: this.numClasses, scores, layer: null, gradients: gradientsOf(graph) });
        return { graph, outputs: [] };
      }
      const exported = this.exportGraph(at === null ? ['scores'] : ['scores', at]);
      const [scores, layer] = exported.outputs;
      recipe.build({
        graph: exported.graph,
        input: INPUT,
        inputShape: this.inputShape,
        numClasses: this.numClasses,
        scores: scores.name,
        layer: layer ? { name: layer.native, channelsFirst: layer.perm !== null } : null,
        gradients: gradientsOf(exported.graph),
      });
      return exported;
    });
    return session ? this.tryRun(session, feeds, outputs) : null;
  }

  /** What techniques see: the runs by layer name (`targetOf` maps a layer to this format's target). */
  runs(targetOf: (layer: string) => T): AcceleratedRuns {
    return {
      inputGradient: (input, classIndex, rule) => this.inputGradient(input, classIndex, rule),
      layerGradient: (input, layer, classIndex) => this.layerGradient(input, targetOf(layer), classIndex),
      layerGradients: (input, layers, classIndex) => this.layerGradients(input, layers.map(targetOf), classIndex),
      run: (recipe, feeds, outputs, image) =>
        this.runRecipe(recipe, recipe.at === undefined ? null : targetOf(recipe.at), feeds, outputs, image),
    };
  }

  /** The weights changed (the randomisation check): every session is exported again when next needed. */
  invalidate(): void {
    for (const session of this.sessions.values()) session?.dispose();
    this.sessions.clear();
  }

  dispose(): void {
    this.invalidate();
  }

  /** Output names exportGraph gives its targets, in order. */
  protected outputNames(targets: unknown[]): string[] {
    return targets.map((_, i) => `cnn_lens_output${i}`);
  }

  /** A session giving the target's activations and Σ seed · d scores / d activations. */
  private layerSession(target: T): OrtSession | null {
    return this.session(`layer:${this.keyOf(target)}`, () => {
      const { exported, layer, gradient } = this.gradientAtLayer(target);
      const { graph } = exported;
      const readout = layer.readout?.(graph, gradient) ?? (layer.perm ? graph.op('Transpose', [gradient], { perm: layer.perm }) : gradient);
      graph.nameOutput(readout, GRADIENT);
      return exported;
    });
  }

  /** The graph to the scores and the target, with Σ seed · d scores / d target in the target's own layout. */
  private gradientAtLayer(target: T): { exported: ExportedGraph; layer: ExportedGraph['outputs'][number]; gradient: string } {
    const exported = this.exportGraph(['scores', target]);
    const [scores, layer] = exported.outputs;
    exported.graph.input(SEED, [this.numClasses]);
    const [gradient] = addGradients(exported.graph, scores.name, SEED, [layer.native]);
    return { exported, layer, gradient };
  }

  /** A session taking the input and a seed shaped like the target, giving Σ seed · d target / d input. */
  private vectorJacobian(target: 'scores' | T, rule: ReluRule | null): OrtSession | null {
    const key = target === 'scores' ? 'scores' : this.keyOf(target);
    return this.session(`gradient:${key}:${rule ?? 'stock'}`, () => {
      const exported = this.exportGraph([target]);
      const { graph } = exported;
      const [output] = exported.outputs;
      graph.input(SEED, graph.shapeOf(output.name));
      const [gradient] = addGradients(graph, output.name, SEED, [INPUT], rule);
      graph.nameOutput(gradient, GRADIENT);
      return exported;
    });
  }

  /** Exports are made for the model's own input size. */
  private fits(input: Tensor4D): boolean {
    return input.shape.slice(1).join() === this.inputShape.join();
  }

  private oneHot(batch: number, classIndex: number): OrtArray {
    return oneHot(batch, this.numClasses, classIndex);
  }

  protected session(key: string, build: () => ExportedGraph): OrtSession | null {
    const { runtime } = this.acceleration;
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
      session = runtime.session(build().graph.encode());
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
    const what: Record<string, string> = {
      scores: 'the scores',
      out: 'reading layers',
      outs: 'reading layers',
      gradient: 'the gradient',
      head: 'the head after a layer',
      layer: 'the layer gradient',
      grads: 'the gradients at every biased layer',
      raw: 'reading the attention',
      'raw-gradient': 'the attention gradients',
    };
    this.acceleration.log(`onnxruntime: TF.js computes ${what[kind] ?? this.titles.get(kind) ?? kind} for this model (${reason}).`);
  }

  /**
   * A run that fails (onnxruntime refusing a shape or attribute only at run time) drops its session: this
   * call and later ones are computed by TF.js, and the log says why once.
   */
  protected tryRun(session: OrtSession, feeds: Record<string, Tensor | OrtArray>, outputs: string[]): Tensor[] | null {
    try {
      return this.run(session, feeds, outputs);
    } catch (error) {
      const key = [...this.sessions].find(([, cached]) => cached === session)?.[0];
      // A session already evicted was disposed then; one still cached is replaced by "TF.js computes it".
      if (key !== undefined) {
        this.sessions.set(key, null);
        session.dispose();
      }
      this.report(key ?? 'run', `run failed: ${String(error).split('\n')[0]}`);
      return null;
    }
  }

  private run(session: OrtSession, feeds: Record<string, Tensor | OrtArray>, outputs: string[]): Tensor[] {
    const arrays: Record<string, OrtArray> = {};
    for (const [name, value] of Object.entries(feeds))
      arrays[name] = value instanceof tf.Tensor ? { data: value.dataSync() as Float32Array, dims: value.shape } : value;
    const results = session.run(arrays, outputs);
    return outputs.map((name) => tf.tensor(results[name].data, results[name].dims));
  }
}

function gradientsOf(graph: OnnxGraph): (of: string, seed: string, wrt: string[], rule?: ReluRule | null) => string[] {
  return (of, seed, wrt, rule = null) => addGradients(graph, of, seed, wrt, rule);
}
