/**
 * Turns a Keras model config — Keras 3 (`config.json` of a `.keras` file, or a Keras 3 `.h5`) or Keras 2
 * (`model_config` of a legacy `.h5`) — into the Keras 2 style topology TensorFlow.js deserialises, and
 * refuses, in one message naming each of them, every layer CNN Lens must not or cannot run.
 *
 * Format facts (keras-team/keras 3.x, read from its source): a Keras 3 object is
 * `{module, class_name, config, registered_name, build_config?}` (serialization_lib.serialize_keras_object);
 * a Functional layer entry adds `name` and `inbound_nodes`, each node `{args, kwargs}` whose tensors are
 * `{"class_name": "__keras_tensor__", "config": {shape, dtype, keras_history: [layer, node, tensor]}}`
 * (models/functional.py serialize_node); `input_layers`/`output_layers` follow the structure the model was
 * built with, so one input is `["input_layer", 0, 0]`, not nested (functional.py get_config); dtypes are
 * `{"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}`; InputLayer has
 * `batch_shape` (Keras 2: `batch_input_shape`) and LeakyReLU `negative_slope` (Keras 2: `alpha`).
 * Source read: keras-team/keras at 3422977 (3.16.0), saving/saving_lib.py, saving/serialization_lib.py,
 * models/functional.py. A real Keras 3 Sequential config.json agrees (embedded in a public Streamlit app that
 * the code search found without naming its repository): entries carry no `name`/`inbound_nodes`, InputLayer's
 * dtype is a plain string, the model config has `build_input_shape`.
 *
 * Nothing in the config is executed: Lambda layers (whose config holds Python bytecode), TF-op layers and
 * classes outside Keras are refused by name; initialisers are replaced by zeros (the file's weights
 * overwrite them), regularisers and constraints dropped (inference needs neither).
 */
import { tf } from '../../tfjs/tf';
import { tfl } from '../../tfjs/tf';
import { ModelError } from '../modelFiles';

type Json = Record<string, unknown>;

/** A layer as the Keras file lists it: its name and its Keras class (weights are found by these). */
export interface KerasLayerRef {
  name: string;
  kerasClass: string;
}

export interface KerasTopology {
  /** `{class_name, config, keras_version, backend}` in the Keras 2 form tfjs-layers reads. */
  modelTopology: Json;
  /** Every layer of the config in order, InputLayer included (Keras 3 weight paths count by class). */
  layers: KerasLayerRef[];
  kerasVersion: string | null;
}

/** Layers that run code from the file or from TensorFlow ops: never imported. */
const CODE_LAYERS = new Set(['Lambda', 'TFOpLambda', 'SlicingOpLambda', 'TensorFlowOpLayer']);
const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);
/** Layers that are the identity at inference (augmentation, dropout variants tfjs lacks): run as Dropout(0). */
const IDENTITY_AT_INFERENCE = new Set([
  'Identity', 'SpatialDropout2D', 'SpatialDropout3D', 'ActivityRegularization', 'RandomFlip', 'RandomRotation',
  'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness', 'RandomErasing', 'RandomGrayscale',
  'RandomHue', 'RandomSaturation', 'RandomSharpness', 'RandomColorJitter', 'RandomPosterization',
  'RandomInvert', 'RandomGaussianBlur', 'RandomPerspective', 'RandomShear', 'RandomElasticTransform',
]);
/** Keras activation names → tfjs's, where they differ; null: tfjs has no equivalent. */
const ACTIVATIONS: Record<string, string | null> = {
  silu: 'swish',
  swish: 'swish',
  log_softmax: 'log_softmax',
  // Keras 3's hard_sigmoid is relu6(x + 3) / 6; tfjs's (and Keras 2's) is clip(0.2x + 0.5): not the same function.
  hard_sigmoid: null,
  hard_silu: null,
  hard_swish: null,
  exponential: null,
  leaky_relu: null,
  relu6: 'relu6',
};
const TFJS_ACTIVATIONS = new Set(['relu', 'relu6', 'linear', 'sigmoid', 'tanh', 'softmax', 'softplus', 'softsign', 'elu', 'selu', 'swish', 'mish', 'gelu', 'log_softmax']);

