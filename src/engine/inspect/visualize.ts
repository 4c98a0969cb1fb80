/**
 * Pictures of what the network responds to, made by optimising an image (see ascent.ts):
 *  - maximize: a filter's mean activation (or one unit), from noise or a given image (Erhan et al. 2009);
 *  - classimage: a class score before the softmax, from noise (Simonyan et al. 2014);
 *  - dream: the energy (mean square) of a layer's, or one filter's, activation from the user's image, over
 *    octaves of growing size (Mordvintsev et al. 2015);
 *  - invert: an image whose representation at a layer matches the image's, with α-norm and total-variation
 *    priors (Mahendran & Vedaldi 2015).
 * An objective or gradient holding NaN or infinity (a model whose activations overflow) stops the run with
 * finite.ts's message naming the first layer that produced them; nothing is drawn.
 */
import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import type { LoadedModel } from '../models/loadModel';
import { resolveClass } from '../classes';
import { nonFiniteError } from '../finite';
import { modelPixels, modelScaler } from '../preprocess';
import { tf } from '../tfjs/tf';
import type { RgbaImage } from '../types';
import { ascend, NO_REGULARISERS, toRgba, type Parameterisation, type Regularisers } from './ascent';
import { fourierImage } from './fourier';

export const VISUALIZATIONS = ['maximize', 'classimage', 'dream', 'invert'] as const;
export type VisualizationKind = (typeof VISUALIZATIONS)[number];

export interface VisualizeOptions {
  kind: VisualizationKind;
  /** The layer to read (maximize, dream, invert); default the model's default target layer. */
  layer?: string;
  /** Filter of the layer; −1 = the whole layer (dream) — maximize needs one. */
  filter?: number;
  /** One unit of the filter instead of its mean (maximize). */
  unit?: { y: number; x: number };
  /** The class (classimage). */
  classTarget?: number | string;
  steps?: number;
  learningRate?: number;
  regularisers?: Partial<Regularisers>;
  seed?: number;
  /** Dream: number of scales and the ratio between them. */
  octaves?: number;
  octaveScale?: number;
  /** Start image (maximize), the image to dream on or to invert (required for dream, invert). */
  image?: RgbaImage;
  /** maximize / classimage from noise: optimise pixels, or Lucid's decorrelated Fourier spectrum. */
  parameterisation?: 'pixels' | 'fourier';
}

export interface Visualization {
  kind: VisualizationKind;
  image: RgbaImage;
  /** The objective after every step. */
  history: number[];
  layer: string;
  filter: number;
  classIndex: number;
  /** Effective settings, defaults filled in. */
  settings: {
    steps: number;
    learningRate: number;
    seed: number;
    regularisers: Regularisers;
    octaves: number;
    octaveScale: number;
    parameterisation: 'pixels' | 'fourier';
  };
  notes: string[];
}

/** Defaults tuned on the bundled model and MobileNet: visible structure in a few hundred steps. */
const DEFAULTS: Record<VisualizationKind, { steps: number; learningRate: number; regularisers: Partial<Regularisers> }> = {
  maximize: { steps: 200, learningRate: 4, regularisers: { l2: 1e-4, blurEvery: 4, blurSigma: 0.5, jitter: 2 } },
  classimage: { steps: 200, learningRate: 4, regularisers: { l2: 1e-4, blurEvery: 4, blurSigma: 0.5, jitter: 2 } },
  dream: { steps: 20, learningRate: 2, regularisers: { jitter: 4 } },
  invert: { steps: 300, learningRate: 3, regularisers: {} },
};

