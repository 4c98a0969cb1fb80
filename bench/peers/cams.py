"""pytorch-grad-cam's CAMs on the fixture MobileNet (bench/peers/common.py), as test references."""
import numpy as np

import common

PEER = 'pytorch-grad-cam'


def cam_run(class_name, source, method, keyword=None, target=None, call_options=None, layers=None):
    """
    A reference run: pytorch-grad-cam's METHOD (from pytorch_grad_cam.SOURCE) at the CAM layer (or LAYERS) for
    the class, its [224, 224] map. TARGET names a model_targets class (default ClassifierOutputTarget);
    CALL_OPTIONS replace the targets argument (FinerCAM takes target_idx instead).
    """
    def run():
        cls = getattr(common.import_peer(PEER, f'pytorch_grad_cam.{source}'), method)
        targets = common.import_peer(PEER, 'pytorch_grad_cam.utils.model_targets')
        index = common.CLASSES[class_name]
        target_layers = [common.module(common.CAM_LAYER)] if layers is None else layers
        cam = cls(model=common.model(), target_layers=target_layers, **(keyword or {}))
        base = getattr(cam, 'base_cam', cam)  # FinerCAM wraps a GradCAM and has no context manager of its own
        with base:
            if call_options is not None:
                options = {k: (index if v == 'CLASS' else v) for k, v in call_options.items()}
                maps = cam(input_tensor=common.input_tensor(), **options)
                arguments = ', '.join(f'{k}={v!r}' for k, v in options.items())
            else:
                target_class = getattr(targets, target or 'ClassifierOutputTarget')
                maps = cam(input_tensor=common.input_tensor(), targets=[target_class(index)])
                arguments = f'[{target or "ClassifierOutputTarget"}({index})]'
        where = common.CAM_LAYER if layers is None else '[]'
        keywords = ''.join(f', {k}={v!r}' for k, v in (keyword or {}).items())
        return np.asarray(maps[0]), f'{method}(model, {where}{keywords})(x, {arguments})', None
    return run


def reference(name, technique, class_name, source, method, parameters=None, layer=common.CAM_LAYER_ONNX, **options):
    ours = {'technique': technique, 'class': common.CLASSES[class_name]}
    if layer:
        ours['layer'] = layer
    if parameters:
        ours['parameters'] = parameters
    return {'name': name, 'peer': PEER, 'ours': ours, 'run': cam_run(class_name, source, method, **options)}


FINER = {'targets': None, 'target_idx': 'CLASS', 'alpha': 1.0, 'comparison_categories': [1, 2, 3]}

REFERENCES = [
    reference('gradcam-dog', 'gradcam', 'dog', 'grad_cam', 'GradCAM'),
    reference('gradcam-elementwise-dog', 'gradcam-elementwise', 'dog', 'grad_cam_elementwise', 'GradCAMElementWise'),
    reference('gradcam-elementwise-cat', 'gradcam-elementwise', 'cat', 'grad_cam_elementwise', 'GradCAMElementWise'),
    reference('shapleycam-rest-dog', 'shapleycam', 'dog', 'shapley_cam', 'ShapleyCAM', {'target': 'rest'}, target='ClassifierOutputReST'),
    reference('shapleycam-rest-cat', 'shapleycam', 'cat', 'shapley_cam', 'ShapleyCAM', {'target': 'rest'}, target='ClassifierOutputReST'),
    reference('shapleycam-logit-cat', 'shapleycam', 'cat', 'shapley_cam', 'ShapleyCAM', {'target': 'logit'}),
    reference('finercam-dog', 'finercam', 'dog', 'finer_cam', 'FinerCAM', {'alpha': 1, 'comparisons': 3}, call_options=FINER),
    reference('finercam-cat', 'finercam', 'cat', 'finer_cam', 'FinerCAM', {'alpha': 1, 'comparisons': 3}, call_options=FINER),
    reference('fem', 'fem', 'dog', 'fem', 'FEM', {'k': 2}, keyword={'k': 2}),
    reference('kpca-cam-sigmoid', 'kpca-cam', 'dog', 'kpca_cam', 'KPCA_CAM', {'kernel': 'sigmoid'}, keyword={'kernel': 'sigmoid'}),
    reference('kpca-cam-rbf', 'kpca-cam', 'dog', 'kpca_cam', 'KPCA_CAM', {'kernel': 'rbf'}, keyword={'kernel': 'rbf'}),
    reference('fullgrad-dog', 'fullgrad', 'dog', 'fullgrad_cam', 'FullGrad', layer=None, layers=[]),
    reference('fullgrad-cat', 'fullgrad', 'cat', 'fullgrad_cam', 'FullGrad', layer=None, layers=[]),
]
