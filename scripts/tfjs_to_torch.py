"""
A TF.js layers model (model.json + weight shards, a chain of Keras layers such as MobileNet v1 or the
bundled Fashion-MNIST model) rebuilt in PyTorch with the same weights, for two uses:
  * bench/pytorch_reference.py times PyTorch on the very network CNN Lens runs (issue #9);
  * scripts/export-onnx-test-models.py exports it to ONNX, so the ONNX importer is checked on real
    pretrained weights with a known answer (issue #8).
Only the layer classes those models use are mapped; anything else raises. Keras lays tensors out
NHWC and TF's "same" padding is asymmetric for even inputs with stride 2, so both are reproduced.
Run with Debian's /usr/bin/python3 (python3-torch).
"""
import json
import math
import os

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def read_weights(model_dir, manifest):
    """Weight name -> numpy array, read group by group as tfjs does (shards concatenated in order)."""
    weights = {}
    for group in manifest:
        data = b''.join(open(os.path.join(model_dir, p), 'rb').read() for p in group['paths'])
        offset = 0
        for spec in group['weights']:
            if spec['dtype'] != 'float32' or 'quantization' in spec:
                raise ValueError(f"weight {spec['name']}: only unquantised float32 is supported")
            count = int(np.prod(spec['shape'])) if spec['shape'] else 1
            weights[spec['name']] = np.frombuffer(data, dtype='<f4', count=count, offset=offset).reshape(spec['shape']).copy()
            offset += 4 * count
    return weights


class SamePad(nn.Module):
    """TF's "same": total padding max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0), the odd pixel at the bottom/right."""

    def __init__(self, kernel, stride, dilation=(1, 1), value=0.0):
        super().__init__()
        self.kernel, self.stride, self.dilation, self.value = kernel, stride, dilation, value

    def forward(self, x):
        pads = []
        for axis in (1, 0):  # F.pad takes the last dimension (width) first
            n = x.shape[2 + axis]
            total = max((math.ceil(n / self.stride[axis]) - 1) * self.stride[axis] + (self.kernel[axis] - 1) * self.dilation[axis] + 1 - n, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads, value=self.value) if any(pads) else x


def activation(name):
    return {
        'linear': nn.Identity(),
        'relu': nn.ReLU(),
        'relu6': nn.ReLU6(),
        'sigmoid': nn.Sigmoid(),
        'softmax': nn.Softmax(dim=1),
    }[name]


