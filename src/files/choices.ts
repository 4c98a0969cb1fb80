/**
 * The values model files and settings choose among: input scalings, channel orders and resize policies
 * (cnnlens.json, the configure flow), the `cnnLens.backend` setting's names, and the image file endings the
 * engine reads. Plain data, no tfjs: the extension host imports them at run time; engine/types.ts re-exports
 * them so engine code keeps one place to import its types from.
 */
import * as path from 'node:path';

/**
 * The file name endings of each image format the engine reads (image/probe.ts's ImageFormat), lower case.
 * (Not typed by ImageFormat: the host's type-check must not reach the codecs.)
 */
const EXTENSIONS_BY_FORMAT: Record<string, readonly string[]> = {
  png: ['png'],
  jpeg: ['jpg', 'jpeg'],
  gif: ['gif'],
  bmp: ['bmp'],
  webp: ['webp'],
  tiff: ['tif', 'tiff'],
  avif: ['avif'],
};

/** Every image file ending the engine reads: the file picker's filter and the CLI's folders and globs. */
export const IMAGE_EXTENSIONS: readonly string[] = Object.values(EXTENSIONS_BY_FORMAT).flat();

/** Whether a file's name (a path, or a URI's path) ends in an image extension; `.png` alone is a hidden file, not an image. */
export function isImageName(file: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.posix.extname(file.replace(/\\/g, '/')).slice(1).toLowerCase());
}

export const RESIZE_MODES = ['stretch', 'center-crop'] as const;
export const INTERPOLATIONS = ['bilinear', 'bicubic', 'nearest', 'area'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

/**
 * How an image becomes the model's input size. `stretch`: the whole image to the input size (aspect not
 * kept). `center-crop`: the shorter side to `shorterSide`, then the input size cut from the centre
 * (torchvision's Resize(256) + CenterCrop(224)). `antialias`: downscaling filters over every source pixel
 * it covers (PIL, torchvision on PIL images); off = tf.image.resize's default, which samples.
 */
export interface ResizePolicy {
  mode: (typeof RESIZE_MODES)[number];
  /** center-crop only; default: the input's shorter side × 256/224. */
  shorterSide?: number;
  interpolation: Interpolation;
  antialias: boolean;
}

export const DEFAULT_RESIZE: ResizePolicy = { mode: 'stretch', interpolation: 'bilinear', antialias: true };

/** The `cnnLens.backend` setting's values (backend.ts picks one; the host only validates the setting). */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export const SCALING_PRESETS = ['mobilenet', 'zero-one', 'imagenet', 'caffe', 'raw'] as const;
export type ScalingPreset = (typeof SCALING_PRESETS)[number];

export const CHANNEL_ORDERS = ['rgb', 'bgr'] as const;
export type ChannelOrder = (typeof CHANNEL_ORDERS)[number];

/** How an image becomes the model's input, and how its outputs are named. */
export interface Preprocessing {
  preset: ScalingPreset;
  /** Channel order the model reads; absent = RGB. (The caffe preset is BGR by definition.) */
  channelOrder?: ChannelOrder;
  /** How images are resized to the input; absent = DEFAULT_RESIZE. */
  resize?: ResizePolicy;
  /** Where the setting came from, for messages ("cnnlens.json", "settings", "CLI", "default"). */
  source: string;
}
