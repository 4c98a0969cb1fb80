/** How the input scalings read in pickers: what each does and which models use it. */
import type { ChannelOrder, ResizePolicy, ScalingPreset } from '../../engine/types';

export const PRESET_TEXT: Record<ScalingPreset, { title: string; detail: string }> = {
  mobilenet: { title: '[-1, 1]  (x / 127.5 − 1)', detail: 'Keras MobileNet / Inception / Xception, TF.js layers models from Keras' },
  'zero-one': { title: '[0, 1]  (x / 255)', detail: 'TF-Hub image classifiers, many TF.js graph models, Teachable Machine exports' },
  imagenet: { title: 'ImageNet mean / std', detail: 'PyTorch / torchvision models: (x / 255 − mean) / std per channel' },
  caffe: { title: 'Caffe: BGR minus mean', detail: 'Keras VGG16/19 and ResNet50 (caffe mode), models converted from Caffe' },
  raw: { title: '0 – 255 unchanged', detail: 'Models that scale inside the graph (a Rescaling or Normalization layer first)' },
};

export const ORDER_TEXT: Record<ChannelOrder, { title: string; detail: string }> = {
  rgb: { title: 'RGB', detail: 'Keras, PyTorch, TensorFlow and almost every image loader' },
  bgr: { title: 'BGR', detail: 'Trained on images read with OpenCV without converting, or converted from Caffe' },
};

export function scalingTitle(preset: ScalingPreset, channelOrder: ChannelOrder = 'rgb'): string {
  const order = channelOrder === 'bgr' && preset !== 'caffe' ? ', BGR' : '';
  return `${PRESET_TEXT[preset].title}${order}`;
}

/** A resize policy in a picker: "stretched, antialiased" or "shorter side 256 + centre crop, bicubic". */
export function resizeTitle(resize: ResizePolicy): string {
  const how =
    resize.mode === 'stretch' ? 'stretched to the input' : `shorter side ${resize.shorterSide ?? 'input × 256/224'} + centre crop`;
  return `${how}, ${resize.interpolation}${resize.antialias ? ', antialiased' : ', no antialiasing'}`;
}