class NhwcReshape(nn.Module):
    """Keras Reshape/Flatten act on NHWC order; the tensor here is NCHW."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def forward(self, x):
        n = x.shape[0]
        # For 1×1 maps NHWC and NCHW orders agree: no transposes (which would also look like layers in ONNX).
        if x.dim() == 4 and x.shape[2] == 1 and x.shape[3] == 1:
            x = x.flatten(1)
        if x.dim() == 2 and list(self.target[:-1]) == [1, 1]:
            return x.view(n, -1, 1, 1)
        if x.dim() == 4:
            x = x.permute(0, 2, 3, 1)
        x = x.reshape(n, *self.target)
        return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


class GlobalAveragePool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def symmetric_same(config):
    """PyTorch's own padding= where TF's 'same' is symmetric (stride 1, odd extent): no extra F.pad pass."""
    if config['padding'] != 'same' or any(s != 1 for s in config['strides']):
        return None
    extents = [(k - 1) * d for k, d in zip(config['kernel_size'], config.get('dilation_rate', [1, 1]))]
    return tuple(e // 2 for e in extents) if all(e % 2 == 0 for e in extents) else None


def refuse(condition, what):
    if condition:
        raise ValueError(f'tfjs_to_torch does not rebuild {what}')


def layer_module(cls, config, weights, name):
    w = lambda key: torch.from_numpy(weights[f'{name}/{key}'])
    if cls == 'Conv2D':
        kernel = w('kernel').permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
        symmetric = symmetric_same(config)
        conv = nn.Conv2d(kernel.shape[1], kernel.shape[0], kernel.shape[2:], stride=config['strides'], dilation=config.get('dilation_rate', [1, 1]), bias=config['use_bias'], padding=symmetric or 0)
        conv.weight.data = kernel
        if config['use_bias']:
            conv.bias.data = w('bias')
        parts = [conv, activation(config.get('activation', 'linear'))]
        if config['padding'] == 'same' and not symmetric:
            parts.insert(0, SamePad(tuple(config['kernel_size']), tuple(config['strides']), tuple(config.get('dilation_rate', [1, 1]))))
        return nn.Sequential(*parts)
    if cls == 'DepthwiseConv2D':
        refuse(any(d != 1 for d in config.get('dilation_rate', [1, 1])), 'dilated depthwise convolutions')
        kernel = w('depthwise_kernel')  # H, W, C, M
        h, k, c, m = kernel.shape
        symmetric = symmetric_same(config)
        conv = nn.Conv2d(c, c * m, (h, k), stride=config['strides'], groups=c, bias=config['use_bias'], padding=symmetric or 0)
        conv.weight.data = kernel.permute(2, 3, 0, 1).reshape(c * m, 1, h, k).contiguous()
        if config['use_bias']:
            conv.bias.data = w('bias')
        parts = [conv, activation(config.get('activation', 'linear'))]
        if config['padding'] == 'same' and not symmetric:
            parts.insert(0, SamePad(tuple(config['kernel_size']), tuple(config['strides'])))
        return nn.Sequential(*parts)
    if cls == 'BatchNormalization':
        refuse(config.get('axis', -1) not in (-1, 3, [-1], [3]), 'batch norm over an axis other than the channels')
        gamma = w('gamma') if config.get('scale', True) else None
        bn = nn.BatchNorm2d(weights[f'{name}/moving_mean'].shape[0], eps=config['epsilon'])
        bn.running_mean.data, bn.running_var.data = w('moving_mean'), w('moving_variance')
        bn.weight.data = gamma if gamma is not None else torch.ones_like(bn.weight)
        bn.bias.data = w('beta') if config.get('center', True) else torch.zeros_like(bn.bias)
        return bn
    if cls == 'Activation':
        return activation(config['activation'])
    if cls == 'ReLU':
        refuse(config.get('max_value') not in (None, 6) or config.get('negative_slope') or config.get('threshold'), f'ReLU({config})')
        return nn.ReLU6() if config.get('max_value') == 6 else nn.ReLU()
    if cls == 'MaxPooling2D':
        pool = nn.MaxPool2d(config['pool_size'], config['strides'])
        return nn.Sequential(SamePad(tuple(config['pool_size']), tuple(config['strides']), value=-math.inf), pool) if config['padding'] == 'same' else pool
    if cls == 'GlobalAveragePooling2D':
        return GlobalAveragePool()
    if cls == 'Reshape':
        return NhwcReshape(config['target_shape'])
    if cls == 'Flatten':
        return NhwcReshape([-1])
    if cls == 'Dropout':
        return nn.Identity()
    if cls == 'Dense':
        refuse(not config.get('use_bias', True), 'Dense without a bias')
        dense = nn.Linear(*weights[f'{name}/kernel'].shape)
        dense.weight.data = w('kernel').t().contiguous()
        dense.bias.data = w('bias')
        return nn.Sequential(dense, activation(config.get('activation', 'linear')))
    raise ValueError(f'layer {name}: class {cls} is not mapped to PyTorch')


class KerasChain(nn.Module):
    """The layers in order, addressable by their Keras names (for Grad-CAM hooks)."""

    def __init__(self, names, modules, input_shape):
        super().__init__()
        self.names = names
        self.layers = nn.ModuleList(modules)
        self.input_shape = input_shape  # H, W, C

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def index(self, name):
        return self.names.index(name)


def load_tfjs_layers_model(model_json):
    model_dir = os.path.dirname(model_json)
    spec = json.load(open(model_json))
    topology = spec['modelTopology']
    config = topology.get('model_config', topology)['config']
    layers = config['layers'] if isinstance(config, dict) else config
    weights = read_weights(model_dir, spec['weightsManifest'])
    names, modules, previous, input_shape = [], [], None, None
    for layer in layers:
        cls, cfg = layer['class_name'], layer['config']
        inbound = layer.get('inbound_nodes') or []
        sources = [node[0] for node in inbound[0]] if inbound else []
        if previous is not None and sources and sources != [previous]:
            raise ValueError(f"layer {cfg['name']}: only chains of layers are supported (it reads {sources})")
        previous = cfg['name']
        if cls == 'InputLayer':
            input_shape = cfg['batch_input_shape'][1:]
            continue
        names.append(cfg['name'])
        modules.append(layer_module(cls, cfg, weights, cfg['name']))
    model = KerasChain(names, modules, input_shape)
    model.eval()
    return model


def scores_before_softmax(model):
    """Logits: the chain up to (not including) a final softmax, as Grad-CAM prescribes."""
    cut = len(model.layers)
    for i in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[i]
        if isinstance(layer, nn.Softmax):
            cut = i
            break
        if isinstance(layer, nn.Sequential) and isinstance(layer[-1], nn.Softmax):
            layer = nn.Sequential(*list(layer)[:-1])
            return nn.Sequential(*model.layers[:i], layer, *model.layers[i + 1:])
    return nn.Sequential(*model.layers[:cut], *model.layers[cut + 1:])