export interface Problem {
  layer: string;
  reason: string;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

let layerClasses: Set<string> | null = null;

/** Layer classes tfjs-layers can deserialise (its serialization registry also holds initialisers etc.). */
function tfjsLayerClasses(): Set<string> {
  if (!layerClasses) {
    const registry = (tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, [unknown, unknown]> }).classNameMap;
    const Layer = tfl.layers.Layer as unknown as abstract new (...args: never[]) => unknown;
    layerClasses = new Set(
      Object.entries(registry)
        .filter(([, [cls]]) => typeof cls === 'function' && (cls as { prototype: unknown }).prototype instanceof Layer)
        .map(([name]) => name),
    );
  }
  return layerClasses;
}

/** Why a layer class is never built (code from the file) or cannot be (TensorFlow.js lacks it); null when it can. */
export function layerClassProblem(className: string): string | null {
  if (CODE_LAYERS.has(className)) return `${className}: Python code, never run`;
  if (!tfjsLayerClasses().has(className)) return `${className}, which TensorFlow.js does not implement`;
  return null;
}

/** A dtype or dtype policy → the tfjs dtype (tfjs computes in float32 whatever the policy). */
function dtypeOf(value: unknown): string | undefined {
  const name = isObject(value) ? (isObject(value.config) ? value.config.name : undefined) : value;
  if (typeof name !== 'string') return undefined;
  if (/^(mixed_)?(b?float16|float32|float64)$/.test(name)) return 'float32';
  return name;
}

/** True for a Keras 3 object that is not Keras's own (a custom or third-party class). */
function customOrigin(entry: Json): string | null {
  const module = entry.module;
  const registered = entry.registered_name;
  if (typeof module === 'string' && module !== 'keras' && !module.startsWith('keras.')) return `module ${module}`;
  if (typeof registered === 'string' && registered !== entry.class_name && !registered.startsWith('keras')) {
    return `registered as ${registered}`;
  }
  return null;
}

function activationName(value: unknown): string | null | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.class_name === 'string' && !customOrigin(value)) return value.class_name;
  return null;
}

/** Converts one layer's config in place-free fashion; problems are collected, not thrown. */
function layerConfig(name: string, kerasClass: string, config: Json, problems: Problem[]): { className: string; config: Json } {
  const out: Json = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.endsWith('_initializer')) out[key] = value === null ? null : { class_name: 'Zeros', config: {} };
    else if (key.endsWith('_regularizer') || key.endsWith('_constraint')) out[key] = null;
    else if (key === 'dtype') out[key] = dtypeOf(value) ?? 'float32';
    else if (key === 'activation') {
      const activation = activationName(value);
      if (activation === null) {
        problems.push({ layer: name, reason: `${kerasClass} with a custom activation` });
        continue;
      }
      if (activation === undefined) continue;
      const mapped = activation in ACTIVATIONS ? ACTIVATIONS[activation] : activation;
      if (mapped === null || !TFJS_ACTIVATIONS.has(mapped)) {
        problems.push({ layer: name, reason: `${kerasClass} with activation "${activation}", which TensorFlow.js does not have` });
        continue;
      }
      out[key] = mapped;
    } else if (!['quantization_config', 'lora_rank', 'lora_alpha', 'synchronized', 'optional', 'build_config'].includes(key)) {
      out[key] = value;
    }
  }
  out.name = name;
  if (config.quantization_config) problems.push({ layer: name, reason: `${kerasClass} quantized (${JSON.stringify(config.quantization_config).slice(0, 60)})` });

  if (IDENTITY_AT_INFERENCE.has(kerasClass)) return { className: 'Dropout', config: { name, trainable: false, dtype: 'float32', rate: 0 } };
  switch (kerasClass) {
    case 'InputLayer': {
      const shape = config.batch_shape ?? config.batch_input_shape;
      delete out.batch_shape;
      if (Array.isArray(shape)) out.batch_input_shape = shape;
      else if (Array.isArray(config.shape)) out.batch_input_shape = [null, ...(config.shape as unknown[])];
      if (config.sparse === true || config.ragged === true) problems.push({ layer: name, reason: 'a sparse or ragged input' });
      delete out.ragged;
      delete out.shape;
      delete out.batch_size;
      delete out.input_tensor;
      break;
    }
    case 'LeakyReLU':
      if (config.negative_slope !== undefined) {
        out.alpha = config.negative_slope;
        delete out.negative_slope;
      }
      break;
    case 'ReLU':
      if (Number(config.negative_slope ?? 0) !== 0 || Number(config.threshold ?? 0) !== 0) {
        problems.push({ layer: name, reason: 'ReLU with a negative slope or threshold (TensorFlow.js has only max_value)' });
      }
      delete out.negative_slope;
      delete out.threshold;
      break;
    case 'BatchNormalization':
      if (config.renorm === true) problems.push({ layer: name, reason: 'BatchNormalization with renorm' });
      delete out.renorm;
      delete out.renorm_clipping;
      delete out.renorm_momentum;
      break;
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D':
      if (Number(config.groups ?? 1) !== 1) problems.push({ layer: name, reason: `${kerasClass} with groups=${String(config.groups)} (grouped convolution)` });
      delete out.groups;
      break;
    case 'GlobalAveragePooling1D':
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling1D':
    case 'GlobalMaxPooling2D':
      if (config.keepdims === true) problems.push({ layer: name, reason: `${kerasClass} with keepdims=True` });
      delete out.keepdims;
      break;
  }
  return { className: kerasClass, config: out };
}

