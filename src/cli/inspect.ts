/**
 * What a layer and a filter respond to, from a terminal:
 *   featuremaps IMAGE --layer L       a grid of the layer's channels for the image (a page at a time)
 *   filters --layer L                 the layer's convolution kernels as tiles
 *   maximize --layer L --filter K     an image that maximises the filter (from noise, or --from IMAGE)
 *   classimage --class C              an image that maximises the class score
 *   dream IMAGE --layer L [--filter K]   deep dream over octaves
 *   invert IMAGE --layer L            an image with the same representation at the layer
 */
import * as path from 'node:path';
import { writePngFile } from '../engine/image';
import { featureGrid, featureMaps, type FeatureOrder } from '../engine/inspect/featureMaps';
import { filterTiles } from '../engine/inspect/filters';
import type { Regularisers } from '../engine/inspect/ascent';
import { visualize, type VisualizationKind } from '../engine/inspect/visualize';
import { gridOf } from '../engine/render/grid';
import { COLORMAP_NAMES, type ColormapName, type RgbaImage } from '../engine/types';
import {
  checkOutputs,
  createEngine,
  imageLimits,
  integerFlag,
  loadFromFlags,
  numberFlag,
  oneOf,
  readImageForModel,
  UsageError,
  type Values,
} from './shared';

export const INSPECT_COMMANDS = ['featuremaps', 'filters', 'maximize', 'classimage', 'dream', 'invert'] as const;

async function write(image: RgbaImage, out: string): Promise<string> {
  const target = path.resolve(out);
  await writePngFile(target, image.data, image.width, image.height, 4);
  return target;
}

function regularisersFrom(values: Values): Partial<Regularisers> {
  const flags: [keyof Regularisers, string][] = [
    ['l2', 'l2'],
    ['blurEvery', 'blur-every'],
    ['blurSigma', 'blur-sigma'],
    ['jitter', 'jitter'],
    ['clipNorm', 'clip-norm'],
    ['clipContribution', 'clip-contribution'],
    ['tv', 'tv'],
  ];
  const result: Partial<Regularisers> = {};
  for (const [name, flag] of flags) {
    const value = numberFlag(values[flag as keyof Values] as string | undefined, flag);
    if (value !== undefined) result[name] = value;
  }
  if (result.clipNorm !== undefined && !(result.clipNorm >= 0 && result.clipNorm < 1))
    throw new UsageError('--clip-norm is a percentile from 0 to 1 (e.g. 0.3).');
  if (result.clipContribution !== undefined && !(result.clipContribution >= 0 && result.clipContribution < 1))
    throw new UsageError('--clip-contribution is a percentile from 0 to 1.');
  return result;
}

export async function inspectCommand(
  command: (typeof INSPECT_COMMANDS)[number],
  values: Values,
  imageArg: string | undefined,
): Promise<void> {
  const needsImage = command === 'featuremaps' || command === 'dream' || command === 'invert';
  if (needsImage && !imageArg) throw new UsageError(`${command} needs an IMAGE path.`);
  if (!values.out) throw new UsageError(`${command} needs --out PATH for the PNG it writes.`);
  await checkOutputs([path.resolve(values.out)]);
  const limits = imageLimits(values);
  const engine = await createEngine(values);
  try {
    const model = await loadFromFlags(engine, values);
    const layer = values.layer ?? model.summary.defaultLayer ?? undefined;
    if (command === 'featuremaps') {
      const { image } = await readImageForModel(imageArg!, model, limits);
      const sort = oneOf<FeatureOrder>(values.sort ?? 'mean', ['mean', 'index'], 'sort');
      const colormap = oneOf<ColormapName>(values.colormap ?? 'viridis', COLORMAP_NAMES, 'colormap');
      if (!layer) throw new UsageError('featuremaps needs --layer.');
      const maps = featureMaps(model, image, layer, sort);
      const pageSize = integerFlag(values['page-size'], 'page-size') ?? 64;
      const page = (integerFlag(values.page, 'page') ?? 1) - 1;
      const grid = featureGrid(maps, page, pageSize, colormap);
      const written = await write(grid.image, values.out);
      console.log(
        `${layer}: ${maps.channels} channels of ${maps.width}×${maps.height}, page ${page + 1} of ${grid.pages} (${sort} order): ${grid.channels.join(' ')}`,
      );
      console.log(`grid: ${written}`);
      return;
    }
    if (command === 'filters') {
      if (!layer) throw new UsageError('filters needs --layer.');
      const tiles = filterTiles(model, layer);
      const written = await write(gridOf(tiles.tiles, Math.ceil(Math.sqrt(tiles.tiles.length)), 2), values.out);
      console.log(
        `${layer}: ${tiles.tiles.length} ${tiles.kind === 'rgb' ? 'RGB' : 'per-channel'} ${tiles.kernel.join('×')} filters, each scaled on its own`,
      );
      console.log(`tiles: ${written}`);
      return;
    }
    const unit = values.unit?.split(',').map(Number);
    if (unit && (unit.length !== 2 || unit.some((v) => !Number.isInteger(v))))
      throw new UsageError(`--unit takes ROW,COLUMN; got "${values.unit}".`);
    const start = imageArg ?? values.from;
    const result = visualize(model, {
      kind: command as VisualizationKind,
      layer,
      filter: integerFlag(values.filter, 'filter'),
      unit: unit ? { y: unit[0], x: unit[1] } : undefined,
      classTarget: values.class,
      steps: integerFlag(values.steps, 'steps'),
      learningRate: numberFlag(values.lr, 'lr'),
      seed: integerFlag(values.seed, 'seed'),
      octaves: integerFlag(values.octaves, 'octaves'),
      octaveScale: numberFlag(values['octave-scale'], 'octave-scale'),
      regularisers: regularisersFrom(values),
      image: start ? (await readImageForModel(start, model, limits)).image : undefined,
      parameterisation: values.fourier ? 'fourier' : 'pixels',
    });
    const written = await write(result.image, values.out);
    const target =
      command === 'classimage'
        ? `class ${result.classIndex} (${model.labels[result.classIndex]})`
        : `${result.layer}${result.filter >= 0 ? ` filter ${result.filter}` : ''}`;
    const first = result.history[0];
    const last = result.history[result.history.length - 1];
    console.log(
      `${command} of ${target}: objective ${first.toPrecision(3)} → ${last.toPrecision(3)} in ${result.history.length} steps (seed ${result.settings.seed})`,
    );
    // The class image is named by its label: say how the labels were fitted, if they were.
    const labelsNote = command === 'classimage' ? model.summary.labelsNote : null;
    for (const note of [...result.notes, ...(labelsNote ? [labelsNote] : [])]) console.log(`  note: ${note}`);
    console.log(`image: ${written}`);
  } finally {
    engine.dispose();
  }
}
