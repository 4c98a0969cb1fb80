/**
 * Per-class config translation, Keras (2 or 3) → what tfjs-layers or CNN Lens's own layers (customLayers/)
 * take, after kerasConfig.ts has made the generic changes (zero initialisers, no regularisers, dtypes).
 * Settings that would change the arithmetic and that nothing here implements are refusals, never dropped.
 * Keras 3 facts from keras-team/keras at 3422977: Conv2D `groups` (a ConvNeXt block's 7×7 convolution has
 * groups = filters = its input channels), LayerNormalization's deprecated `rms_scaling`, Normalization's
 * `mean`/`variance` (lists, or null when adapted), Rescaling's scale/offset (numbers, lists or arrays),
 * MultiHeadAttention's `use_gate` and `sliding_window`.
 */
import { numberArray } from './customLayers/normalization';
import { unwrapArray, type Json, type Problem } from './kerasJson';

export interface Translated {
  className: string;
  config: Json;
  /** A grouped Conv2D run as a depthwise convolution: its group count (its kernel is reshaped on load). */
  groups?: number;
}

type Rule = (name: string, config: Json, out: Json, problems: Problem[]) => Translated | void;

const refuse = (problems: Problem[], layer: string, reason: string) => void problems.push({ layer, reason });

function inputLayer(name: string, config: Json, out: Json, problems: Problem[]): void {
  const shape = config.batch_shape ?? config.batch_input_shape;
  delete out.batch_shape;
  if (Array.isArray(shape)) out.batch_input_shape = shape;
  else if (Array.isArray(config.shape)) out.batch_input_shape = [null, ...(config.shape as unknown[])];
  if (config.sparse === true || config.ragged === true) refuse(problems, name, 'a sparse or ragged input');
  for (const key of ['ragged', 'shape', 'batch_size', 'input_tensor']) delete out[key];
}

/** Grouped convolution where each group is one input channel is a depthwise convolution (ConvNeXt's). */
function conv2d(name: string, config: Json, out: Json, problems: Problem[]): Translated | void {
  const groups = Number(config.groups ?? 1);
  delete out.groups;
  if (groups === 1) return;
  const filters = Number(config.filters);
  if (!Number.isInteger(groups) || groups < 1 || filters % groups !== 0)
    return refuse(problems, name, `Conv2D with groups=${String(config.groups)} and filters=${String(config.filters)}`);
  out.depth_multiplier = filters / groups;
  out.depthwise_initializer = { class_name: 'Zeros', config: {} };
  for (const key of ['filters', 'kernel_initializer', 'kernel_regularizer', 'kernel_constraint']) delete out[key];
  return { className: 'DepthwiseConv2D', config: out, groups };
}

function otherConv(kind: string): Rule {
  return (name, config, out, problems) => {
    if (Number(config.groups ?? 1) !== 1) refuse(problems, name, `${kind} with groups=${String(config.groups)} (grouped convolution)`);
    delete out.groups;
  };
}

function globalPooling(kind: string): Rule {
  return (name, config, out, problems) => {
    if (config.keepdims === true) refuse(problems, name, `${kind} with keepdims=True`);
    if (kind.endsWith('1D') && config.data_format === 'channels_first') refuse(problems, name, `${kind} over channels-first data`);
    delete out.keepdims;
  };
}

function layerNormalization(name: string, config: Json, out: Json, problems: Problem[]): void {
  // Keras deprecates it as wrong (it scales by the variance, not the root mean square); no need to copy that.
  if (config.rms_scaling === true) refuse(problems, name, 'LayerNormalization with rms_scaling=True');
  delete out.rms_scaling;
}

function normalization(name: string, config: Json, out: Json, problems: Problem[]): void {
  const [mean, variance] = [unwrapArray(config.mean), unwrapArray(config.variance)];
  out.mean = mean ?? null;
  out.variance = variance ?? null;
  // Both absent: the statistics are the layer's weights (adapted).
  if (out.mean === null && out.variance === null) return;
  const [m, v] = [numberArray(mean), numberArray(variance)];
  if (!m || !v || m.shape.join() !== v.shape.join())
    refuse(problems, name, 'Normalization whose mean and variance are not numbers of one shape');
}

function rescaling(name: string, config: Json, out: Json, problems: Problem[]): void {
  for (const key of ['scale', 'offset']) {
    const value = unwrapArray(config[key] ?? (key === 'offset' ? 0 : undefined));
    if (!numberArray(value)) refuse(problems, name, `Rescaling whose ${key} is not a number or a list of numbers`);
    out[key] = value;
  }
}

function multiHeadAttention(name: string, config: Json, out: Json, problems: Problem[]): void {
  if (config.use_gate === true) refuse(problems, name, 'MultiHeadAttention with use_gate=True');
  if (config.sliding_window !== null && config.sliding_window !== undefined)
    refuse(problems, name, 'MultiHeadAttention with a sliding window');
  const shape = config.output_shape;
  if (Array.isArray(shape) && shape.length !== 1)
    refuse(problems, name, `MultiHeadAttention with output_shape ${JSON.stringify(shape)} (more than one axis)`);
  for (const key of ['use_gate', 'sliding_window', 'seed', 'query_shape', 'key_shape', 'value_shape', 'flash_attention']) delete out[key];
}

function layerScale(name: string, config: Json, _out: Json, problems: Problem[]): void {
  if (!Number.isInteger(config.projection_dim)) refuse(problems, name, 'LayerScale without an integer projection_dim');
}

const RULES: Record<string, Rule> = {
  InputLayer: inputLayer,
  LeakyReLU: (_name, config, out) => {
    if (config.negative_slope === undefined) return;
    out.alpha = config.negative_slope;
    delete out.negative_slope;
  },
  ReLU: (name, config, out, problems) => {
    if (Number(config.negative_slope ?? 0) !== 0 || Number(config.threshold ?? 0) !== 0) {
      refuse(problems, name, 'ReLU with a negative slope or threshold (TensorFlow.js has only max_value)');
    }
    delete out.negative_slope;
    delete out.threshold;
  },
  BatchNormalization: (name, config, out, problems) => {
    if (config.renorm === true) refuse(problems, name, 'BatchNormalization with renorm');
    for (const key of ['renorm', 'renorm_clipping', 'renorm_momentum']) delete out[key];
  },
  Conv1D: otherConv('Conv1D'),
  Conv2D: conv2d,
  Conv3D: otherConv('Conv3D'),
  GlobalAveragePooling1D: globalPooling('GlobalAveragePooling1D'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePooling2D'),
  GlobalMaxPooling1D: globalPooling('GlobalMaxPooling1D'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPooling2D'),
  LayerNormalization: layerNormalization,
  Normalization: normalization,
  Rescaling: rescaling,
  MultiHeadAttention: multiHeadAttention,
  LayerScale: layerScale,
};

/** The tfjs class and config for one Keras layer; problems are collected, not thrown. */
export function classConfig(name: string, kerasClass: string, config: Json, out: Json, problems: Problem[]): Translated {
  const rule = RULES[kerasClass];
  return (rule && rule(name, config, out, problems)) || { className: kerasClass, config: out };
}
