/**
 * Convolutions whose gradient is computed for the input only. Explanations never need weight
 * gradients; the wasm backend has no DepthwiseConv2dNativeBackpropInput kernel, and its
 * Conv2DBackpropInput is a plain loop ~9× slower than its (XNNPACK) forward convolution. The input
 * gradient of a convolution is itself a convolution of the stride-dilated, padded output gradient with
 * the spatially flipped kernel (in/out channels swapped for a full convolution), which every backend
 * runs at forward speed.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';

/** tfjs's padding: 'same', 'valid', or explicit [[0, 0], [top, bottom], [left, right], [0, 0]] (NHWC). */
export type Padding = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/** Leading (top/left) padding tfjs applies for one spatial axis. */
function leadingPad(size: number, kernel: number, stride: number, padding: Padding, axis: 1 | 2): number {
  if (Array.isArray(padding)) return padding[axis][0];
  if (padding === 'valid') return 0;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return Math.floor(total / 2);
}

/** Inserts (stride − 1) zeros between neighbouring rows and columns. */
function dilateSpatially(dy: Tensor4D, stride: number): Tensor4D {
  if (stride === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const zeros = tf.zerosLike(dy);
  const along = (t: Tensor4D, axis: 1 | 2): Tensor4D => {
    const copies = [t, ...Array.from({ length: stride - 1 }, () => (axis === 2 ? zeros : tf.zerosLike(t)))];
    const stacked = tf.stack(copies, axis + 1);
    const shape: [number, number, number, number] =
      axis === 2 ? [n, t.shape[1], t.shape[2] * stride, c] : [n, t.shape[1] * stride, t.shape[2], c];
    return stacked.reshape(shape) as Tensor4D;
  };
  const dilated = along(along(dy, 2), 1);
  return tf.slice(dilated, [0, 0, 0, 0], [n, (h - 1) * stride + 1, (w - 1) * stride + 1, c]) as Tensor4D;
}

export type ConvKind = 'conv2d' | 'depthwise';

/**
 * Only wasm needs these: the cpu and native backends have input-gradient kernels of their own, and on the
 * plain JS backend the zero-insertion here costs more than its Conv2DBackpropInput (saliency 2.6× vs 1.9×
 * a forward pass on the bundled model).
 */
function needsInputOnlyGradient(): boolean {
  return tf.getBackend() === 'wasm';
}

/** True on the backends where CNN Lens computes convolution input gradients itself (see above). */
export const inputOnlyGradients = needsInputOnlyGradient;

export type FusedRectifier = { activation: 'linear' | 'relu' | 'relu6' | 'leakyrelu' | 'sigmoid'; alpha?: number };

/**
 * dz from dy through the fused op's activation, read from its saved output y. The masks use wasm's
 * Step kernel (y > 0 and 6 − y > 0): its comparison, logical, Sign and Minimum kernels are slow and
 * cost a third of a MobileNet input gradient.
 */
function throughActivation(dy: Tensor4D, y: Tensor4D, { activation, alpha }: FusedRectifier): Tensor4D {
  switch (activation) {
    case 'linear':
      return dy;
    case 'relu':
      return dy.mul(tf.step(y)) as Tensor4D;
    case 'relu6':
      return dy.mul(tf.step(y)).mul(tf.step(tf.sub(6, y))) as Tensor4D;
    case 'leakyrelu':
      return dy.mul(tf.step(y, alpha ?? 0.2)) as Tensor4D;
    case 'sigmoid':
      return dy.mul(y.mul(tf.sub(1, y))) as Tensor4D;
  }
}

/**
 * A convolution (fused with its bias and rectifier, or plain with 'linear') with a gradient for its
 * input only: the rectifier's mask from the saved output, then the convolution's input gradient.
 */
export function fusedInputOnlyGradient(
  kind: ConvKind,
  x: Tensor4D,
  gradientKernel: Tensor4D,
  strides: [number, number],
  padding: Padding,
  rectifier: FusedRectifier,
  forward: (input: Tensor4D) => Tensor4D,
): Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [Tensor4D, tf.GradSaveFunc];
    const value = forward(input);
    // The kernel is saved, not read from this closure: a kernel made during the forward pass (weights
    // computed in the graph, e.g. reached through Identity nodes) is disposed when the forward scope
    // ends, before the backward pass runs. Saving keeps a reference until the tape is released.
    save([input, value, gradientKernel]);
    return {
      value,
      gradFunc: (dy: Tensor4D, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xSaved, ySaved, kernelSaved] = saved as Tensor4D[];
          const dz = throughActivation(dy, ySaved, rectifier);
          return convInputGradient(kind, dz, kernelSaved, xSaved.shape, strides, padding);
        }),
    };
  });
  return op(x) as Tensor4D;
}

