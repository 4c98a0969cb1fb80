/**
 * tfjs 4.22's average-pooling gradient divides every window's gradient by the window's full size, while
 * its forward pass (with 'same' or explicit padding) averages only the cells inside the image: border cells
 * got too little gradient (a 2×2 pool over 3×3 ones: 0.25 at the corner cell its window averaged alone,
 * not 1). The corrected gradient scales each pooled gradient by full size ÷ cells averaged before tfjs's
 * own AvgPoolGrad spreads it, so TF.js agrees with finite differences and with onnxruntime's gradient
 * graph (accel/gradientGraph.ts). Only backends whose kernel has the fault are corrected (probed once each).
 * Test: poolGradients.test.ts.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from './tf';

/**
 * How many cells of a window of `span` cells starting at `start` (negative: in the padding) lie in
 * [0, size): what an average over it divides by. Shared with onnxruntime's rule (accel/gradientGraph.ts).
 */
export function cellsInside(start: number, span: number, size: number): number {
  return Math.min(start + span, size) - Math.max(start, 0);
}

/** Per output cell, the window's full size ÷ the cells of it inside the input ([1, oh, ow, 1]), or null where all are full. */
function borderCorrection(inputShape: number[], attrs: Record<string, unknown>): Tensor4D | null {
  const { filterSize, strides, pad, dimRoundingMode } = attrs as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: 'valid' | 'same' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computePool2DInfo(
    inputShape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth, padInfo } = info;
  const scale = new Float32Array(outHeight * outWidth);
  let partial = false;
  for (let i = 0; i < outHeight; i++)
    for (let j = 0; j < outWidth; j++) {
      const cells =
        cellsInside(i * strideHeight - padInfo.top, filterHeight, inHeight) *
        cellsInside(j * strideWidth - padInfo.left, filterWidth, inWidth);
      scale[i * outWidth + j] = (filterHeight * filterWidth) / cells;
      partial ||= cells !== filterHeight * filterWidth;
    }
  return partial ? tf.tensor4d(scale, [1, outHeight, outWidth, 1]) : null;
}

/** Per backend name: whether its AvgPoolGrad kernel divides by the full window (probed once). */
const faultyKernel = new Map<string, boolean>();

/**
 * Whether the active backend's AvgPoolGrad kernel has the fault (cpu and wasm 4.22 do; tfjs-node's calls
 * TensorFlow's own kernel, which divides by the cells averaged): one 2×2 'same' window over a 3×3 input
 * averages its corner cell alone, so a correct kernel sends it the whole gradient, a faulty one a quarter.
 */
function kernelDividesByFullWindow(): boolean {
  const backend = tf.getBackend();
  let faulty = faultyKernel.get(backend);
  if (faulty === undefined) {
    faulty = tf.tidy(() => {
      const probe = tf.engine().runKernel('AvgPoolGrad', { dy: tf.ones([1, 2, 2, 1]), input: tf.zeros([1, 3, 3, 1]) }, {
        filterSize: 2,
        strides: 2,
        pad: 'same',
      } as never) as Tensor;
      return Math.abs(probe.dataSync()[8] - 0.25) < 1e-6;
    });
    faultyKernel.set(backend, faulty);
  }
  return faulty;
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
          const correction = kernelDividesByFullWindow() ? borderCorrection(x.shape, attrs) : null;
          const scaled = correction ? (dy as Tensor4D).mul(correction) : (dy as Tensor4D);
          const grad = tf
            .engine()
            .runKernel('AvgPoolGrad', { dy: scaled, input: x }, { filterSize, strides, pad, dimRoundingMode } as never) as Tensor4D;
          if (correction) tf.dispose([correction, scaled]);
          return grad;
        },
      };
    },
  });
}