export function visualize(
  model: LoadedModel,
  options: VisualizeOptions,
  checkCancelled: () => void = () => undefined,
  onPreview?: (image: RgbaImage, fraction: number) => void,
): Visualization {
  const { adapter, summary } = model;
  const kind = options.kind;
  if (!VISUALIZATIONS.includes(kind)) throw new Error(`Unknown visualisation "${kind}". Available: ${VISUALIZATIONS.join(', ')}.`);
  const defaults = DEFAULTS[kind];
  const parameterisation = options.parameterisation ?? 'pixels';
  const fourier = parameterisation === 'fourier';
  if (fourier && (kind === 'dream' || kind === 'invert' || options.image)) {
    throw new Error('The Fourier parameterisation grows images from noise: use it with maximize or classimage, without a start image.');
  }
  const steps = options.steps ?? defaults.steps;
  // Adam's step is in the variables' units: pixels (0..255), or spectrum coefficients (Lucid uses 0.05).
  const learningRate = options.learningRate ?? (fourier ? 0.05 : defaults.learningRate);
  const seed = options.seed ?? 0;
  // The spectrum's 1/f scaling does the smoothing: the pixel-space regularisers are for pixels only.
  const regularisers: Regularisers = fourier
    ? { ...NO_REGULARISERS, jitter: defaults.regularisers.jitter ?? 0, ...options.regularisers }
    : { ...NO_REGULARISERS, ...defaults.regularisers, ...options.regularisers };
  const octaves = kind === 'dream' ? (options.octaves ?? 3) : 1;
  const octaveScale = options.octaveScale ?? 1.4;
  checkRange('steps', steps, 1, 100_000, true);
  checkRange('learning rate', learningRate, 1e-6, 1000);
  checkRange('octaves', octaves, 1, 8, true);
  checkRange('octave scale', octaveScale, 1.01, 4);
  const preprocess = modelScaler(summary);
  const layer = kind === 'classimage' ? '' : (options.layer ?? summary.defaultLayer ?? '');
  if (kind !== 'classimage') {
    const info = summary.layers.find((l) => l.name === layer);
    if (!info) throw new Error(`Model "${summary.name}" has no layer "${layer}".`);
    if (!info.camCapable)
      throw new Error(
        `Layer "${layer}" has output shape [${info.outputShape.join(', ')}]; pick a layer with a spatial (height × width × channels) output.`,
      );
  }
  const channels = kind === 'classimage' ? 0 : (summary.layers.find((l) => l.name === layer)!.outputShape[2] ?? 0);
  const filter = options.filter ?? (kind === 'maximize' ? 0 : -1);
  if (kind === 'maximize' && filter < 0) throw new Error('Activation maximisation needs a filter (0 or more).');
  if (filter >= channels && kind !== 'classimage')
    throw new Error(`Layer "${layer}" has ${channels} filters (0 to ${channels - 1}); got filter ${filter}.`);
  if ((kind === 'dream' || kind === 'invert') && !options.image)
    throw new Error(`${kind === 'dream' ? 'Deep dream' : 'Inversion'} needs an image to start from.`);
  const classIndex = kind === 'classimage' ? resolveClass(options.classTarget ?? 0, model.labels, []) : -1;
  const notes: string[] = [];
  const settings = { steps, learningRate, seed, regularisers, octaves, octaveScale, parameterisation };
  if (fourier && (regularisers.l2 || regularisers.blurEvery || regularisers.clipNorm || regularisers.clipContribution)) {
    notes.push('With the Fourier parameterisation only jitter and total variation apply; l2, blur and clipping act on pixels.');
  }
  const history: number[] = [];
  const objectiveName = {
    maximize: `activation-maximisation objective (layer "${layer}" filter ${filter})`,
    classimage: `class-image objective (the score of class ${classIndex})`,
    dream: `deep-dream objective (layer "${layer}")`,
    invert: `inversion objective (layer "${layer}")`,
  }[kind];
  const nonFinite = (pixels: Tensor4D, step: number, what: 'objective' | 'gradient') =>
    nonFiniteError(model, preprocess(pixels), what === 'objective' ? objectiveName : `gradient of the ${objectiveName}`, {
      subject: `for the image being optimised (step ${step})`,
      otherwise: "every layer's output is finite, so the optimisation's own arithmetic (its gradient or a regulariser) overflowed",
    });
  const totalSteps = steps * octaves;
  const previewEvery = Math.max(1, Math.round(steps / 20));
  const run = (start: Tensor4D | Parameterisation, objective: (x: Tensor4D) => Scalar, done: number) =>
    ascend(start, objective, {
      steps,
      learningRate,
      regularisers,
      seed: seed + done,
      checkCancelled,
      previewEvery: onPreview ? previewEvery : 0,
      onPreview: onPreview ? (image, step) => onPreview(image, (done + step) / totalSteps) : undefined,
      onStep: (_step, value) => history.push(value),
      nonFinite,
    });

  const activationOf = (x: Tensor4D) => adapter.layerOutput(preprocess(x), layer);
  // Maximisation reads the unit before its rectifier: through a ReLU that is off, no gradient flows and
  // the image never leaves its start (Lucid optimises "pre_relu" layers for the same reason).
  const responseOf = (x: Tensor4D) => adapter.layerOutput(preprocess(x), layer, null, true);
  const pick = (a: Tensor4D) => (filter >= 0 ? a.slice([0, 0, 0, filter], [-1, -1, -1, 1]) : a);
  const noise = () =>
    tf.tidy(() => tf.clipByValue(tf.randomNormal([1, ...summary.inputShape], 128, 20, 'float32', seed), 0, 255) as Tensor4D);
  const start = (): Tensor4D => (options.image ? modelPixels(options.image, summary) : noise());

  let result: Tensor4D;
  const first = start();
  const spectrum = fourier ? fourierImage(summary.inputShape[0], summary.inputShape[1], seed) : null;
  const origin = (): Tensor4D | Parameterisation => spectrum ?? first;
  try {
    switch (kind) {
      case 'maximize': {
        const objective = (x: Tensor4D) => {
          const a = pick(responseOf(x));
          return (options.unit ? a.slice([0, options.unit.y, options.unit.x, 0], [1, 1, 1, 1]).reshape([]) : tf.mean(a)) as Scalar;
        };
        if (options.unit) {
          const [, h, w] = tf.tidy(() => responseOf(first).shape);
          if (options.unit.y < 0 || options.unit.y >= h || options.unit.x < 0 || options.unit.x >= w)
            throw new Error(`Layer "${layer}" is ${h}×${w}; unit (${options.unit.y}, ${options.unit.x}) is outside it.`);
        }
        result = run(origin(), objective, 0).image;
        break;
      }
      case 'classimage': {
        const objective = (x: Tensor4D) => adapter.scores(preprocess(x)).slice([0, classIndex], [1, 1]).reshape([]) as Scalar;
        if (!adapter.hasLogits)
          notes.push('The model gives probabilities, not logits: the class score includes the softmax, which can stall the optimisation.');
        result = run(origin(), objective, 0).image;
        break;
      }
      case 'dream':
        result = dream(first, (x) => tf.mean(tf.square(pick(activationOf(x)))) as Scalar);
        break;
      case 'invert': {
        const target = tf.tidy(() => activationOf(first));
        const energy = tf.tidy(() => tf.sum(tf.square(target)).dataSync()[0]);
        if (!Number.isFinite(energy)) {
          target.dispose();
          let error: Error | undefined;
          tf.tidy(() => void (error = nonFiniteError(model, preprocess(first), `representation at layer "${layer}" to invert`)));
          throw error!;
        }
        const targetEnergy = energy || 1;
        const depth = summary.layers.findIndex((l) => l.name === layer) / Math.max(1, summary.layers.length - 1);
        // Deeper layers keep less of the image, so they need a stronger smoothness prior (Mahendran & Vedaldi).
        if (options.regularisers?.tv === undefined) regularisers.tv = 0.5 + 20 * depth;
        const objective = (x: Tensor4D) => {
          const mismatch = tf.div(tf.sum(tf.square(tf.sub(activationOf(x), target))), targetEnergy);
          const alphaNorm = tf.mean(tf.pow(tf.abs(tf.div(tf.sub(x, 128), 128)), 6));
          return tf.neg(tf.add(mismatch, alphaNorm)) as Scalar;
        };
        const from = noise();
        try {
          result = run(from, objective, 0).image;
        } finally {
          tf.dispose([from, target]);
        }
        break;
      }
    }
  } finally {
    first.dispose();
    spectrum?.dispose();
  }
  const image = toRgba(result);
  result.dispose();
  return { kind, image, history, layer, filter, classIndex, settings, notes };

  /** Octaves from small to full size; each octave's added detail is carried up to the next. */
  function dream(base: Tensor4D, objective: (x: Tensor4D) => Scalar): Tensor4D {
    const [, h, w] = base.shape;
    if (adapter.format === 'graph' && octaves > 1) notes.push('Graph models run at their input size only: one octave.');
    const count = adapter.format === 'graph' ? 1 : octaves;
    const sizes = Array.from({ length: count }, (_, i) => {
      const factor = octaveScale ** (count - 1 - i);
      return [Math.max(8, Math.round(h / factor)), Math.max(8, Math.round(w / factor))] as [number, number];
    });
    let detail = tf.zerosLike(base) as Tensor4D;
    try {
      for (const [i, size] of sizes.entries()) {
        const next = tf.tidy(() => {
          const shrunk = tf.image.resizeBilinear(base, size, false, true) as Tensor4D;
          const startImage = tf.clipByValue(shrunk.add(tf.image.resizeBilinear(detail, size, false, true)), 0, 255) as Tensor4D;
          const dreamed = run(startImage, objective, i * steps).image;
          return tf.image.resizeBilinear(dreamed.sub(shrunk) as Tensor4D, [h, w], false, true) as Tensor4D;
        });
        detail.dispose();
        detail = next;
      }
      return tf.tidy(() => tf.clipByValue(base.add(detail), 0, 255) as Tensor4D);
    } finally {
      detail.dispose();
    }
  }
}

function checkRange(name: string, value: number, min: number, max: number, integer = false): void {
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new Error(`The ${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}; got ${value}.`);
  }
}
