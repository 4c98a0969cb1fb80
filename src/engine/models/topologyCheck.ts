/**
 * model.json checks tfjs does not make, or makes with messages that say nothing to the user ("Improper
 * config format: {}", "Cannot read properties of undefined (reading 'producer')", "Unknown layer: Lambda…",
 * "dtype of the new value (int32) and previous value (float32) must match"): run on the artifacts before
 * tfjs builds anything, each failure a ModelError naming the file and what is wrong with it.
 */
import type { io } from '@tensorflow/tfjs-core';
import { describe, layerClassProblem, type Problem } from './keras/kerasConfig';
import { ModelError } from '../../files/modelFiles';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const keysOf = (value: Json) => (Object.keys(value).length ? `keys ${Object.keys(value).slice(0, 6).join(', ')}` : 'nothing: it is {}');

/** A TF.js layers model.json: a Keras model config tfjs can build, with float32 weights. */
export function checkLayersArtifacts(artifacts: io.ModelArtifacts, file: string): void {
  const topology = artifacts.modelTopology;
  const root = isObject(topology) && isObject(topology.model_config) ? topology.model_config : topology;
  if (!isObject(root) || typeof root.class_name !== 'string' || !('config' in root)) {
    const found = isObject(root) ? keysOf(root) : JSON.stringify(root);
    throw new ModelError(
      `${file}: modelTopology is not a Keras model config (it needs "class_name" and "config"; it has ${found}). The file is damaged or was not written by the TensorFlow.js converter.`,
    );
  }
  const modelClass = root.class_name;
  const config = root.config;
  const layers = modelClass === 'Sequential' && Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(layers)) {
    throw new ModelError(
      `${file}: the ${modelClass} model's config has no layer list (config: ${isObject(config) ? keysOf(config) : JSON.stringify(config)}).`,
    );
  }
  if (!layers.length)
    throw new ModelError(
      `${file}: the ${modelClass} model has no layers (its layer list is empty), so there is nothing to run or explain.`,
    );
  const problems: Problem[] = [];
  layers.forEach((entry: unknown, i) => {
    const name =
      isObject(entry) && isObject(entry.config) && typeof entry.config.name === 'string'
        ? entry.config.name
        : typeof (entry as Json)?.name === 'string'
          ? ((entry as Json).name as string)
          : `#${i}`;
    if (!isObject(entry) || typeof entry.class_name !== 'string')
      return void problems.push({ layer: name, reason: 'not a layer entry (no "class_name")' });
    const reason = layerClassProblem(entry.class_name);
    if (reason) problems.push({ layer: name, reason });
  });
  if (problems.length) throw new ModelError(describe(problems, file));
  if (modelClass !== 'Sequential' && isObject(config)) {
    for (const key of ['input_layers', 'output_layers']) {
      if (!Array.isArray(config[key]) || !(config[key] as unknown[]).length) {
        throw new ModelError(
          `${file}: the ${modelClass} model's config has no "${key}", so its ${key === 'input_layers' ? 'input' : 'output'} is unknown.`,
        );
      }
    }
  }
  for (const spec of artifacts.weightSpecs ?? []) {
    if (spec.dtype !== 'float32') {
      throw new ModelError(
        `${file}: weight "${spec.name}" ${JSON.stringify(spec.shape)} is stored as ${spec.dtype}; a layers model's weights are float32 (quantized ones say so in a "quantization" entry). The file is damaged or was edited.`,
      );
    }
  }
}

/** Graph ops whose inputs after the first are float weights (kernels, biases, batch-norm statistics). */
const FLOAT_WEIGHT_OPS = new Set([
  'Conv2D',
  'DepthwiseConv2dNative',
  'MatMul',
  'BiasAdd',
  '_FusedConv2D',
  'FusedDepthwiseConv2dNative',
  '_FusedMatMul',
  'FusedBatchNorm',
  'FusedBatchNormV2',
  'FusedBatchNormV3',
  'Conv2DBackpropInput',
]);

/** A TF.js graph model.json: a TensorFlow graph (not a Keras config marked "graph-model") with float weights. */
export function checkGraphArtifacts(artifacts: io.ModelArtifacts, file: string): void {
  const topology = artifacts.modelTopology;
  if (!isObject(topology) || !Array.isArray(topology.node)) {
    const keras = isObject(topology) && ('class_name' in topology || 'model_config' in topology);
    throw new ModelError(
      keras
        ? `${file} says it is a graph model ("format": "${String(artifacts.format)}") but its modelTopology is a Keras (layers) model config; set "format": "layers-model" in it, or convert the model again.`
        : `${file}: the graph model's modelTopology has no node list; the file is damaged or was not written by the TensorFlow.js converter.`,
    );
  }
  if (!topology.node.length) throw new ModelError(`${file}: the graph model has no nodes, so there is nothing to run or explain.`);
  topology.node.forEach((node: unknown, i: number) => checkGraphNode(node, i, file));
  const dtypes = new Map((artifacts.weightSpecs ?? []).map((spec) => [spec.name, spec.dtype]));
  for (const node of topology.node as { name?: string; op?: string; input?: string[] }[]) {
    if (!FLOAT_WEIGHT_OPS.has(node.op ?? '')) continue;
    for (const input of (node.input ?? []).slice(1)) {
      const dtype = dtypes.get(input.replace(/:\d+$/, ''));
      if (dtype && dtype !== 'float32') {
        throw new ModelError(
          `${file}: weight "${input}" is stored as ${dtype}, but node "${node.name}" (${node.op}) needs float32 values; the file is damaged or was edited.`,
        );
      }
    }
  }
}

/** tfjs-converter reads nodes without checking them (a number for `input` fails as "slice is not a function"). */
function checkGraphNode(node: unknown, index: number, file: string): void {
  const where = `${file}: node ${index} of the graph`;
  if (!isObject(node)) throw new ModelError(`${where} is not an object; the file is damaged or was edited.`);
  const name = typeof node.name === 'string' && node.name ? node.name : null;
  const bad = (what: string) => new ModelError(`${where}${name ? ` ("${name}")` : ''} ${what}; the file is damaged or was edited.`);
  if (!name) throw bad('has no name');
  if (typeof node.op !== 'string' || !node.op) throw bad('has no op');
  if (node.input !== undefined && (!Array.isArray(node.input) || node.input.some((input) => typeof input !== 'string'))) {
    throw bad('has inputs that are not a list of node names');
  }
  if (node.attr !== undefined && !isObject(node.attr)) throw bad('has attributes that are not an object');
  for (const [key, value] of Object.entries(node.attr ?? {})) {
    // String attributes are base64, which tfjs-converter decodes with atob ("not correctly encoded").
    const strings = isObject(value) ? [value.s, ...(isObject(value.list) && Array.isArray(value.list.s) ? value.list.s : [])] : [];
    if (strings.some((text) => text !== undefined && (typeof text !== 'string' || !BASE64.test(text)))) {
      throw bad(`has attribute "${key}" whose text is not base64`);
    }
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
