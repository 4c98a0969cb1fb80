/**
 * Resize's interpolation tables as ONNX defines them, one per axis, in plain numbers: the TF.js executor
 * (resize.ts) multiplies by them, and onnxruntime's backward pass (accel/backward/resize.ts) by their
 * transposes. Also the node's settings and its output shape and scales, from values already read.
 */

/** Output i reads input indices[i][k] with weight weights[i][k]; outside[i]: tf_crop_and_resize's extrapolation. */
export interface Table {
  indices: number[][];
  weights: number[][];
  outside: boolean[];
}

export interface Settings {
  mode: 'nearest' | 'linear' | 'cubic';
  transform: string;
  nearest: string;
  cubicA: number;
  excludeOutside: boolean;
  antialias: boolean;
}

function nearestCoefficients(ratio: number, mode: string, downsampling: boolean): number[] {
  if (Number.isInteger(ratio)) return [0, 1];
  switch (mode) {
    case 'round_prefer_floor':
      return ratio <= 0.5 ? [1, 0] : [0, 1];
    case 'round_prefer_ceil':
      return ratio < 0.5 ? [1, 0] : [0, 1];
    case 'floor':
      return [1, 0];
    case 'ceil':
      return [0, 1];
    case 'simple': // Upsample and Resize-10 as onnxruntime runs them: ceil when downsampling, else floor
      return downsampling ? [0, 1] : [1, 0];
  }
  throw new Error(`nearest_mode "${mode}" is not one CNN Lens knows.`);
}

function cubicCoefficients(ratio: number, a: number): number[] {
  const r = ratio;
  const s = 1 - ratio;
  return [
    ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
    ((a + 2) * r - (a + 3)) * r * r + 1,
    ((a + 2) * s - (a + 3)) * s * s + 1,
    ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a,
  ];
}

/** Antialiased linear or cubic coefficients when downsampling: the filter widened by 1 / scale. */
function antialiasCoefficients(ratio: number, scale: number, cubic: boolean, a: number): number[] {
  const s = Math.min(scale, 1);
  const reach = cubic ? 2 : 1;
  const start = Math.floor(-reach / s) + 1;
  const count = 2 - 2 * start;
  const kernel = (x: number) => {
    const t = Math.abs(x);
    if (!cubic) return Math.max(1 - t, 0);
    if (t <= 1) return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1;
    if (t < 2) return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a;
    return 0;
  };
  const raw = Array.from({ length: count }, (_, i) => kernel(s * (start + i - ratio)));
  const sum = raw.reduce((p, c) => p + c, 0);
  return raw.map((c) => c / sum);
}

