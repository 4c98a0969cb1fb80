"""
What every peer comparison shares: the peers' checkouts, the model, the image and the reference format.

The model is the ../shared/fixtures MobileNet v1 0.25 (real ImageNet weights) rebuilt in PyTorch by
scripts/tfjs_to_torch.py, logits out: the same network CNN Lens's tests load as fixture_mobilenet_v1_025.onnx
(scripts/export-onnx-test-models.py exports this very module). The image is cat_dog.png, already 224×224,
so no resizer stands between the two sides: the input is its RGB / 127.5 - 1 (MobileNet's scaling), NCHW.

Peers are imported from checkouts, never copied: CNN_LENS_PEERS (default ../peers beside the repository)
holds pytorch-grad-cam/ (jacobgil/pytorch-grad-cam), captum/ (pytorch/captum) and RISE/ (eclique/RISE, whose
explanations.py is the authors' RISE). A checkout may carry a COMMIT file naming its commit when it is not a git
repository (an exported tree).
"""
import importlib
import json
import os
import subprocess
import sys
import types

import numpy as np
import torch
from PIL import Image

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIXTURES = os.environ.get('CNN_LENS_FIXTURES', os.path.join(REPO, '..', 'shared', 'fixtures'))
PEERS = os.environ.get('CNN_LENS_PEERS', os.path.join(REPO, '..', 'peers'))
REFERENCES = os.path.join(REPO, 'test', 'fixtures', 'peer')

MODEL = 'fixture_mobilenet_v1_025'
IMAGE = 'images/pytorch-cnn-visualizations/cat_dog.png'
# The dog (boxer, the model's top class on this photo) and the cat (tiger cat, a lower class).
CLASSES = {'dog': 242, 'cat': 282}
# MobileNet's last block, the usual CAM target: the torch module and the layer name in the ONNX export.
CAM_LAYER = 'conv_pw_13_relu'
CAM_LAYER_ONNX = '/80/Clip'
# Stored maps are the peer's input-size map averaged over 4×4 blocks: 56×56, enough for Pearson's r.
POOL = 4


def peer_path(name):
    path = os.path.join(PEERS, name)
    if not os.path.isdir(path):
        sys.exit(f'{name} is not checked out at {path} (set CNN_LENS_PEERS)')
    return path


def import_peer(name, module):
    """
    Imports `module` (e.g. 'pytorch_grad_cam.fem', 'captum.attr') from the checkout `name`. pytorch-grad-cam's
    package __init__ imports every method and their optional dependencies, so its package is entered without
    it; ttach (test-time augmentation, which Debian lacks) is imported by base_cam but only used with
    aug_smooth, so an empty stand-in takes its place when missing.
    """
    root = peer_path(name)
    if root not in sys.path:
        sys.path.insert(0, root)
    if name == 'pytorch-grad-cam' and 'pytorch_grad_cam' not in sys.modules:
        try:
            importlib.import_module('ttach')
        except ImportError:
            unused = lambda *args, **kwargs: None  # noqa: E731
            stand_in = types.ModuleType('ttach')
            stand_in.__dict__.update({'Compose': unused, 'HorizontalFlip': unused, 'Multiply': unused})
            sys.modules['ttach'] = stand_in
        package = types.ModuleType('pytorch_grad_cam')
        package.__path__ = [os.path.join(root, 'pytorch_grad_cam')]
        sys.modules['pytorch_grad_cam'] = package
        # FinerCAM imports its base method from the package itself.
        package.GradCAM = importlib.import_module('pytorch_grad_cam.grad_cam').GradCAM
    return importlib.import_module(module)


def peer_version(name):
    path = peer_path(name)
    stamp = os.path.join(path, 'COMMIT')
    if os.path.exists(stamp):
        return f'{name} {open(stamp).read().strip()[:7]}'
    try:
        return f"{name} {subprocess.check_output(['git', '-C', path, 'rev-parse', '--short', 'HEAD'], text=True).strip()}"
    except Exception:
        return name


_model = None


def model():
    """The torch MobileNet v1 0.25 (eval mode, logits), built once."""
    global _model
    if _model is None:
        sys.path.insert(0, os.path.join(REPO, 'scripts'))
        from tfjs_to_torch import load_tfjs_layers_model, scores_before_softmax
        _model = scores_before_softmax(load_tfjs_layers_model(os.path.join(FIXTURES, 'models', 'mobilenet_v1_0.25_224_layers', 'model.json')))
        _model.eval()
    return _model


def module(name):
    """A layer of model() by its Keras name (the ONNX export keeps the same order)."""
    return model()[json_layer_names().index(name)]


def json_layer_names():
    spec = json.load(open(os.path.join(FIXTURES, 'models', 'mobilenet_v1_0.25_224_layers', 'model.json')))
    topology = spec['modelTopology']
    config = topology.get('model_config', topology)['config']
    layers = config['layers'] if isinstance(config, dict) else config
    names = [l['config']['name'] for l in layers if l['class_name'] != 'InputLayer']
    # scores_before_softmax drops a trailing Activation('softmax') layer.
    return [n for n in names if n != 'act_softmax']


def image_pixels():
    """cat_dog.png as uint8 [224, 224, 3]."""
    return np.asarray(Image.open(os.path.join(FIXTURES, IMAGE)).convert('RGB'))


def input_tensor():
    """[1, 3, 224, 224] float32 in MobileNet's [-1, 1] scaling."""
    x = torch.from_numpy(image_pixels().astype(np.float32) / 127.5 - 1).permute(2, 0, 1).unsqueeze(0)
    return x.contiguous()


def pooled(map224):
    m = np.asarray(map224, dtype=np.float64)
    if m.shape != (224, 224):
        raise ValueError(f'expected a 224×224 map, got {m.shape}')
    return m.reshape(224 // POOL, POOL, 224 // POOL, POOL).mean(axis=(1, 3))


def write_reference(name, map224, ours, peer, call, extra=None):
    """
    test/fixtures/peer/NAME.json: the peer's map for `ours` (what CNN Lens runs: technique, parameters, layer,
    class) on MODEL and IMAGE, pooled to 56×56, with how it was produced.
    """
    os.makedirs(REFERENCES, exist_ok=True)
    small = pooled(map224)
    record = {
        'name': name,
        'peer': peer,
        'call': call,
        'model': MODEL,
        'image': IMAGE,
        'ours': ours,
        'pool': POOL,
        'size': list(small.shape),
        'map': [float(f'{v:.6g}') for v in small.ravel()],
    }
    if extra:
        record['extra'] = extra
    path = os.path.join(REFERENCES, f'{name}.json')
    with open(path + '.tmp', 'w') as f:
        json.dump(record, f, separators=(',', ':'))
        f.write('\n')
    os.replace(path + '.tmp', path)
    print(f'{name}: wrote {os.path.relpath(path, REPO)}')