/** Every tensor a Keras 3 node argument names, in order: `[layer, node, tensor]`. */
function tensorsIn(value: unknown, found: [string, number, number][]): void {
  if (Array.isArray(value)) value.forEach((item) => tensorsIn(item, found));
  else if (isObject(value)) {
    if (value.class_name === '__keras_tensor__') {
      const history = isObject(value.config) ? value.config.keras_history : null;
      if (Array.isArray(history) && typeof history[0] === 'string') found.push([history[0], Number(history[1] ?? 0), Number(history[2] ?? 0)]);
    } else Object.values(value).forEach((item) => tensorsIn(item, found));
  }
}

/** Inbound nodes in the Keras 2 form `[[[layer, node, tensor, {}], …], …]`. */
function inboundNodes(name: string, nodes: unknown, problems: Problem[]): unknown[] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    if (Array.isArray(node)) return node; // Keras 2 already
    if (!isObject(node)) return [];
    const args: [string, number, number][] = [];
    tensorsIn(node.args, args);
    const kwargTensors: [string, number, number][] = [];
    tensorsIn(node.kwargs, kwargTensors);
    if (kwargTensors.length) problems.push({ layer: name, reason: 'a call with tensor keyword arguments (e.g. a mask)' });
    return args.map(([layer, nodeIndex, tensorIndex]) => [layer, nodeIndex, tensorIndex, {}]);
  });
}

/** `input_layers` / `output_layers`: one `[layer, node, tensor]` or a list (or dict) of them → a list. */
function endpoints(value: unknown): unknown[] {
  if (Array.isArray(value) && typeof value[0] === 'string') return [value];
  if (Array.isArray(value)) return value;
  if (isObject(value)) return Object.values(value);
  return [];
}

/** One message for every layer CNN Lens will not build (shared with TF.js layers model.json files: topologyCheck.ts). */
export function describe(problems: Problem[], file: string): string {
  const list = problems.map((p) => `"${p.layer}" (${p.reason})`).join('; ');
  return `${file} has ${problems.length === 1 ? 'a layer' : `${problems.length} layers`} CNN Lens cannot import: ${list}. CNN Lens never runs code from a model file (Lambda, TF-op or custom layers), and imports only Keras layers TensorFlow.js implements.`;
}

