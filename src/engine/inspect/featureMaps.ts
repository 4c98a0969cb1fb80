/**
 * Feature maps: every channel of a layer's output for the current image, with per-channel statistics
 * and an order (by mean activation, strongest first, or by index) for paging through wide layers. NaN or
 * infinity in the layer's output is refused (finite.ts names the first layer that produced them): a grid of
 * such values would only look flat.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { hasNonFinite, nonFiniteError } from '../finite';
import type { LoadedModel } from '../models/loadModel';
import { modelPixels, modelScaler } from '../preprocess';
import { gridOf, mapTile, enlarge } from '../render/grid';
import { tf } from '../tfjs/tf';
import type { ColormapName, Heatmap, RgbaImage, TileLayout } from '../types';

export interface FeatureMaps {
  layer: string;
  width: number;
  height: number;
  channels: number;
  /** [height, width, channels] row-major: channel k of pixel p is values[p · channels + k]. */
  values: Float32Array;
  means: Float32Array;
  maxima: Float32Array;
  /** Channel indices in display order. */
  order: number[];
}

export type FeatureOrder = 'mean' | 'index';

export function featureMaps(model: LoadedModel, image: RgbaImage, layer: string, sort: FeatureOrder = 'mean'): FeatureMaps {
  const { adapter, summary } = model;
  const info = summary.layers.find((l) => l.name === layer);
  if (!info) throw new Error(`Model "${summary.name}" has no layer "${layer}".`);
  if (!info.camCapable)
    throw new Error(
      `Layer "${layer}" has output shape [${info.outputShape.join(', ')}]; feature maps need a spatial (height × width × channels) layer.`,
    );
  const input = tf.tidy(() => modelScaler(summary)(modelPixels(image, summary)));
  try {
    const maps = tf.tidy(() => {
      const output = adapter.layerOutput(input, layer) as Tensor4D;
      const [, height, width, channels] = output.shape;
      const means = tf.mean(output, [0, 1, 2]).dataSync() as Float32Array;
      const maxima = tf.max(output, [0, 1, 2]).dataSync() as Float32Array;
      const indices = Array.from({ length: channels }, (_, k) => k);
      const order = sort === 'mean' ? indices.sort((a, b) => means[b] - means[a] || a - b) : indices;
      return { layer, width, height, channels, values: output.dataSync() as Float32Array, means, maxima, order };
    });
    if (hasNonFinite(maps.values))
      throw nonFiniteError(model, input, `feature maps of layer "${layer}"`, {
        otherwise: `layer "${layer}" is the first to produce them; its weights or its input overflow float32's range`,
      });
    return maps;
  } finally {
    input.dispose();
  }
}

/** Channel k as a map at the layer's resolution. */
export function channelMap(maps: FeatureMaps, k: number): Heatmap {
  if (!Number.isInteger(k) || k < 0 || k >= maps.channels)
    throw new Error(`Layer "${maps.layer}" has ${maps.channels} channels (0 to ${maps.channels - 1}); got ${k}.`);
  const data = new Float32Array(maps.width * maps.height);
  for (let p = 0; p < data.length; p++) data[p] = maps.values[p * maps.channels + k];
  return { width: maps.width, height: maps.height, data };
}

/** One page of channels (in display order) as a grid, each tile scaled on its own. */
export function featureGrid(
  maps: FeatureMaps,
  page: number,
  pageSize: number,
  colormap: ColormapName,
): { image: RgbaImage; channels: number[]; pages: number; layout: TileLayout } {
  const pages = Math.max(1, Math.ceil(maps.channels / pageSize));
  if (!Number.isInteger(page) || page < 0 || page >= pages)
    throw new Error(`Layer "${maps.layer}" has ${pages} page(s) of ${pageSize} channels; got page ${page + 1}.`);
  const channels = maps.order.slice(page * pageSize, (page + 1) * pageSize);
  const factor = Math.max(1, Math.floor(48 / Math.max(maps.width, maps.height)));
  const tiles = channels.map((k) => enlarge(mapTile(channelMap(maps, k).data, maps.width, maps.height, colormap), factor));
  const layout: TileLayout = {
    columns: Math.ceil(Math.sqrt(channels.length)),
    tileWidth: maps.width * factor,
    tileHeight: maps.height * factor,
    gap: 2,
    channels,
  };
  return { image: gridOf(tiles, layout.columns, layout.gap), channels, pages, layout };
}
