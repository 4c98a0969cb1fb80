/**
 * What a model must give to be explained: one vector of class scores per image. Every adapter asks this
 * module which output to read and how many classes it holds, so a feature map, a sequence or a second
 * head is refused at load, by name and shape, instead of becoming "3136 classes".
 *
 * The rule: the output has a batch axis first and, of its other axes, at most one longer than 1 — so
 * [batch, classes], [batch, 1, 1, classes] (a 1×1 convolution head) and [batch, classes, 1, 1] (its NCHW
 * form) are vectors; [batch, 1] is one score (a sigmoid detector); anything with two axes longer than 1
 * ([batch, 7, 7, 64], [batch, 56, 56], [batch, 3, 1000]) is not, whatever its size. Tensorflow.js, tfjs graph
 * and ONNX shapes are read the same way (for graph and ONNX files, from a run on one zero image).
 */
import { ModelError } from '../../files/modelFiles';

/** What loadModel hands an adapter besides the model itself. */
export interface AdapterOptions {
  /**
   * The output to explain, for models with several (cnnlens.json "output"): an output's name as
   * `describeOutputs` lists it (a layer name for TF.js layers and Keras models, a node or tensor name
   * for graph and ONNX models).
   */
  output?: string;
  /** Where `output` was chosen (--output, a cnnlens.json, the cnnLens.modelOutput setting), for messages. */
  outputSource?: string;
  /** The model file, named in messages; without it they start "The model" (loadModel adds the file). */
  file?: string;
}

export interface OutputInfo {
  name: string;
  /** With the batch axis; null (or a negative or symbolic size) where the model leaves it open. */
  shape: readonly (number | null)[];
}

export function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null || d < 0 ? '?' : String(d))).join(', ')}]`;
}

function listOutputs(outputs: readonly OutputInfo[]): string {
  return outputs.map((o) => `"${o.name}" ${shapeText(o.shape)}`).join(', ');
}

/** A ModelError naming the file when the adapter knows it; otherwise a plain Error, which loadModel prefixes with it. */
export function loadError(file: string | undefined, message: string): Error {
  return file ? new ModelError(`${file}: ${message}`) : new Error(message.charAt(0).toUpperCase() + message.slice(1));
}

/** A name as a shell word: quoted when it holds anything but letters, digits and . / : _ -. */
const shellWord = (name: string) => (/^[\w./:-]+$/.test(name) ? name : `'${name.replace(/'/g, `'\\''`)}'`);

const sameName = (name: string, wanted: string) => name === wanted || name.replace(/:0$/, '') === wanted.replace(/:0$/, '');

/**
 * The index of the output to explain: the one output, or the chosen one. Several outputs and no choice,
 * or a choice that names none of them, are refused with every output's name and shape.
 */
export function chooseOutput(outputs: readonly OutputInfo[], options: AdapterOptions): number {
  if (!outputs.length) throw loadError(options.file, 'the model declares no output.');
  if (options.output !== undefined) {
    const index = outputs.findIndex((o) => sameName(o.name, options.output!));
    if (index < 0) {
      const by = options.outputSource ? ` (by ${options.outputSource})` : '';
      throw loadError(
        options.file,
        `the chosen output "${options.output}"${by} is not one of the model's outputs: ${listOutputs(outputs)}.`,
      );
    }
    return index;
  }
  if (outputs.length > 1) {
    throw loadError(
      options.file,
      `the model has ${outputs.length} outputs: ${listOutputs(outputs)}. CNN Lens explains one vector of class scores per image; name the output to explain in cnnlens.json ("output": "${outputs[0].name}"), with --output ${shellWord(outputs[0].name)} on the command line or the cnnLens.modelOutput setting.`,
    );
  }
  return 0;
}

/** The class count of an output that is a vector of scores per image (see the rule above); refuses any other. */
export function classCountOf(output: OutputInfo, options: AdapterOptions, outputCount = 1): number {
  const { shape } = output;
  const where = `output "${output.name}" has shape ${shapeText(shape)}`;
  if (shape.length < 2) {
    throw loadError(options.file, `${where}: no batch axis, so it is not class scores per image. CNN Lens needs [batch, classes].`);
  }
  const long = shape.slice(1).filter((d) => d !== 1);
  if (long.length > 1) {
    const size = long.every((d) => d !== null && d > 0) ? ` (${long.join(' × ')} values per image)` : '';
    throw loadError(
      options.file,
      `${where}, which is not a vector of class scores per image${size}: CNN Lens needs [batch, classes] (axes of size 1 aside, e.g. [batch, 1, 1, classes]). This looks like a feature map or a detector's output; export the model up to its classifier${outputCount > 1 ? ', or name another output in cnnlens.json' : ''}.`,
    );
  }
  const classes = long.length ? long[0] : 1;
  if (classes === null || classes <= 0) throw loadError(options.file, `${where}: the number of classes is not fixed.`);
  return classes;
}

/** An image input larger than this per side is a damaged file, not a model (the largest common classifiers take 600). */
const MAX_INPUT_SIDE = 8192;

/**
 * The model's [height, width, channels]: positive integers of a sane size, or a message naming the input.
 * A file can declare anything here, and tensors of that size are made for every run.
 */
export function checkImageInput(shape: readonly unknown[], what: string, file?: string): [number, number, number] {
  const fine = shape.length === 3 && shape.every((d) => Number.isInteger(d) && (d as number) > 0 && (d as number) <= MAX_INPUT_SIDE);
  if (!fine) {
    throw loadError(
      file,
      `${what} has size ${JSON.stringify(shape)} (height, width, channels); CNN Lens needs whole numbers from 1 to ${MAX_INPUT_SIDE} that fix the image size.`,
    );
  }
  return shape as [number, number, number];
}
