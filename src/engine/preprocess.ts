/**
 * Image → model input. The whole image is resized bilinearly to the model's input size (no crop),
 * alpha is dropped, and the scaling preset maps 0..255 RGB to what the model was trained on.
 */
import type { Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from './tf';
import type { ChannelOrder, ModelSummary, RgbaImage, ScalingPreset } from './types';

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** Caffe models take BGR with the per-channel means subtracted (in BGR order). */
const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];

/** RGBA bytes → float RGB tensor [h, w, 3] in 0..255. */
export function rgbTensor(image: RgbaImage): Tensor3D {
  return tf.tidy(() => {
    const rgba = tf.tensor3d(image.data, [image.height, image.width, 4], 'int32');
    return tf.slice(rgba, [0, 0, 0], [-1, -1, 3]).toFloat() as Tensor3D;
  });
}

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

/** A batch of one resized to the model's input, still 0..255 (luminance for 1-channel models). */
export function toModelPixels(image: RgbaImage, inputShape: [number, number, number]): Tensor4D {
  const [height, width, channels] = inputShape;
  if (channels !== 1 && channels !== 3) {
    throw new Error(`The model expects ${channels} input channels; CNN Lens feeds images with 1 or 3 channels.`);
  }
  return tf.tidy(() => {
    const resized = tf.image.resizeBilinear(rgbTensor(image), [height, width], false, true).expandDims(0) as Tensor4D;
    const rgb = resized.clipByValue(0, 255) as Tensor4D;
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

/** A batch of one, sized and scaled for a model with input [height, width, channels]. */
export function toModelInput(image: RgbaImage, inputShape: [number, number, number], preset: ScalingPreset): Tensor4D {
  return tf.tidy(() => scalerFor(inputShape[2], preset)(toModelPixels(image, inputShape)));
}

/** A heavy blur that keeps colours but not shapes: shrink by `factor`, then back (half-pixel bilinear). */
export function shrinkBlur(pixels: Tensor4D, factor: number): Tensor4D {
  const [, h, w] = pixels.shape;
  return tf.tidy(() => {
    const small = tf.image.resizeBilinear(pixels, [Math.max(1, Math.round(h / factor)), Math.max(1, Math.round(w / factor))], false, true);
    return tf.image.resizeBilinear(small, [h, w], false, true);
  });
}
