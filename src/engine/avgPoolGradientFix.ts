/**
 * tfjs 4.22's average-pooling gradient divides every window's gradient by the window's full size, while
 * its forward pass (with 'same' or explicit padding) averages only the cells inside the image: border cells
 * got too little gradient (a 2×2 pool over 3×3 ones: 0.25 at the corner cell its window averaged alone,
 * not 1). The corrected gradient scales each pooled gradient by full size ÷ cells averaged before tfjs's
 * own AvgPoolGrad spreads it, so TF.js agrees with finite differences and with onnxruntime's gradient
 * graph (accel/gradientGraph.ts). Test: poolGradients.test.ts.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from './tf';

/** Per output cell, the window's full size ÷ the cells of it inside the input ([1, oh, ow, 1]), or null where all are full. */
function borderCorrection(inputShape: number[], attrs: Record<string, unknown>): Tensor4D | null {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const info = tf.backend_util.computePool2DInfo(inputShape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth, padInfo } = info;
  const covered = (out: number, stride: number, before: number, filter: number, size: number) => {
    const start = out * stride - before;
    return Math.min(start + filter, size) - Math.max(start, 0);
  };
  const scale = new Float32Array(outHeight * outWidth);
  let partial = false;
  for (let i = 0; i < outHeight; i++)
    for (let j = 0; j < outWidth; j++) {
      const cells = covered(i, strideHeight, padInfo.top, filterHeight, inHeight) * covered(j, strideWidth, padInfo.left, filterWidth, inWidth);
      scale[i * outWidth + j] = (filterHeight * filterWidth) / cells;
      partial ||= cells !== filterHeight * filterWidth;
    }
  return partial ? tf.tensor4d(scale, [1, outHeight, outWidth, 1]) : null;
}

/** Registers the corrected gradient (after every backend selection, as maxPoolGradientFix.ts says why). */
export function fixAvgPoolGradient(): void {
  tf.registerGradient({
    kernelName: 'AvgPool',
    inputsToSave: ['x'],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: Record<string, unknown>) => {
      const [x] = saved as [Tensor4D];
      const { filterSize, strides, pad, dimRoundingMode } = attrs;
      return {
        x: () => {
          const correction = borderCorrection(x.shape, attrs);
          const scaled = correction ? (dy as Tensor4D).mul(correction) : (dy as Tensor4D);
          const grad = tf.engine().runKernel('AvgPoolGrad', { dy: scaled, input: x }, { filterSize, strides, pad, dimRoundingMode } as never) as Tensor4D;
          if (correction) tf.dispose([correction, scaled]);
          return grad;
        },
      };
    },
  });
}
