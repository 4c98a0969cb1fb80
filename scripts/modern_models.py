"""Today's architectures for the ONNX tests and benchmarks, built with Debian's torchvision 0.14 and given
weights that make every part of the network matter (random initialisation leaves some of it inert).

Used by export-onnx-test-models.py (the ONNX files), torch_reference.py (the PyTorch reference maps)
and the benchmark. Every builder is deterministic for a given name (seeded by the caller).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer


def make_everything_matter(model):
    """torchvision starts ConvNeXt's layer scales at 1e-6 and ViT's head and class token at zero: with those
    the blocks (or every class) contribute nothing and gradients vanish, which would hide errors. Give them
    magnitudes a trained network has."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'layer_scale' in name:
                p.uniform_(0.1, 0.5)
            elif p.abs().max() == 0:
                p.normal_(0, 0.05 if p.dim() > 1 else 0.02)
            elif name.endswith('class_token') or name.endswith('dist_token'):
                p.normal_(0, 0.02)
    return model


def convnext_tiny():
    return make_everything_matter(torchvision.models.convnext_tiny())


def vit_b_16_reduced(num_layers=2):
    """ViT-B/16 at full width (768, 12 heads) with fewer encoder blocks, to keep CI time."""
    model = VisionTransformer(image_size=224, patch_size=16, num_layers=num_layers, num_heads=12, hidden_dim=768, mlp_dim=3072)
    return make_everything_matter(model)


def vit_b_16():
    return make_everything_matter(torchvision.models.vit_b_16())


def swin_t_reduced():
    """Swin-T at full width with two blocks per stage (one plain, one shifted window: the mask arithmetic stays)."""
    model = SwinTransformer(patch_size=[4, 4], embed_dim=96, depths=[2, 2, 2, 2], num_heads=[3, 6, 12, 24], window_size=[7, 7], stochastic_depth_prob=0.0)
    return make_everything_matter(model)


class DeiT(VisionTransformer):
    """A DeiT-tiny-shaped ViT (192 wide, 3 heads) with a distillation token after the class token, the two
    heads averaged at inference, as DeiT does."""

    def __init__(self, num_layers=4, image_size=224, patch_size=16):
        super().__init__(image_size=image_size, patch_size=patch_size, num_layers=num_layers, num_heads=3, hidden_dim=192, mlp_dim=768)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, 192))
        grid = image_size // patch_size
        self.encoder.pos_embedding = nn.Parameter(torch.empty(1, grid * grid + 2, 192).normal_(std=0.02))
        self.head_dist = nn.Linear(192, 1000)

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        x = torch.cat([self.class_token.expand(n, -1, -1), self.dist_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        return (self.heads(x[:, 0]) + self.head_dist(x[:, 1])) / 2


def deit_tiny_distilled():
    return make_everything_matter(DeiT())


def same_padding(size, kernel, stride, dilation=1):
    # Ceiling division written as -(-a // b), as TF-port code does: the export then holds Neg.
    return max((-(size // -stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


class SamePadConv(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME", computed from the input's shape at run time (timm's tf_* models)."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        ph = same_padding(ih, self.kernel_size[0], self.stride[0], self.dilation[0])
        pw = same_padding(iw, self.kernel_size[1], self.stride[1], self.dilation[1])
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class SamePadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = SamePadConv(3, 8, 3, stride=2)
        self.conv2 = SamePadConv(8, 16, 5, stride=2)
        self.conv3 = SamePadConv(16, 24, 3, stride=1)
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def same_pad_cnn():
    return SamePadNet()


# name: (builder, input [n, c, h, w]); each is exported at opsets 13 and 17 as <name>_op13 / <name>_op17.
MODERN = {
    'convnext_tiny': (convnext_tiny, [1, 3, 128, 128]),
    'vit_b_16_2l': (vit_b_16_reduced, [1, 3, 224, 224]),
    'swin_t_2222': (swin_t_reduced, [1, 3, 224, 224]),
    'deit_tiny_dist': (deit_tiny_distilled, [1, 3, 224, 224]),
    'same_pad_cnn': (same_pad_cnn, [1, 3, 37, 45]),
}
OPSETS = (13, 17)


def build(name):
    """The model for an exported name such as 'vit_b_16_2l_op17', seeded as the export seeds it."""
    base = name.rsplit('_op', 1)[0]
    torch.manual_seed(sum(map(ord, base)))
    model = MODERN[base][0]()
    return model.eval(), MODERN[base][1]


# The benchmark's full-size models (bench/pytorch_modern.py; not exported for the tests): name: (builder,
# input, seed name). ConvNeXt-T at 224 shares the test model's weights (same seed name).
BENCH = {
    'vit_b_16': (vit_b_16, [1, 3, 224, 224], 'vit_b_16'),
    'convnext_tiny_224': (convnext_tiny, [1, 3, 224, 224], 'convnext_tiny'),
}


def build_bench(name):
    """A benchmark model by name (an '_opNN' suffix, as in its ONNX file's name, is ignored), seeded as build() seeds."""
    base = name.rsplit('_op', 1)[0] if '_op' in name else name
    if base not in BENCH:
        raise KeyError(f'{name}: not a test model ({", ".join(MODERN)}) nor a benchmark model ({", ".join(BENCH)})')
    builder, shape, seed = BENCH[base]
    torch.manual_seed(sum(map(ord, seed)))
    return builder().eval(), shape