/** Translates a parsed Keras model config (Keras 2 or 3) for tfjs; throws one ModelError listing every refusal. */
export function translateKerasConfig(root: unknown, file: string, kerasVersion: string | null = null): KerasTopology {
  if (!isObject(root)) throw new ModelError(`${file}: the model config is not a JSON object.`);
  const modelClass = root.class_name;
  if (typeof modelClass !== 'string' || !MODEL_CLASSES.has(modelClass) || customOrigin(root)) {
    throw new ModelError(`${file}: the model is a ${String(modelClass)}${customOrigin(root) ? ` (${customOrigin(root)})` : ''}, not a Keras Sequential or Functional model; CNN Lens imports models whose whole architecture is in the file (subclassed models are not).`);
  }
  const config = root.config;
  if (!isObject(config) || !Array.isArray(config.layers)) throw new ModelError(`${file}: the model config has no layer list.`);

  const problems: Problem[] = [];
  const known = tfjsLayerClasses();
  const refs: KerasLayerRef[] = [];
  const layers: Json[] = [];
  config.layers.forEach((entry: unknown, i: number) => {
    if (!isObject(entry) || typeof entry.class_name !== 'string') {
      problems.push({ layer: `#${i}`, reason: 'not a layer entry' });
      return;
    }
    const kerasClass = entry.class_name;
    const inner = isObject(entry.config) ? entry.config : {};
    const name = typeof entry.name === 'string' ? entry.name : typeof inner.name === 'string' ? inner.name : `${kerasClass.toLowerCase()}_${i}`;
    refs.push({ name, kerasClass });
    const origin = customOrigin(entry);
    if (CODE_LAYERS.has(kerasClass)) return void problems.push({ layer: name, reason: `${kerasClass}: Python code, never run` });
    if (origin) return void problems.push({ layer: name, reason: `custom class ${kerasClass}, ${origin}` });
    // keras.ops calls in a functional graph (x * 2, ops.mean) are operations, not layers: their non-tensor
    // arguments live only in the node, which tfjs's layers would not honour.
    if (typeof entry.module === 'string' && entry.module.startsWith('keras.src.ops')) {
      return void problems.push({ layer: name, reason: `the keras.ops operation ${kerasClass}, not a layer` });
    }
    if (MODEL_CLASSES.has(kerasClass)) return void problems.push({ layer: name, reason: `a nested ${kerasClass} model; flatten it into one model before saving` });
    const converted = layerConfig(name, kerasClass, inner, problems);
    if (!known.has(converted.className)) return void problems.push({ layer: name, reason: `${kerasClass}, which TensorFlow.js does not implement` });
    const layer: Json = { class_name: converted.className, config: converted.config, name };
    if ('inbound_nodes' in entry) layer.inbound_nodes = inboundNodes(name, entry.inbound_nodes, problems);
    layers.push(layer);
  });
  if (problems.length) throw new ModelError(describe(problems, file));

  let modelTopology: Json;
  if (modelClass === 'Sequential') {
    // tfjs's Sequential takes the input shape on its first layer, as Keras 2 wrote it; fold an InputLayer into it.
    const body = layers.filter((layer) => layer.class_name !== 'InputLayer');
    const input = layers.find((layer) => layer.class_name === 'InputLayer');
    const inputShape = (input?.config as Json | undefined)?.batch_input_shape ?? config.build_input_shape ?? (isObject(root.build_config) ? root.build_config.input_shape : undefined);
    if (!body.length) throw new ModelError(`${file}: the Sequential model has no layers.`);
    const first = body[0].config as Json;
    if (!Array.isArray(first.batch_input_shape)) {
      if (!Array.isArray(inputShape)) throw new ModelError(`${file}: the Sequential model does not record its input shape (build it, or give it an Input, before saving).`);
      first.batch_input_shape = inputShape;
    }
    for (const layer of body) delete layer.inbound_nodes;
    modelTopology = { class_name: 'Sequential', config: { name: config.name ?? 'sequential', layers: body.map(({ class_name, config: c }) => ({ class_name, config: c })) } };
  } else {
    const names = new Set(layers.map((layer) => layer.name as string));
    for (const layer of layers) {
      for (const node of (layer.inbound_nodes as unknown[][]) ?? []) {
        for (const tensor of node as unknown[][]) {
          if (!names.has(tensor[0] as string)) throw new ModelError(`${file}: layer "${String(layer.name)}" takes its input from "${String(tensor[0])}", which is not in the model.`);
        }
      }
    }
    modelTopology = {
      class_name: 'Model',
      config: { name: config.name ?? 'model', layers, input_layers: endpoints(config.input_layers), output_layers: endpoints(config.output_layers) },
    };
  }
  modelTopology.keras_version = kerasVersion ?? 'unknown';
  modelTopology.backend = 'tensorflow';
  return { modelTopology, layers: refs, kerasVersion };
}

/** Keras's naming.to_snake_case: how Keras 3 names a layer's group in model.weights.h5 (by class, not name). */
export function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}