/**
 * The kernel the input gradient convolves with: spatially flipped, and for a full convolution with
 * input and output channels swapped. Adapters compute it once per layer (wasm's Reverse is slow).
 */
export function gradientKernelOf(kind: ConvKind, filter: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const flipped = tf.reverse(filter, [0, 1]) as Tensor4D;
    return kind === 'depthwise' ? flipped : (tf.transpose(flipped, [0, 1, 3, 2]) as Tensor4D);
  });
}

/** dx of y = conv(x, filter) for dilation 1 (and channel multiplier 1 for depthwise). */
function convInputGradient(
  kind: ConvKind,
  dy: Tensor4D,
  gradientKernel: Tensor4D,
  xShape: [number, number, number, number],
  strides: [number, number],
  padding: Padding,
): Tensor4D {
  const [kh, kw] = gradientKernel.shape;
  const [, h, w] = xShape;
  const [sh, sw] = strides;
  return tf.tidy(() => {
    let spread = dilateSpatially(dy, sh);
    if (sw !== sh) throw new Error('Unequal strides are not supported by the input-gradient depthwise convolution.');
    const pt = leadingPad(h, kh, sh, padding, 1);
    const pl = leadingPad(w, kw, sw, padding, 2);
    const top = kh - 1 - pt;
    const left = kw - 1 - pl;
    const bottom = h + kh - 1 - top - spread.shape[1];
    const right = w + kw - 1 - left - spread.shape[2];
    if (bottom < 0 || right < 0) {
      // Explicit padding past the last input row/column: those outputs' gradients reach no input there.
      spread = tf.slice(spread, [0, 0, 0, 0], [-1, spread.shape[1] + Math.min(bottom, 0), spread.shape[2] + Math.min(right, 0), -1]);
    }
    spread = tf.pad(spread, [
      [0, 0],
      [top, Math.max(bottom, 0)],
      [left, Math.max(right, 0)],
      [0, 0],
    ]);
    return kind === 'depthwise' ? tf.depthwiseConv2d(spread, gradientKernel, 1, 'valid') : tf.conv2d(spread, gradientKernel, 1, 'valid');
  });
}

/**
 * A convolution (full or depthwise) whose gradient is computed for the input only where that pays (see
 * `needsInputOnlyGradient`); dilated, unequal-stride or channel-multiplying cases use the stock op.
 */
export function convolveInputOnly(
  kind: ConvKind,
  x: Tensor4D,
  filter: Tensor4D,
  gradientKernel: Tensor4D,
  strides: [number, number],
  padding: Padding,
  dilations: [number, number],
): Tensor4D {
  const stock = (input: Tensor4D, s: [number, number], d: [number, number]) =>
    kind === 'depthwise' ? tf.depthwiseConv2d(input, filter, s, padding, 'NHWC', d) : tf.conv2d(input, filter, s, padding, 'NHWC', d);
  const simple = (kind === 'conv2d' || filter.shape[3] === 1) && dilations[0] === 1 && dilations[1] === 1 && strides[0] === strides[1];
  if (!simple || !needsInputOnlyGradient()) return stock(x, strides, dilations);
  return fusedInputOnlyGradient(kind, x, gradientKernel, strides, padding, { activation: 'linear' }, (input) =>
    stock(input, strides, [1, 1]),
  );
}
