"""
pytorch-grad-cam's Deep Feature Factorization on the fixture MobileNet (bench/peers/common.py), as a test
reference: DeepFeatureFactorization(model, layer, computation_on_concepts=classifier), the classifier being
the network after the layer applied to each concept's channel vector filling the layer's grid (global
average pooling gives the vector back, so this is the Linear head pytorch-grad-cam's examples pass).
"""
import numpy as np
import torch

import common

PEER = 'pytorch-grad-cam'
CONCEPTS = 5
TOP_LABELS = 2


def classifier(height, width):
    """The layers after CAM_LAYER, on [k, c] concept vectors (each repeated over the height × width grid)."""
    chain = list(common.model())
    rest = torch.nn.Sequential(*chain[common.json_layer_names().index(common.CAM_LAYER) + 1:])
    return lambda concepts: rest(concepts[:, :, None, None].expand(-1, -1, height, width).contiguous())


def run():
    module = common.import_peer(PEER, 'pytorch_grad_cam.feature_factorization.deep_feature_factorization')
    model = common.model()
    x = common.input_tensor()
    with torch.no_grad():
        grid = model[:common.json_layer_names().index(common.CAM_LAYER) + 1](x)
    _, _, height, width = grid.shape
    # The concepts at the layer's resolution, as the peer's own dff() returns them inside the call (kept by a
    # wrapper, so the factorisation runs once and bench/peers/time.py times the peer's call alone).
    factorise, kept = module.dff, {}

    def keeping(activations, n_components):
        concepts, explanations = factorise(activations, n_components=n_components)
        kept['maps'] = explanations[0].copy()
        return concepts, explanations

    module.dff = keeping
    try:
        dff = module.DeepFeatureFactorization(model=model, target_layer=common.module(common.CAM_LAYER),
                                              computation_on_concepts=classifier(height, width))
        concepts, explanations, outputs = dff(x, CONCEPTS)
    finally:
        module.dff = factorise
    maps224 = np.asarray(explanations[0])  # [k, 224, 224], each scaled to 0..1
    probabilities = torch.softmax(torch.from_numpy(outputs), dim=-1).numpy()
    top = np.argsort(-probabilities, axis=-1)[:, :TOP_LABELS]
    # Scaled as scale_cam_image does before its resize.
    small = kept['maps'] - kept['maps'].min(axis=(1, 2), keepdims=True)
    small = small / (1e-7 + small.max(axis=(1, 2), keepdims=True))
    # pytorch-grad-cam's own picture of the concepts (show_factorization_on_image over a black image, no
    # legend), every 4th pixel from the third: what the panel's and the exports' drawing is checked against.
    image_module = common.import_peer(PEER, 'pytorch_grad_cam.utils.image')
    picture = image_module.show_factorization_on_image(np.zeros((224, 224, 3)), maps224.copy(), image_weight=0.0)
    extra = {
        'pictureStep': [2, 4],
        'picture': [int(v) for v in picture[2::4, 2::4].ravel()],
        'concepts': CONCEPTS,
        'grid': [int(height), int(width)],
        'conceptMaps': [[float(f'{v:.6g}') for v in m.ravel()] for m in small],
        'conceptClasses': [[int(i) for i in row] for row in top],
        'conceptScores': [[float(f'{probabilities[t, i]:.6g}') for i in row] for t, row in enumerate(top)],
    }
    call = f'DeepFeatureFactorization(model, {common.CAM_LAYER}, computation_on_concepts=classifier)(x, {CONCEPTS}); map = max over concepts'
    return maps224.max(axis=0), call, extra


REFERENCES = [
    {
        'name': 'dff',
        'peer': PEER,
        'ours': {'technique': 'dff', 'class': common.CLASSES['dog'], 'layer': common.CAM_LAYER_ONNX,
                 'parameters': {'concepts': CONCEPTS, 'labels': TOP_LABELS}},
        'run': run,
    },
]
