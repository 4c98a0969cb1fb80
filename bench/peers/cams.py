"""pytorch-grad-cam's CAMs on the fixture MobileNet (bench/peers/common.py), as test references."""
import numpy as np

import common

PEER = 'pytorch-grad-cam'


def cam_run(class_name, source, method, keyword=None, target=None, call=None, layer=common.CAM_LAYER):
    """A reference run: pytorch-grad-cam's METHOD (from pytorch_grad_cam.SOURCE) at LAYER for the class, its [224, 224] map."""
    def run():
        cls = getattr(common.import_peer(PEER, f'pytorch_grad_cam.{source}'), method)
        targets = common.import_peer(PEER, 'pytorch_grad_cam.utils.model_targets')
        index = common.CLASSES[class_name]
        with cls(model=common.model(), target_layers=[common.module(layer)], **(keyword or {})) as cam:
            output_target = (target or targets.ClassifierOutputTarget)(index)
            maps = cam(input_tensor=common.input_tensor(), targets=[output_target])
        text = call or f'{method}(model, [{layer}]{"".join(f", {k}={v!r}" for k, v in (keyword or {}).items())})(x, [ClassifierOutputTarget({index})])'
        return np.asarray(maps[0]), text, None
    return run


def reference(name, technique, class_name, source, method, parameters=None, **options):
    return {
        'name': name,
        'peer': PEER,
        'ours': {'technique': technique, 'class': common.CLASSES[class_name], 'layer': common.CAM_LAYER_ONNX, **({'parameters': parameters} if parameters else {})},
        'run': cam_run(class_name, source, method, **options),
    }


REFERENCES = [
    reference('gradcam-dog', 'gradcam', 'dog', 'grad_cam', 'GradCAM'),
]
