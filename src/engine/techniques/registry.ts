/** Every technique the engine offers, by id. A new technique is a new file plus one line here. */
import type { TechniqueInfo } from '../types';
import { CamTechnique, type Technique } from './base';
import { AblationCam } from './ablationCam';
import { AttentionGradient } from './attentionGradient';
import { AttentionRollout } from './attentionRollout';
import { Cam } from './cam';
import { DeepFeatureFactorization } from './dff';
import { EigenCam, EigenGradCam } from './eigenCam';
import { GradCam } from './gradCam';
import { GradCamPlusPlus } from './gradCamPlusPlus';
import { HiResCam } from './hiResCam';
import { LayerCam } from './layerCam';
import { ScoreCam } from './scoreCam';
import { XGradCam } from './xGradCam';
import { Fem } from './fem';
import { FinerCam } from './finerCam';
import { FullGrad } from './fullGrad';
import { GradCamElementWise } from './gradCamElementWise';
import { KpcaCam } from './kpcaCam';
import { RandomCam } from './randomCam';
import { ShapleyCam } from './shapleyCam';
import { GradXImage } from './gradXImage';
import { Deconvnet, GuidedBackprop, GuidedLayer } from './guidedBackprop';
import { GuidedGradCam } from './guidedGradCam';
import { IntegratedGradients } from './integratedGradients';
import { Saliency } from './saliency';
import { SmoothGrad } from './smoothGrad';
import { Occlusion } from './occlusion';
import { FeatureAblation } from './featureAblation';
import { Lime } from './lime';
import { KernelShap } from './kernelShap';
import { Rise } from './rise';
import { GradientShap } from './gradientShap';

const TECHNIQUES: Technique[] = [
  new GradCam(),
  new Cam(),
  new GradCamPlusPlus(),
  new XGradCam(),
  new HiResCam(),
  new LayerCam(),
  new ScoreCam(),
  new AblationCam(),
  new EigenCam(),
  new EigenGradCam(),
  new GradCamElementWise(),
  new ShapleyCam(),
  new FinerCam(),
  new Fem(),
  new KpcaCam(),
  new RandomCam(),
  new FullGrad(),
  new DeepFeatureFactorization(),
  new Saliency(),
  new GuidedBackprop(),
  new Deconvnet(),
  new GuidedLayer(),
  new GradXImage(),
  new IntegratedGradients(),
  new SmoothGrad((id) => findTechnique(id)),
  new GuidedGradCam(),
  new Occlusion(),
  new FeatureAblation(),
  new Lime(),
  new KernelShap(),
  new Rise(),
  new GradientShap(),
  new AttentionRollout(),
  new AttentionGradient(),
];

export function techniqueInfos(): TechniqueInfo[] {
  return TECHNIQUES.map((technique) => ({ ...technique.info, fusesLayers: technique instanceof CamTechnique }));
}

export function findTechnique(id: string): Technique {
  const technique = TECHNIQUES.find((t) => t.info.id === id.toLowerCase());
  if (!technique) {
    throw new Error(`Unknown technique "${id}". Available: ${TECHNIQUES.map((t) => t.info.id).join(', ')}.`);
  }
  return technique;
}
