/**
 * The choices *Check Preprocessing* compares and the configure flow saves: plain data, no tfjs, so the
 * extension host can use them without loading the engine.
 */
import { DEFAULT_RESIZE, type ChannelOrder, type ResizePolicy, type ScalingPreset } from './choices';

export interface ScalingCandidate {
  preset: ScalingPreset;
  channelOrder: ChannelOrder;
  /** How the image is resized; absent = as the model is configured. */
  resize?: ResizePolicy;
}

/** The resize choices compared: what PIL/torchvision, TF (tf.image.resize) and torchvision's eval transform do. */
export const RESIZE_CHOICES: ResizePolicy[] = [
  DEFAULT_RESIZE,
  { mode: 'stretch', interpolation: 'bilinear', antialias: false },
  { mode: 'center-crop', interpolation: 'bilinear', antialias: true },
];

/** Whether two policies resize a `inputSide`-px model's input alike (an absent shorter side is input × 256/224). */
export function sameResize(a: ResizePolicy, b: ResizePolicy, inputSide: number): boolean {
  const shorter = (p: ResizePolicy) => p.shorterSide ?? Math.round((inputSide * 256) / 224);
  return (
    a.mode === b.mode &&
    a.interpolation === b.interpolation &&
    a.antialias === b.antialias &&
    (a.mode !== 'center-crop' || shorter(a) === shorter(b))
  );
}

/** BGR and RGB are the same for caffe, which is BGR by definition. */
export function sameScaling(a: ScalingCandidate, preset: ScalingPreset, channelOrder: ChannelOrder): boolean {
  return a.preset === preset && (a.channelOrder === channelOrder || preset === 'caffe');
}
