/**
 * Convolution kernels as pictures. A first layer that reads RGB shows each filter as one colour tile
 * (as the seed projects' GoogLeNet / AlexNet figures); deeper layers show each filter as a grid of its
 * per-input-channel kernels in gray. Every filter is min-max normalised on its own, over all its values.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LoadedModel } from '../models/loadModel';
import { enlarge, gridOf, scaleToUnit } from '../render/grid';
import type { RgbaImage } from '../types';

export interface FilterTiles {
  layer: string;
  kind: 'rgb' | 'per-channel';
  /** One picture per output filter (for depthwise layers, per input channel). */
  tiles: RgbaImage[];
  kernel: [number, number];
}

/** Values of filter f of a [kh, kw, cin, cout] kernel as [kh][kw][cin] (row-major). */
function filterValues(kernel: Float32Array, shape: number[], f: number): Float32Array {
  const [kh, kw, cin, cout] = shape;
  const out = new Float32Array(kh * kw * cin);
  for (let i = 0; i < kh * kw * cin; i++) out[i] = kernel[i * cout + f];
  return out;
}

function gray(values: Float32Array, width: number, height: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  values.forEach((v, i) => data.set([Math.round(v * 255), Math.round(v * 255), Math.round(v * 255), 255], i * 4));
  return { width, height, data };
}

export function filterTiles(model: LoadedModel, layer: string, limit = 256): FilterTiles {
  const { summary, adapter } = model;
  const info = summary.layers.find((l) => l.name === layer);
  if (!info) throw new Error(`Model "${summary.name}" has no layer "${layer}".`);
  const kernelTensor: Tensor | undefined = adapter.layerWeights(layer).find((w) => w.rank === 4);
  if (!kernelTensor)
    throw new Error(`Layer "${layer}" (${info.kind}) has no convolution kernel; filter weights are shown for convolution layers.`);
  const shape = kernelTensor.shape;
  const kernel = kernelTensor.dataSync() as Float32Array;
  const [kh, kw, cin, cout] = shape;
  const depthwise = /depthwise/i.test(info.kind);
  const factor = Math.max(1, Math.floor(24 / Math.max(kh, kw)));
  const tiles: RgbaImage[] = [];
  if (depthwise) {
    // [kh, kw, channels, multiplier]: one gray tile per channel (and multiplier).
    for (let f = 0; f < Math.min(cin * cout, limit); f++) {
      const values = new Float32Array(kh * kw);
      for (let i = 0; i < kh * kw; i++) values[i] = kernel[i * cin * cout + f];
      tiles.push(enlarge(gray(scaleToUnit(values), kw, kh), factor));
    }
    return { layer, kind: 'per-channel', tiles, kernel: [kh, kw] };
  }
  for (let f = 0; f < Math.min(cout, limit); f++) {
    const values = scaleToUnit(filterValues(kernel, shape, f));
    if (cin === 3) {
      const data = new Uint8Array(kh * kw * 4);
      for (let p = 0; p < kh * kw; p++) data.set([...[0, 1, 2].map((c) => Math.round(values[p * 3 + c] * 255)), 255], p * 4);
      tiles.push(enlarge({ width: kw, height: kh, data }, factor));
      continue;
    }
    const perChannel = Array.from({ length: cin }, (_, c) => {
      const channel = new Float32Array(kh * kw);
      for (let p = 0; p < kh * kw; p++) channel[p] = values[p * cin + c];
      return enlarge(gray(channel, kw, kh), Math.max(1, Math.floor(factor / 2)));
    });
    tiles.push(gridOf(perChannel, Math.ceil(Math.sqrt(cin)), 1));
  }
  return { layer, kind: cin === 3 ? 'rgb' : 'per-channel', tiles, kernel: [kh, kw] };
}
