/**
 * Image → model input. The image is resized to the model's input size as the model's resize policy says
 * (stretched, or shorter side + centre crop; antialiased by default, as PIL and torchvision do), alpha is
 * dropped, and the scaling preset maps 0..255 RGB to what the model was trained on.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { resampleToRgb, type OutputWindow } from './image/resample';
import { tf } from './tfjs/tf';
import {
  DEFAULT_RESIZE,
  type ChannelOrder,
  type ModelSummary,
  type Region,
  type ResizePolicy,
  type RgbaImage,
  type ScalingPreset,
} from './types';

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Caffe models take BGR with the per-channel means subtracted (in BGR order). */
const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

export function scale(rgb255: Tensor4D, preset: ScalingPreset): Tensor4D {
  return tf.tidy(() => {
    switch (preset) {
      case 'mobilenet':
        return rgb255.div(127.5).sub(1) as Tensor4D;
      case 'zero-one':
        return rgb255.div(255) as Tensor4D;
      case 'imagenet':
        return rgb255.div(255).sub(IMAGENET_MEAN).div(IMAGENET_STD) as Tensor4D;
      case 'caffe':
        return tf.reverse(rgb255, -1).sub(CAFFE_MEAN_BGR) as Tensor4D;
      case 'raw':
        return rgb255.clone();
    }
  });
}

/**
 * Which pixels of the resized image the model sees: the whole of it (stretch), or the input-sized centre
 * of the image resized so its shorter side is `shorterSide`, with torchvision's integer arithmetic:
 * Resize truncates the longer side (int(size·long/short)), CenterCrop rounds the offset half to even.
 */
export function inputWindow(
  imageWidth: number,
  imageHeight: number,
  inputShape: readonly number[],
  policy: ResizePolicy = DEFAULT_RESIZE,
): OutputWindow {
  const [height, width] = inputShape;
  if (policy.mode === 'stretch') return { fullWidth: width, fullHeight: height, x: 0, y: 0, width, height };
  const shorter = Math.max(policy.shorterSide ?? Math.round((Math.min(width, height) * 256) / 224), width, height);
  const longer = (long: number, short: number) => Math.max(width, height, Math.floor((shorter * long) / short));
  const [fullWidth, fullHeight] =
    imageWidth <= imageHeight ? [shorter, longer(imageHeight, imageWidth)] : [longer(imageWidth, imageHeight), shorter];
  return { fullWidth, fullHeight, x: roundHalfEven((fullWidth - width) / 2), y: roundHalfEven((fullHeight - height) / 2), width, height };
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The window for an image or a reduced copy of it: computed on the full size (torchvision's integer
 * arithmetic on the photo's own size), and valid on any copy, since the resampler scales its taps to
 * whatever it reads.
 */
export function imageWindow(image: RgbaImage, inputShape: readonly number[], policy: ResizePolicy = DEFAULT_RESIZE): OutputWindow {
  const size = image.full ?? image;
  return inputWindow(size.width, size.height, inputShape, policy);
}

/** The window as fractions of the image: where a map of the input lies on any copy of the image. */
export function regionOf(window: OutputWindow): Region {
  return {
    x: window.x / window.fullWidth,
    y: window.y / window.fullHeight,
    width: window.width / window.fullWidth,
    height: window.height / window.fullHeight,
  };
}

/**
 * The resized RGB of an image, kept per image object and policy: the worker holds one image per open
 * panel, so a class, layer or technique change reuses the resize and redoes only the model work.
 */
const resizedCache = new WeakMap<RgbaImage, Map<string, Float32Array>>();

function resizedRgb(image: RgbaImage, window: OutputWindow, policy: ResizePolicy, checkCancelled?: () => void): Float32Array {
  const key = JSON.stringify([window, policy.interpolation, policy.antialias]);
  let perImage = resizedCache.get(image);
  const cached = perImage?.get(key);
  if (cached) return cached;
  const rgb = resampleToRgb(image, window, policy, checkCancelled);
  if (!perImage) resizedCache.set(image, (perImage = new Map()));
  if (perImage.size >= 4) perImage.delete(perImage.keys().next().value!);
  perImage.set(key, rgb);
  return rgb;
}

/** A batch of one resized to the model's input, still 0..255 (luminance for 1-channel models). */
export function toModelPixels(
  image: RgbaImage,
  inputShape: [number, number, number],
  policy: ResizePolicy = DEFAULT_RESIZE,
  checkCancelled?: () => void,
): Tensor4D {
  const [height, width, channels] = inputShape;
  if (channels !== 1 && channels !== 3) {
    throw new Error(`The model expects ${channels} input channels; CNN Lens feeds images with 1 or 3 channels.`);
  }
  const rgbValues = resizedRgb(image, imageWindow(image, inputShape, policy), policy, checkCancelled);
  return tf.tidy(() => {
    const rgb = tf.tensor4d(rgbValues, [1, height, width, 3]).clipByValue(0, 255) as Tensor4D;
    // Luminance (ITU-R BT.601), as most grayscale training pipelines compute it.
    return channels === 3 ? rgb : (tf.sum(rgb.mul([0.299, 0.587, 0.114]), -1, true) as Tensor4D);
  });
}

/**
 * The scaling for a model's channel count (BGR mean subtraction only makes sense for colour).
 * A BGR model gets its channels reversed after scaling; caffe is BGR already.
 */
export function scalerFor(channels: number, preset: ScalingPreset, channelOrder: ChannelOrder = 'rgb'): (pixels: Tensor4D) => Tensor4D {
  const effective = channels === 1 && preset === 'caffe' ? 'raw' : preset;
  if (channels !== 3 || channelOrder === 'rgb' || preset === 'caffe') return (pixels) => scale(pixels, effective);
  return (pixels) => tf.tidy(() => tf.reverse(scale(pixels, effective), -1) as Tensor4D);
}

/** The scaling a loaded model's summary asks for. */
export function modelScaler(summary: Pick<ModelSummary, 'inputShape' | 'preprocessing'>): (pixels: Tensor4D) => Tensor4D {
  return scalerFor(summary.inputShape[2], summary.preprocessing.preset, summary.preprocessing.channelOrder);
}

/** The pixels a loaded model sees of an image: toModelPixels with the model's input shape and resize policy. */
export function modelPixels(
  image: RgbaImage,
  summary: Pick<ModelSummary, 'inputShape' | 'preprocessing'>,
  checkCancelled?: () => void,
): Tensor4D {
  return toModelPixels(image, summary.inputShape, summary.preprocessing.resize ?? DEFAULT_RESIZE, checkCancelled);
}

/** A batch of one, sized and scaled for a model with input [height, width, channels]. */
export function toModelInput(
  image: RgbaImage,
  inputShape: [number, number, number],
  preset: ScalingPreset,
  policy: ResizePolicy = DEFAULT_RESIZE,
): Tensor4D {
  return tf.tidy(() => scalerFor(inputShape[2], preset)(toModelPixels(image, inputShape, policy)));
}

/** A heavy blur that keeps colours but not shapes: shrink by `factor`, then back (half-pixel bilinear). */
export function shrinkBlur(pixels: Tensor4D, factor: number): Tensor4D {
  const [, h, w] = pixels.shape;
  return tf.tidy(() => {
    const small = tf.image.resizeBilinear(pixels, [Math.max(1, Math.round(h / factor)), Math.max(1, Math.round(w / factor))], false, true);
    return tf.image.resizeBilinear(small, [h, w], false, true);
  });
}
