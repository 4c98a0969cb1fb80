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
 *
 * Here: the generic part and the model's structure. Beside it: activations (kerasActivations.ts), each
 * class's settings (kerasLayerConfigs.ts), inbound nodes (kerasNodes.ts), keras.ops operations saved in a
 * functional graph (kerasOps.ts), and the Keras layers tfjs-layers lacks — Normalization, ConvNeXt's
 * LayerScale, MultiHeadAttention — written for CNN Lens (customLayers/).
 */
import { tf, tfl } from '../../tfjs/tf';
import { ModelError } from '../../../files/modelFiles';
import { KERAS_ONLY_LAYERS } from './customLayers';
import { tfjsActivation } from './kerasActivations';
import { customOrigin, isObject, type Json, type Problem } from './kerasJson';
import { classConfig, type Translated } from './kerasLayerConfigs';
import { endpoints, inboundNodes } from './kerasNodes';
import { translateOperation } from './kerasOps';

export type { Problem };

/** A layer as the Keras file lists it: its name and its Keras class (weights are found by these). */
export interface KerasLayerRef {
  name: string;
  kerasClass: string;
  /** A grouped Conv2D built as a depthwise convolution: its group count (kerasModel.ts reshapes its kernel). */
  groups?: number;
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
  'Identity',
  'SpatialDropout2D',
  'SpatialDropout3D',
  'ActivityRegularization',
  'RandomFlip',
  'RandomRotation',
  'RandomZoom',
  'RandomTranslation',
  'RandomContrast',
  'RandomBrightness',
  'RandomErasing',
  'RandomGrayscale',
  'RandomHue',
  'RandomSaturation',
  'RandomSharpness',
  'RandomColorJitter',
  'RandomPosterization',
  'RandomInvert',
  'RandomGaussianBlur',
  'RandomPerspective',
  'RandomShear',
  'RandomElasticTransform',
]);
let layerClasses: Set<string> | null = null;

/** Layer classes tfjs-layers can deserialise (its serialization registry also holds initialisers etc.). */
function tfjsLayerClasses(): Set<string> {
  if (!layerClasses) {
    const registry = (tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, [unknown, unknown]> })
      .classNameMap;
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
  if (!tfjsLayerClasses().has(className) || KERAS_ONLY_LAYERS.has(className)) return `${className}, which TensorFlow.js does not implement`;
  return null;
}

/** A dtype or dtype policy → the tfjs dtype (tfjs computes in float32 whatever the policy). */
function dtypeOf(value: unknown): string | undefined {
  const name = isObject(value) ? (isObject(value.config) ? value.config.name : undefined) : value;
  if (typeof name !== 'string') return undefined;
  if (/^(mixed_)?(b?float16|float32|float64)$/.test(name)) return 'float32';
  return name;
}

const DROPPED_KEYS = new Set(['quantization_config', 'lora_rank', 'lora_alpha', 'synchronized', 'optional', 'build_config']);

/** The generic part of a layer config's translation: initialisers, regularisers, dtypes, the activation. */
function genericConfig(name: string, kerasClass: string, config: Json, problems: Problem[]): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.endsWith('_initializer')) out[key] = value === null ? null : { class_name: 'Zeros', config: {} };
    else if (key.endsWith('_regularizer') || key.endsWith('_constraint')) out[key] = null;
    else if (key === 'dtype') out[key] = dtypeOf(value) ?? 'float32';
    else if (key === 'activation') {
      if (value === null || value === undefined) continue;
      const activation = tfjsActivation(value);
      if ('problem' in activation) problems.push({ layer: name, reason: `${kerasClass} with ${activation.problem}` });
      else out[key] = activation.name;
    } else if (!DROPPED_KEYS.has(key)) out[key] = value;
  }
  out.name = name;
  if (config.quantization_config)
    problems.push({ layer: name, reason: `${kerasClass} quantized (${JSON.stringify(config.quantization_config).slice(0, 60)})` });
  return out;
}

/** Converts one layer's config; problems are collected, not thrown. */
function layerConfig(name: string, kerasClass: string, config: Json, problems: Problem[]): Translated {
  const out = genericConfig(name, kerasClass, config, problems);
  if (IDENTITY_AT_INFERENCE.has(kerasClass)) return { className: 'Dropout', config: { name, trainable: false, dtype: 'float32', rate: 0 } };
  return classConfig(name, kerasClass, config, out, problems);
}

/** Where a Keras 3 functional graph keeps keras.ops calls (`inputs + x`): operations, not layers. */
const isOperation = (entry: Json) => typeof entry.module === 'string' && entry.module.startsWith('keras.src.ops');

