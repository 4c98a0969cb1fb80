"""
pytorch-grad-cam's faithfulness metrics (pytorch_grad_cam/metrics/road.py, cam_mult_image.py) on the fixture
MobileNet, as test references for CNN Lens's ROAD and image-times-map confidence change.

Both sides must rank pixels from the identical map: the map evaluated is pytorch-grad-cam's GradCAM map for
the dog pooled to the record's 56×56, rounded as the record stores it, and repeated over 4×4 blocks back to
224×224, so CNN Lens rebuilds it exactly from the stored `map` (ROAD's thresholds put ties on one side, so
the blocks' ties pick the same pixels on both sides). The score is ClassifierOutputSoftmaxTarget, the class
probability, as CNN Lens's metrics use. `extra` holds, per percentile, MoRF and LeRF with the imputation's
noise off (the exact comparison) and ROADCombined and CamMultImageConfidenceChange.
"""
import numpy as np
import torch

import common

PEER = 'pytorch-grad-cam'
PERCENTILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]


def evaluated_map():
    grad_cam = common.import_peer(PEER, 'pytorch_grad_cam.grad_cam').GradCAM
    targets = common.import_peer(PEER, 'pytorch_grad_cam.utils.model_targets')
    with grad_cam(model=common.model(), target_layers=[common.module(common.CAM_LAYER)]) as cam:
        map224 = cam(input_tensor=common.input_tensor(), targets=[targets.ClassifierOutputTarget(common.CLASSES['dog'])])[0]
    small = np.array([float(f'{v:.6g}') for v in common.pooled(map224).ravel()]).reshape(224 // common.POOL, 224 // common.POOL)
    return np.kron(small, np.ones((common.POOL, common.POOL))).astype(np.float32)


def run():
    road = common.import_peer(PEER, 'pytorch_grad_cam.metrics.road')
    confidence = common.import_peer(PEER, 'pytorch_grad_cam.metrics.perturbation_confidence')
    cam_mult = common.import_peer(PEER, 'pytorch_grad_cam.metrics.cam_mult_image')
    targets = common.import_peer(PEER, 'pytorch_grad_cam.utils.model_targets')
    model, x = common.model(), common.input_tensor()
    cams = evaluated_map()[None]
    target = [targets.ClassifierOutputSoftmaxTarget(common.CLASSES['dog'])]

    def metric(remover, p, noise):
        imputer = road.NoisyLinearImputer(noise=noise)
        return float(confidence.PerturbationConfidenceMetric(remover(p, imputer))(x, cams, target, model)[0])

    morf = [metric(confidence.RemoveMostRelevantFirst, p, 0) for p in PERCENTILES]
    lerf = [metric(confidence.RemoveLeastRelevantFirst, p, 0) for p in PERCENTILES]
    torch.manual_seed(0)
    combined_noisy = float(road.ROADCombined(percentiles=PERCENTILES)(x, cams, target, model)[0])
    change = float(cam_mult.CamMultImageConfidenceChange()(x, cams, target, model)[0])
    extra = {
        'percentiles': PERCENTILES,
        'score': 'ClassifierOutputSoftmaxTarget(242)',
        'morfNoiseless': morf,
        'lerfNoiseless': lerf,
        'combinedNoiseless': (np.mean(lerf) - np.mean(morf)) / 2,
        'combinedNoise001Seed0': combined_noisy,
        'camMultImageConfidenceChange': change,
    }
    call = ('PerturbationConfidenceMetric(RemoveMost/LeastRelevantFirst(p, NoisyLinearImputer(noise=0)))'
            '(x, map, [ClassifierOutputSoftmaxTarget(242)], model) for p in 10..90; ROADCombined; CamMultImageConfidenceChange')
    return cams[0], call, extra


REFERENCES = [
    {
        'name': 'metrics-gradcam-dog',
        'peer': PEER,
        'ours': {'technique': 'gradcam', 'class': common.CLASSES['dog'], 'layer': common.CAM_LAYER_ONNX},
        'run': run,
    },
]