/** The source coordinate of output x, as ONNX's coordinate_transformation_mode defines it. */
function sourceOf(x: number, scale: number, input: number, output: number, transform: string, roi: [number, number]): number {
  const width = scale * input;
  switch (transform) {
    case 'align_corners':
      return width === 1 ? 0 : (x * (input - 1)) / (width - 1);
    case 'asymmetric':
      return x / scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / scale;
    case 'pytorch_half_pixel':
      return width === 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    case 'half_pixel':
      return (x + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const offset = (input / 2) * (1 - output / width);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case 'tf_crop_and_resize': {
      const [start, end] = roi;
      const base = width === 1 ? ((end - start) * (input - 1)) / 2 : (x * (end - start) * (input - 1)) / (width - 1);
      return base + start * (input - 1);
    }
  }
  throw new Error(`coordinate_transformation_mode "${transform}" is not one CNN Lens knows.`);
}

export function onnxTable(input: number, output: number, scale: number, settings: Settings, roi: [number, number]): Table {
  const table: Table = { indices: [], weights: [], outside: [] };
  for (let x = 0; x < output; x++) {
    const source = sourceOf(x, scale, input, output, settings.transform, roi);
    if (settings.transform === 'tf_crop_and_resize' && (source < 0 || source > input - 1)) {
      table.indices.push([]);
      table.weights.push([]);
      table.outside.push(true);
      continue;
    }
    // The neighbour on the left is preferred: ratio in (0, 1].
    const base = Number.isInteger(source) ? source - 1 : Math.floor(source);
    const ratio = source - base;
    let coefficients: number[];
    if (settings.mode === 'nearest') coefficients = nearestCoefficients(ratio, settings.nearest, scale < 1);
    else if (settings.antialias && scale < 1)
      coefficients = antialiasCoefficients(ratio, scale, settings.mode === 'cubic', settings.cubicA);
    else coefficients = settings.mode === 'linear' ? [1 - ratio, ratio] : cubicCoefficients(ratio, settings.cubicA);
    const first = base + 1 - coefficients.length / 2;
    let indices = coefficients.map((_, k) => first + k);
    if (settings.excludeOutside) {
      coefficients = coefficients.map((c, k) => (indices[k] < 0 || indices[k] >= input ? 0 : c));
      const sum = coefficients.reduce((p, c) => p + c, 0);
      coefficients = coefficients.map((c) => c / sum);
    }
    indices = indices.map((i) => Math.min(Math.max(i, 0), input - 1));
    table.indices.push(indices);
    table.weights.push(coefficients);
    table.outside.push(false);
  }
  return table;
}

/** The table as an [output, input] matrix, row-major: weights reading the same input add up. */
export function tableMatrix(table: Table, input: number): Float32Array {
  const data = new Float32Array(table.indices.length * input);
  table.indices.forEach((row, i) => row.forEach((j, k) => (data[i * input + j] += table.weights[i][k])));
  return data;
}

/** Reads a node attribute: a string, an int or a float, or undefined where the node leaves it out. */
export type AttributeReader = (name: string) => string | number | undefined;

/** The node's interpolation settings; Upsample and Resize before opset 11 have fixed ones. */
export function settingsOf(op: string, opset: number, read: AttributeReader, what: string): Settings {
  const text = (name: string, fallback: string) => {
    const v = read(name);
    return typeof v === 'string' ? v : fallback;
  };
  const number = (name: string, fallback: number) => {
    const v = read(name);
    return typeof v === 'number' ? v : fallback;
  };
  const raw = text('mode', 'nearest');
  const mode = raw === 'bilinear' ? 'linear' : raw;
  if (mode !== 'nearest' && mode !== 'linear' && mode !== 'cubic') throw new Error(`${what} has mode "${raw}".`);
  const legacy = op === 'Upsample' || opset < 11;
  return {
    mode,
    transform: legacy ? 'asymmetric' : text('coordinate_transformation_mode', 'half_pixel'),
    nearest: legacy ? 'simple' : text('nearest_mode', 'round_prefer_floor'),
    cubicA: number('cubic_coeff_a', -0.75),
    excludeOutside: number('exclude_outside', 0) === 1,
    antialias: number('antialias', 0) === 1,
  };
}

export interface Plan {
  outputShape: number[];
  scales: number[];
  roi: [number, number][];
}

/** What a Resize reads besides the data: empty lists read as absent; `axes` (opset 18) already normalised. */
export interface PlanArguments {
  scales: number[] | null;
  sizes: number[] | null;
  roi: number[] | null;
  axes: number[] | null;
  /** keep_aspect_ratio_policy (opset 18). */
  policy: string;
}

/** Output shape and per-axis scales from scales or sizes (with axes and keep_aspect_ratio_policy, opset 18). */
export function planOf(args: PlanArguments, shape: number[], what: string): Plan {
  const present = (v: number[] | null) => (v?.length ? v : null);
  const [scalesIn, sizesIn, roiIn] = [present(args.scales), present(args.sizes), present(args.roi)];
  const axes = args.axes ?? Array.from({ length: shape.length }, (_, i) => i);
  const given = scalesIn ?? sizesIn;
  if (!given) throw new Error(`${what} has neither scales nor sizes.`);
  if (given.length !== axes.length)
    throw new Error(`${what} has ${given.length} ${scalesIn ? 'scales' : 'sizes'} for ${axes.length} axes.`);
  const scales = shape.map(() => 1);
  const outputShape = [...shape];
  if (scalesIn) {
    axes.forEach((a, i) => {
      scales[a] = scalesIn[i];
      outputShape[a] = Math.floor(shape[a] * scalesIn[i]);
    });
  } else {
    axes.forEach((a, i) => {
      scales[a] = sizesIn![i] / shape[a];
      outputShape[a] = sizesIn![i];
    });
    if (args.policy !== 'stretch') {
      const chosen = axes.map((a) => scales[a]);
      const scale = args.policy === 'not_larger' ? Math.min(...chosen) : args.policy === 'not_smaller' ? Math.max(...chosen) : NaN;
      if (Number.isNaN(scale)) throw new Error(`${what} has keep_aspect_ratio_policy "${args.policy}".`);
      axes.forEach((a) => {
        scales[a] = scale;
        outputShape[a] = Math.floor(scale * shape[a] + 0.5);
      });
    }
  }
  const roi = shape.map((): [number, number] => [0, 1]);
  if (roiIn) axes.forEach((a, i) => (roi[a] = [roiIn[i], roiIn[axes.length + i]]));
  return { outputShape, scales, roi };
}