/** Why a layer entry cannot be built whatever its config says; null when it may be. */
function entryProblem(entry: Json, kerasClass: string): string | null {
  const origin = customOrigin(entry);
  if (CODE_LAYERS.has(kerasClass)) return `${kerasClass}: Python code, never run`;
  if (origin) return `custom class ${kerasClass}, ${origin}`;
  if (MODEL_CLASSES.has(kerasClass)) return `a nested ${kerasClass} model; flatten it into one model before saving`;
  // Keras applications define LayerScale in the application's module; elsewhere in keras.* it would be another class.
  const module = entry.module;
  if (kerasClass === 'LayerScale' && typeof module === 'string' && !/^keras(\.src)?\.applications\.convnext$/.test(module))
    return `LayerScale from ${module}, not Keras's ConvNeXt`;
  return null;
}

function refused(problems: Problem[], layer: string, reason: string): null {
  problems.push({ layer, reason });
  return null;
}

/** One config entry → the tfjs layer entry (null when refused), its weight reference added to `refs`. */
function translateEntry(entry: unknown, i: number, refs: KerasLayerRef[], problems: Problem[]): Json | null {
  if (!isObject(entry) || typeof entry.class_name !== 'string') return refused(problems, `#${i}`, 'not a layer entry');
  const kerasClass = entry.class_name;
  const inner = isObject(entry.config) ? entry.config : {};
  const name =
    typeof entry.name === 'string' ? entry.name : typeof inner.name === 'string' ? inner.name : `${kerasClass.toLowerCase()}_${i}`;
  const problem = entryProblem(entry, kerasClass);
  if (problem) return refused(problems, name, problem);
  // Operations hold no weights and Keras numbers weight groups over layers only (Functional.layers).
  const converted = isOperation(entry) ? translateOperation(entry, name, problems) : layerConfig(name, kerasClass, inner, problems);
  const groups = (converted as Translated | null)?.groups;
  if (!isOperation(entry)) refs.push({ name, kerasClass, ...(groups ? { groups } : {}) });
  if (!converted) return null;
  if (!tfjsLayerClasses().has(converted.className)) return refused(problems, name, `${kerasClass}, which TensorFlow.js does not implement`);
  const layer: Json = { class_name: converted.className, config: converted.config, name };
  if ('inbound_nodes' in entry) layer.inbound_nodes = inboundNodes(name, kerasClass, entry.inbound_nodes, problems);
  return layer;
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
    throw new ModelError(
      `${file}: the model is a ${String(modelClass)}${customOrigin(root) ? ` (${customOrigin(root)})` : ''}, not a Keras Sequential or Functional model; CNN Lens imports models whose whole architecture is in the file (subclassed models are not).`,
    );
  }
  const config = root.config;
  if (!isObject(config) || !Array.isArray(config.layers)) throw new ModelError(`${file}: the model config has no layer list.`);

  const problems: Problem[] = [];
  const refs: KerasLayerRef[] = [];
  const layers: Json[] = [];
  config.layers.forEach((entry: unknown, i: number) => {
    const layer = translateEntry(entry, i, refs, problems);
    if (layer) layers.push(layer);
  });
  if (problems.length) throw new ModelError(describe(problems, file));

  let modelTopology: Json;
  if (modelClass === 'Sequential') {
    // tfjs's Sequential takes the input shape on its first layer, as Keras 2 wrote it; fold an InputLayer into it.
    const body = layers.filter((layer) => layer.class_name !== 'InputLayer');
    const input = layers.find((layer) => layer.class_name === 'InputLayer');
    const inputShape =
      (input?.config as Json | undefined)?.batch_input_shape ??
      config.build_input_shape ??
      (isObject(root.build_config) ? root.build_config.input_shape : undefined);
    if (!body.length) throw new ModelError(`${file}: the Sequential model has no layers.`);
    const first = body[0].config as Json;
    if (!Array.isArray(first.batch_input_shape)) {
      if (!Array.isArray(inputShape))
        throw new ModelError(
          `${file}: the Sequential model does not record its input shape (build it, or give it an Input, before saving).`,
        );
      first.batch_input_shape = inputShape;
    }
    for (const layer of body) delete layer.inbound_nodes;
    modelTopology = {
      class_name: 'Sequential',
      config: { name: config.name ?? 'sequential', layers: body.map(({ class_name, config: c }) => ({ class_name, config: c })) },
    };
  } else {
    const names = new Set(layers.map((layer) => layer.name as string));
    for (const layer of layers) {
      for (const node of (layer.inbound_nodes as unknown[][]) ?? []) {
        for (const tensor of node as unknown[][]) {
          if (!names.has(tensor[0] as string))
            throw new ModelError(
              `${file}: layer "${String(layer.name)}" takes its input from "${String(tensor[0])}", which is not in the model.`,
            );
        }
      }
    }
    modelTopology = {
      class_name: 'Model',
      config: {
        name: config.name ?? 'model',
        layers,
        input_layers: endpoints(config.input_layers),
        output_layers: endpoints(config.output_layers),
      },
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
