/**
 * tfjs-backend-wasm 4.22's MaxPoolGrad (and MaxPoolWithArgmax) start each window's running maximum at
 * the smallest positive float instead of −∞, and break ties towards the last cell: a window whose values
 * are all ≤ 0 sends its gradient to its first cell whatever the maximum was (LeakyReLU nets, deconvnet
 * through any max pooling). On wasm the gradient is therefore computed by the cpu backend's kernel (the
 * reference semantics: first maximum wins, as onnxruntime's), copying the three tensors over and back —
 * cheap next to the convolutions. Other backends keep tfjs's own gradient. Test: poolGradients.test.ts.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { tf } from './tf';

interface CpuBackend {
  write(values: Float32Array, shape: number[], dtype: 'float32'): object;
  readSync(dataId: object): Float32Array;
  disposeData(dataId: object): void;
}

/** MaxPoolGrad run by the cpu backend on copies of the tensors; the result comes back as a tensor of the current backend. */
function onCpu(dy: Tensor4D, x: Tensor4D, y: Tensor4D, attrs: Record<string, unknown>): Tensor4D {
  const cpu = tf.findBackend('cpu') as unknown as CpuBackend | null;
  const kernel = tf.getKernel('MaxPoolGrad', 'cpu');
  if (!cpu || !kernel) throw new Error('The cpu backend is needed for max-pooling gradients on wasm.');
  const info = (t: Tensor) => ({
    dataId: cpu.write(t.dataSync() as Float32Array, t.shape, 'float32'),
    shape: t.shape,
    dtype: 'float32' as const,
  });
  const inputs = { dy: info(dy), input: info(x), output: info(y) };
  try {
    const result = kernel.kernelFunc({ inputs, backend: cpu as never, attrs: attrs as never }) as { dataId: object; shape: number[] };
    const values = cpu.readSync(result.dataId);
    cpu.disposeData(result.dataId);
    return tf.tensor4d(values, x.shape);
  } finally {
    Object.values(inputs).forEach(({ dataId }) => cpu.disposeData(dataId));
  }
}

/**
 * Registers the corrected gradient. Called after every backend selection: loading another tfjs package
 * (@tensorflow/tfjs-node, even one whose native library is missing) registers tfjs's own gradients over it.
 */
export function fixWasmMaxPoolGradient(): void {
  tf.registerGradient({
    kernelName: 'MaxPool',
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: Record<string, unknown>) => {
      const [x, y] = saved as [Tensor4D, Tensor4D];
      const { filterSize, strides, pad, dimRoundingMode } = attrs;
      const grad = (input: Tensor4D, output: Tensor4D) =>
        tf.engine().runKernel('MaxPoolGrad', { dy: dy as Tensor4D, input, output }, {
          filterSize,
          strides,
          pad,
          dimRoundingMode,
        } as never) as Tensor4D;
      return { x: () => (tf.getBackend() === 'wasm' ? onCpu(dy as Tensor4D, x, y, attrs) : grad(x, y)) };
    },
  });
}
