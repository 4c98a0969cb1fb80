"""The CAM-ready classifier: VGG-style conv blocks -> global average pooling -> Dense logits.

Module names are the layer names of the exported TF.js model (block1_conv1,
block1_bn1, block1_relu1, block1_pool, ..., gap, logits), so the two line up
one to one.
"""
from collections import OrderedDict

import torch.nn as nn

# (filters, convs) per block; a 2x2 max-pool follows every block but the last,
# so the last conv block (the CAM / Grad-CAM target) works at 64 / 2**3 = 8x8.
BLOCKS = [(16, 1), (32, 2), (64, 2), (128, 2)]
NUM_CLASSES = 10


def build_model(blocks=BLOCKS, num_classes=NUM_CLASSES):
    layers = OrderedDict()
    channels = 3
    for b, (filters, convs) in enumerate(blocks, start=1):
        for c in range(1, convs + 1):
            # No conv bias: the BatchNorm right after has its own shift (beta).
            layers[f"block{b}_conv{c}"] = nn.Conv2d(channels, filters, 3, padding=1, bias=False)
            layers[f"block{b}_bn{c}"] = nn.BatchNorm2d(filters, eps=1e-5)
            layers[f"block{b}_relu{c}"] = nn.ReLU(inplace=True)
            channels = filters
        if b < len(blocks):
            layers[f"block{b}_pool"] = nn.MaxPool2d(2)
    layers["gap"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    layers["logits"] = nn.Linear(channels, num_classes)  # logits: no softmax in the model
    return nn.Sequential(layers)


def last_conv_name(model):
    """Name of the last ReLU before `gap`: the layer CAM and Grad-CAM read."""
    return [n for n, m in model.named_children() if isinstance(m, nn.ReLU)][-1]
