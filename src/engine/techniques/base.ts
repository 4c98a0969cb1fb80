/**
 * The shared base of every technique. A technique turns (model, input, class, layer) into a raw map
 * (non-negative, or signed when it says so); the engine's pipeline upsamples and normalises it. CAM-style techniques
 * extend `CamTechnique` and write one method, as in pytorch-grad-cam's BaseCAM: the channel weights.
 */
import type { Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import type { Segmentation } from '../image/slic';
import type { ModelAdapter } from '../models/adapter';
import { normalise } from '../postprocess';
import { tf } from '../tfjs/tf';
import type { Heatmap, TechniqueInfo, TechniqueParameters } from '../types';

export interface TechniqueInput {
  model: ModelAdapter;
  /** A batch of one preprocessed image. */
  input: Tensor4D;
  /** The same image resized to the model's input, as 0..255 RGB (baselines are built from it). */
  pixels: Tensor4D;
  /** Maps 0..255 pixels to the model's input scaling. */
  preprocess: (pixels: Tensor4D) => Tensor4D;
  classIndex: number;
  /** The target layer (already validated as CAM-capable when the technique needs one). */
  layer: string;
  /** Resolved parameters (defaults filled in). */
  parameters: TechniqueParameters;
  /** Throws when the user cancelled; long techniques call it between steps. */
  checkCancelled: () => void;
  /**
   * Long techniques report how far they are (0..1) and how to draw the map so far; the pipeline calls
   * `preview` (inside its own tidy) only when someone is watching and not more often than it can show.
   */
  reportProgress: (fraction: number, preview?: () => PreviewMap, detail?: string) => void;
}

export interface PreviewMap {
  map: Tensor2D;
  signed?: boolean;
}

export interface TechniqueOutput {
  /** [height, width] map at the layer's (or the input's) resolution, ≥ 0 unless `signed`. */
  map: Tensor2D;
  /** True when the map's sign matters (for and against the class): drawn with a diverging colormap. */
  signed?: boolean;
  /** [height, width, 3] in 0..1: an attribution drawn as a colour image (the colour-gradient view). */
  colour?: Tensor3D;
  /** The layer actually used (CAM may differ from the one asked for; '' for input-space maps). */
  layer: string;
  notes: string[];
  metrics?: Record<string, number>;
  /** The superpixels the map was measured on (at the model input's size), for the panel to outline. */
  segments?: Segmentation;
  /** Deep Feature Factorization's concepts: maps at the layer's resolution, classes by index (the engine adds labels). */
  concepts?: { maps: Heatmap[]; classes: { index: number; score: number }[][] };
}

export abstract class Technique {
  abstract readonly info: TechniqueInfo;
  /** Called inside tf.tidy by the pipeline; returned tensors are kept by it. */
  abstract run(request: TechniqueInput): TechniqueOutput;
}

export interface CamEvidence {
  /** [1, h, w, c] activations of the target layer. */
  activations: Tensor4D;
  /** d score / d activations, same shape; null for gradient-free techniques. */
  gradients: Tensor4D | null;
  /** The rest of the model from (replaced) activations to the class scores, for perturbation techniques. */
  head: (activations: Tensor4D) => Tensor2D;
}

export abstract class CamTechnique extends Technique {
  /** Gradient-free subclasses override this to skip the backward pass. */
  protected readonly usesGradients: boolean = true;

  /** Channel weights [c] from the evidence: the one method most CAM techniques write. */
  protected channelWeights(_evidence: CamEvidence, _request: TechniqueInput): Tensor1D {
    throw new Error(`${this.info.id} defines neither channelWeights nor combine.`);
  }

  /**
   * The [h, w] map before the final ReLU: Σ_k w_k A_k by default. Techniques that weight element by
   * element (HiResCAM, LayerCAM) or project (Eigen-CAM) override this instead.
   */
  protected combine(evidence: CamEvidence, request: TechniqueInput): Tensor2D {
    // One matrix product [h·w, c] × [c, 1]: half the time of a broadcast multiply and a sum on wasm.
    const [, h, w, c] = evidence.activations.shape;
    const weights = this.channelWeights(evidence, request).reshape([c, 1]);
    return tf.matMul(evidence.activations.reshape([h * w, c]), weights).reshape([h, w]) as Tensor2D;
  }

  /** The layer to explain; CAM overrides it to insist on the layer feeding the pooling head. */
  protected targetLayer(request: TechniqueInput): { layer: string; notes: string[] } {
    return { layer: request.layer, notes: [] };
  }

  run(request: TechniqueInput): TechniqueOutput {
    const layers = request.layer.split(',');
    if (layers.length > 1) return this.fuse(request, layers);
    const { layer, notes } = this.targetLayer(request);
    const map = this.mapWhereEvidenceIs({ ...request, layer }) ?? this.combine(this.capture({ ...request, layer }), { ...request, layer });
    // ReLU: keep only evidence *for* the class.
    return { map: tf.relu(map) as Tensor2D, layer, notes };
  }

  /** The [h, w] map before the ReLU, computed where the evidence is (onnxruntime); null: captured and combined here. */
  protected mapWhereEvidenceIs(_request: TechniqueInput): Tensor2D | null {
    return null;
  }

  /**
   * Multi-layer fusion (pytorch-grad-cam's aggregate_multi_layers): each layer's map upsampled to the
   * input, min-max scaled to 0..1, then averaged, so coarse and fine layers count alike.
   */
  private fuse(request: TechniqueInput, layers: string[]): TechniqueOutput {
    const [, h, w] = request.input.shape;
    const notes: string[] = [];
    const scaled = layers.map((name, i) => {
      request.checkCancelled();
      const out = this.run({
        ...request,
        layer: name,
        reportProgress: (fraction, preview, detail) => request.reportProgress((i + fraction) / layers.length, preview, detail),
      });
      notes.push(...out.notes);
      const [mh, mw] = out.map.shape;
      const big = tf.image.resizeBilinear(out.map.reshape([mh, mw, 1]) as tf.Tensor3D, [h, w], false, true).reshape([h, w]);
      return normalise(big, false).normalised;
    });
    return { map: tf.mean(tf.stack(scaled), 0) as Tensor2D, layer: layers.join(','), notes };
  }

  /**
   * The score the gradients are of, from the class scores [1, classes]: the class's own score unless a
   * technique contrasts or reshapes it (FinerCAM, ShapleyCAM). Such targets are differentiated by TF.js.
   */
  protected targetScore?(scores: Tensor2D, request: TechniqueInput): tf.Scalar;

  /** The target score as a function of the layer's activations (for gradients). */
  protected targetOf(head: (activations: Tensor4D) => Tensor2D, request: TechniqueInput): (activations: tf.Tensor) => tf.Scalar {
    return (a) => {
      const scores = head(a as Tensor4D);
      return this.targetScore ? this.targetScore(scores, request) : tf.sum(scores.slice([0, request.classIndex], [-1, 1]));
    };
  }

  protected capture(request: TechniqueInput): CamEvidence {
    const accelerated = this.usesGradients && !this.targetScore;
    const fast = accelerated ? request.model.accelerated()?.layerGradient(request.input, request.layer, request.classIndex) : null;
    if (fast) return { ...fast, head: (a) => request.model.split(request.input, request.layer).head(a) };
    const { activations, head } = request.model.split(request.input, request.layer);
    if (!this.usesGradients) return { activations, gradients: null, head };
    const gradients = tf.grad(this.targetOf(head, request))(activations) as Tensor4D;
    return { activations, gradients, head };
  }
}
