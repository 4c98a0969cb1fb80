/**
 * Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation's pixel detail, masked by the Grad-CAM
 * map upsampled to the input — fine-grained and class-discriminative.
 */
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { tf } from '../tfjs/tf';
import { Technique, type TechniqueInput, type TechniqueOutput } from './base';
import { GradCam } from './gradCam';
import { clipOutliers } from './attribution';
import { inputGradient } from './inputGradient';

export class GuidedGradCam extends Technique {
  readonly info = {
    id: 'guided-gradcam',
    title: 'Guided Grad-CAM',
    summary: 'Guided backpropagation masked by Grad-CAM: pixel detail, only where the class is.',
    needsGradients: true,
    needsLayer: true,
  };

  private readonly gradCam = new GradCam();

  run(request: TechniqueInput): TechniqueOutput {
    const [, h, w] = request.input.shape;
    const cam = this.gradCam.run(request).map;
    const camUp = tf.image
      .resizeBilinear(cam.reshape([1, cam.shape[0], cam.shape[1], 1]) as tf.Tensor4D, [h, w], false, true)
      .reshape([h, w]);
    const guided = tf.max(tf.abs(inputGradient(request.model, request.input, request.classIndex, 'guided')), -1).squeeze([0]) as Tensor2D;
    return { map: clipOutliers(guided.mul(camUp) as Tensor2D), layer: request.layer, notes: [] };
  }
}
