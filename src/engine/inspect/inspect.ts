/** One entry point for the panel's "Look inside" section: every view as a picture with a caption. */
import type { LoadedModel } from '../models/loadModel';
import { imageWindow, regionOf } from '../preprocess';
import { drawOverlay, resizeRgba } from '../render/overlay';
import { DISPLAY_MAX_SIDE, fitWithin } from '../../shared/display';
import { gridOf, scaleToUnit } from '../render/grid';
import type { InspectRequest, RgbaImage, TileLayout } from '../types';
import { channelMap, featureGrid, featureMaps } from './featureMaps';
import { filterTiles } from './filters';
import { visualize } from './visualize';

/** The request with the settings most callers leave at their defaults made optional. */
export type InspectOptions = Pick<InspectRequest, 'kind' | 'layer' | 'filter' | 'classIndex' | 'steps' | 'seed' | 'fourier'> &
  Partial<InspectRequest>;

/** What a picture shows, defaults resolved (its saved file is named after it). */
export interface InspectSubject {
  /** The layer looked into; null for the class image. */
  layer: string | null;
  /** The one filter (channel) shown or maximised; null for a whole layer. */
  filter: number | null;
  /** The class image's class label; null otherwise. */
  classLabel: string | null;
}

export interface InspectResult {
  image: RgbaImage;
  caption: string;
  history: number[];
  tiles: TileLayout | null;
  page: number;
  pages: number;
  subject: InspectSubject;
}

const FEATURE_PAGE = 64;

export function inspect(
  model: LoadedModel,
  image: RgbaImage,
  request: InspectOptions,
  checkCancelled: () => void = () => undefined,
  onPreview?: (image: RgbaImage, fraction: number) => void,
): InspectResult {
  const { summary } = model;
  const layer = request.layer ?? summary.defaultLayer;
  if (request.kind !== 'classimage' && !layer) throw new Error(`Model "${summary.name}" has no layer with a spatial output to look into.`);
  switch (request.kind) {
    case 'featuremaps': {
      const maps = featureMaps(model, image, layer!, request.sort ?? 'mean');
      if (request.filter !== null) {
        const map = channelMap(maps, request.filter);
        // Drawn over a display-size copy, on the part of the image the model saw.
        const size = fitWithin(image.width, image.height, DISPLAY_MAX_SIDE);
        // A copy either way: the overlay is drawn into it, and `image` is the worker's cached copy.
        const shown =
          size.width < image.width ? resizeRgba(image, size.width, size.height, checkCancelled) : { ...image, data: image.data.slice() };
        const region = regionOf(imageWindow(image, summary.inputShape, summary.preprocessing.resize));
        drawOverlay(
          { ...shown, channels: 4 },
          { heatmap: { ...map, data: scaleToUnit(map.data) }, colour: null, region },
          'viridis',
          0.6,
          checkCancelled,
        );
        const over = shown;
        const caption = `Channel ${request.filter} of ${layer} (${maps.width}×${maps.height}, mean ${maps.means[request.filter].toPrecision(3)}) over the image`;
        const subject = { layer: layer!, filter: request.filter, classLabel: null };
        return { image: over, caption, history: [], tiles: null, page: 0, pages: 1, subject };
      }
      const page = request.page ?? 0;
      const grid = featureGrid(maps, page, FEATURE_PAGE, 'viridis');
      const byIndex = request.sort === 'index';
      const [first, last] = [page * FEATURE_PAGE + 1, page * FEATURE_PAGE + grid.channels.length];
      const size = `${maps.width}×${maps.height}`;
      const shown =
        grid.pages === 1
          ? `all ${maps.channels} channels (${size}), ${byIndex ? 'in index order' : 'strongest first'}`
          : byIndex
            ? `channels ${first - 1}–${last - 1} of ${maps.channels} in index order (${size})`
            : `channels ranked ${first}–${last} of ${maps.channels} by mean activation (${size})`;
      return {
        image: grid.image,
        caption: `${layer}: ${shown}; click one to see it over the image`,
        history: [],
        tiles: grid.layout,
        page,
        pages: grid.pages,
        subject: { layer: layer!, filter: null, classLabel: null },
      };
    }
    case 'filters': {
      const tiles = filterTiles(model, layer!);
      const columns = Math.ceil(Math.sqrt(tiles.tiles.length));
      return {
        image: gridOf(tiles.tiles, columns, 2),
        caption: `${layer}: ${tiles.tiles.length} ${tiles.kind === 'rgb' ? 'RGB' : 'per-input-channel'} ${tiles.kernel.join('×')} kernels, each scaled on its own`,
        history: [],
        tiles: null,
        page: 0,
        pages: 1,
        subject: { layer: layer!, filter: null, classLabel: null },
      };
    }
    default: {
      const result = visualize(
        model,
        {
          kind: request.kind,
          layer: layer ?? undefined,
          filter: request.filter ?? undefined,
          classTarget: request.classIndex ?? 0,
          steps: request.steps ?? undefined,
          seed: request.seed,
          image:
            request.kind === 'dream' || request.kind === 'invert' || (request.kind === 'maximize' && request.fromImage) ? image : undefined,
          unit: request.kind === 'maximize' ? (request.unit ?? undefined) : undefined,
          regularisers: request.regularisers,
          parameterisation: request.fourier && (request.kind === 'maximize' || request.kind === 'classimage') ? 'fourier' : 'pixels',
        },
        checkCancelled,
        onPreview,
      );
      const what =
        request.kind === 'classimage'
          ? `class ${result.classIndex} (${model.labels[result.classIndex] ?? '?'})`
          : `${result.layer}${result.filter >= 0 ? ` filter ${result.filter}` : ''}`;
      const verb = { maximize: 'Maximises', classimage: 'Maximises', dream: 'Dreams on', invert: 'Inverts' }[request.kind];
      const first = result.history[0];
      const last = result.history[result.history.length - 1];
      return {
        image: result.image,
        caption: `${verb} ${what}: objective ${first.toPrecision(3)} → ${last.toPrecision(3)} in ${result.history.length} steps (seed ${result.settings.seed})${result.notes.length ? `. ${result.notes.join(' ')}` : ''}`,
        history: result.history,
        tiles: null,
        page: 0,
        pages: 1,
        subject:
          request.kind === 'classimage'
            ? { layer: null, filter: null, classLabel: model.labels[result.classIndex] ?? `class${result.classIndex}` }
            : { layer: result.layer, filter: result.filter >= 0 ? result.filter : null, classLabel: null },
      };
    }
  }
}
