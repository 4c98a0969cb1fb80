#!/usr/bin/python3
"""Exports the ONNX models the ONNX-import tests compare against onnxruntime (random weights, fixed seed).

Run with Debian's Python (python3-torch, python3-torchvision), not a pyenv shim:
    /usr/bin/python3 scripts/export-onnx-test-models.py [OUT_DIR]
OUT_DIR defaults to test-results/onnx-models (ignored by git). Files already there are kept.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test-results', 'onnx-models')
FIXTURES = os.environ.get('CNN_LENS_FIXTURES', os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'fixtures'))


def fixture_model(name):
    """A pretrained TF.js fixture rebuilt in PyTorch with its own weights (a known answer for the importer)."""
    sys.path.insert(0, os.path.dirname(__file__))
    from tfjs_to_torch import load_tfjs_layers_model, scores_before_softmax
    model = load_tfjs_layers_model(os.path.join(FIXTURES, 'models', name, 'model.json'))
    return scores_before_softmax(model)


def randomise_batch_norms(model):
    """Non-trivial running statistics, so that folding BatchNormalization into Conv is really tested."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)


class LayoutNet(nn.Module):
    """Everything a layout bug would show in: a non-square input, grouped + dilated and depthwise-multiplier
    convolutions, an explicit Pad, ceil-mode pooling, a flatten of a 3×2 map through Shape/Gather/Reshape
    (x.view(n, -1)), and a softmax at the end."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.depthwise = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8)
        self.asym = nn.Conv2d(16, 12, 3)
        self.avg = nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False)
        self.fc1 = nn.Linear(12 * 3 * 2, 20)
        self.fc2 = nn.Linear(20, 5)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.leaky_relu(self.grouped(x), 0.1)
        x = self.pool(x)
        x = F.hardswish(self.depthwise(x))
        x = F.pad(x, (0, 1, 1, 0))  # left, right, top, bottom: asymmetric
        x = self.asym(x)
        x = x * torch.sigmoid(x)
        x = self.avg(x)
        x = x.view(x.size(0), -1)
        x = torch.tanh(self.fc1(x))
        return F.softmax(self.fc2(x), dim=1)


class GapNet(nn.Module):
    """conv → relu → conv → relu → global average pooling → flatten → linear: a CAM head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1, stride=2)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Mlp(nn.Module):
    """No convolution at all."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3 * 8 * 8, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class SamePadNet(nn.Module):
    """TF-style "same" padding computed from the input's size at run time, as timm's tf_* models pad: Shape →
    arithmetic → Pad before each convolution, the odd pixel at the end, on a non-square input. ceil(size / s)
    is written (size + s - 1) // s, since -(-size // s) would export a Neg."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
        self.conv2 = nn.Conv2d(8, 12, 4, stride=2)
        self.conv3 = nn.Conv2d(12, 16, 4)
        self.fc = nn.Linear(16, 5)

    @staticmethod
    def pad_same(x, k, s, d=1):
        def total(size):
            return ((torch.div(size + s - 1, s, rounding_mode='trunc') - 1) * s + (k - 1) * d + 1 - size).clamp(min=0)

        ph, pw = total(x.shape[-2]), total(x.shape[-1])
        top, left = torch.div(ph, 2, rounding_mode='trunc'), torch.div(pw, 2, rounding_mode='trunc')
        return F.pad(x, [left, pw - left, top, ph - top])

    def forward(self, x):
        x = F.relu(self.conv1(self.pad_same(x, 3, 2)))
        x = F.relu(self.conv2(self.pad_same(x, 4, 2)))
        x = F.relu(self.conv3(self.pad_same(x, 4, 1)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def mobilenet_v1(alpha=0.75, classes=1000):
    """MobileNet v1 as Keras builds it (the TF.js layers fixture mobilenet_v1_0.75_224), for the speed comparison."""
    def conv_bn(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]

    def dw_sep(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]

    c = lambda n: int(n * alpha)
    layers = conv_bn(3, c(32), 2)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    cin = c(32)
    for cout, stride in plan:
        layers += dw_sep(cin, c(cout), stride)
        cin = c(cout)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, classes, 1), nn.Flatten(), nn.Softmax(dim=1))


MODELS = {
    # name: (constructor, input [n, c, h, w], opset, keep BatchNormalization nodes)
    'layoutnet': (LayoutNet, [1, 3, 24, 20], 13, True),
    'gapnet': (GapNet, [1, 3, 16, 16], 13, False),
    'mlp': (Mlp, [1, 3, 8, 8], 13, False),
    'mobilenet_v2': (lambda: torchvision.models.mobilenet_v2(), [1, 3, 224, 224], 13, False),
    'mobilenet_v2_bn': (lambda: torchvision.models.mobilenet_v2(), [1, 3, 224, 224], 13, True),
    'resnet18': (lambda: torchvision.models.resnet18(), [1, 3, 128, 128], 13, False),
    'squeezenet1_1': (lambda: torchvision.models.squeezenet1_1(), [1, 3, 128, 128], 13, False),
    'mobilenet_v3_small': (lambda: torchvision.models.mobilenet_v3_small(), [1, 3, 128, 128], 14, False),
    'mobilenet_v1_075': (lambda: mobilenet_v1(0.75), [1, 3, 224, 224], 13, False),
    'shufflenet_v2_x0_5': (lambda: torchvision.models.shufflenet_v2_x0_5(), [1, 3, 128, 128], 13, False),
    'samepadnet': (SamePadNet, [1, 3, 29, 22], 13, False),
    # Real weights (../shared/fixtures), logits out: the importer must reproduce the fixture's verified top-5.
    'fixture_mobilenet_v1_025': (lambda: fixture_model('mobilenet_v1_0.25_224_layers'), [1, 3, 224, 224], 13, False),
}
PRETRAINED = {'fixture_mobilenet_v1_025'}


def export(name, build, shape, opset, keep_bn):
    path = os.path.join(OUT, f'{name}.onnx')
    if os.path.exists(path):
        return
    torch.manual_seed(sum(map(ord, name)))
    model = build()
    if name not in PRETRAINED:
        randomise_batch_norms(model)
    model.eval()
    x = torch.randn(*shape)
    tmp = path + '.tmp'
    # TrainingMode.PRESERVE with do_constant_folding off keeps BatchNormalization nodes (in inference form),
    # so CNN Lens's own folding is exercised; the default (EVAL) lets the exporter fold them into Conv.
    training = torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, x, tmp, opset_version=opset, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}},
                      training=training, do_constant_folding=not keep_bn)
    os.replace(tmp, path)
    print(f'exported {path}')


def export_modern(name):
    """Today's architectures (modern_models.py) at the opset in the name; the same weights at every opset."""
    path = os.path.join(OUT, f'{name}.onnx')
    if os.path.exists(path):
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from modern_models import build
    model, shape = build(name)
    opset = int(name.rsplit('_op', 1)[1])
    tmp = path + '.tmp'
    torch.onnx.export(model, torch.randn(*shape), tmp, opset_version=opset, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})
    os.replace(tmp, path)
    print(f'exported {path}')


def modern_names():
    sys.path.insert(0, os.path.dirname(__file__))
    from modern_models import MODERN, OPSETS
    return [f'{name}_op{opset}' for name in MODERN for opset in OPSETS]


if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    only = set(os.environ.get('ONNX_MODELS', '').split(',')) - {''}
    for name, (build, shape, opset, keep_bn) in MODELS.items():
        if not only or name in only:
            export(name, build, shape, opset, keep_bn)
    for name in modern_names():
        if not only or name in only:
            export_modern(name)
