/**
 * SmoothGrad: Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017
 * (https://arxiv.org/abs/1706.03825), as a wrapper over any other technique (like Captum's NoiseTunnel):
 * the base technique's map averaged over n copies of the input with Gaussian noise of σ = noise × the
 * input's value range. Variants (Hooker et al. 2019, Adebayo et al. 2018): SquareGrad averages the
 * squared maps, VarGrad takes their variance.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { resolveParameters } from './parameters';

export class SmoothGrad extends Technique {
  readonly info = {
    id: 'smoothgrad',
    title: 'SmoothGrad',
    summary: 'Any technique averaged over noisy copies of the image: less speckle, same story.',
    needsGradients: true,
    needsLayer: false,
    parameters: [
      { name: 'base', summary: 'Technique to smooth', default: 'saliency', choices: ['saliency', 'guided-backprop', 'deconvnet', 'grad-x-image', 'integrated-gradients', 'gradcam', 'guided-gradcam'] },
      { name: 'samples', summary: 'Noisy samples (n)', default: 25, min: 1, max: 500, integer: true },
      { name: 'noise', summary: 'Noise σ as a fraction of the input range', default: 0.15, min: 0, max: 1 },
      { name: 'variant', summary: 'Aggregate', default: 'smoothgrad', choices: ['smoothgrad', 'squaregrad', 'vargrad'] },
    ],
  };

  constructor(private readonly find: (id: string) => Technique) {
    super();
  }

  run(request: TechniqueInput): TechniqueOutput {
    const { base, samples, noise, variant } = request.parameters;
    const inner = this.find(String(base));
    const n = Number(samples);
    const sigma = tf.tidy(() => Number(noise) * (request.input.max().dataSync()[0] - request.input.min().dataSync()[0]));
    const innerParameters = resolveParameters(inner.info.id, inner.info.parameters);
    let sum: Tensor2D | null = null;
    let sumOfSquares: Tensor2D | null = null;
    let layer = '';
    for (let i = 0; i < n; i++) {
      request.checkCancelled();
      const [nextSum, nextSquares] = tf.tidy(() => {
        const noisy = request.input.add(tf.randomNormal(request.input.shape, 0, sigma, 'float32', 1000 + i)) as typeof request.input;
        const out = inner.run({ ...request, input: noisy, parameters: innerParameters });
        layer = out.layer;
        const s = sum ? sum.add(out.map) : out.map;
        const q = sumOfSquares ? sumOfSquares.add(out.map.square()) : out.map.square();
        return [s as Tensor2D, q as Tensor2D];
      });
      tf.dispose([sum!, sumOfSquares!].filter(Boolean));
      sum = nextSum;
      sumOfSquares = nextSquares;
    }
    const mean = sum!.div(n) as Tensor2D;
    const meanSquare = sumOfSquares!.div(n) as Tensor2D;
    const map = variant === 'squaregrad' ? meanSquare : variant === 'vargrad' ? (tf.relu(meanSquare.sub(mean.square())) as Tensor2D) : mean;
    return { map, layer, notes: [] };
  }
}
