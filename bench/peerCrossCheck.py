#!/usr/bin/python3
"""
scripts/torch_reference.py against the peers' own code, on the test models: pytorch-grad-cam's GradCAM
(with its ViT / Swin reshape transforms), vit-explain's attention rollout, and the self-attention rule of
Chefer et al. as their Transformer-MM-Explainability ViT notebook writes it. Run once by hand and recorded
in the README; it needs checkouts of the peers, which CI cannot download:

    /usr/bin/python3 bench/peerCrossCheck.py [--grad-cam DIR] [--vit-explain DIR] [--chefer DIR]

DIR is a checkout of jacobgil/pytorch-grad-cam, jacobgil/vit-explain, hila-chefer/Transformer-MM-Explainability.
A peer whose path is not given is skipped with a message. Their code is imported and run from there, never
copied. Each comparison normalises both maps to [0, 1] (min-max) at the same resolution and prints Pearson's r
and the largest absolute difference.

The attentions handed to vit-explain and to Chefer's rules are captured here independently of
torch_reference.py: each block's attention is recomputed from its ln_1 output and in_proj weights
(softmax(q·kᵀ/√d)) and the block's attention output is replaced by the recomputed one, so the gradients
reach these tensors; the replacement's largest difference from nn.MultiheadAttention's output is printed.

Recorded (torch 1.13, cat_dog.png; pytorch-grad-cam 084273b, vit-explain 15a81d3, Transformer-MM-Explainability
58eaea8), r and max |Δ| of the [0, 1]-normalised maps:
  Grad-CAM, layer grid: ViT-B/16 (2 blocks) @ ln_1 1.000000 / 4.5e-7; DeiT-tiny distilled @ ln_1 1.000000 /
    3.2e-7; Swin-T @ features.7.1.norm1 1.000000 / 1.7e-7, @ norm 1.000000 / 2.1e-7; ConvNeXt-T @ features.7
    1.000000 / 5.8e-8 (at input size, after their cv2.resize: ≤ 5.2e-7);
  rollout, mean fusion, no discarding: 1.000000 / 9.0e-7 (ViT), 1.2e-6 (DeiT); max or min fusion, or discard
    0.9: r 0.949-0.997, all of it vit-explain's column-wise division (issue #16): ours with that division
    gives their P_L exactly (max |Δ| 0), so the discarding convention is the same;
  Chefer's rule (their generate_relevance): ViT and DeiT 1.000000 / 0.
"""
import argparse
import importlib
import json
import math
import os
import sys
import types

import cv2
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'scripts'))
import torch_reference as ref  # noqa: E402
from torchvision.models.vision_transformer import EncoderBlock  # noqa: E402

FIXTURE_IMAGE = os.path.join(HERE, '..', '..', 'shared', 'fixtures', 'images', 'pytorch-cnn-visualizations', 'cat_dog.png')

# name, Grad-CAM layers (pytorch-grad-cam's README: the last block's first norm for ViT and Swin).
MODELS = [
    ('vit_b_16_2l_op17', ['encoder.layers.encoder_layer_1.ln_1']),
    ('deit_tiny_dist_op13', ['encoder.layers.encoder_layer_3.ln_1']),
    ('swin_t_2222_op17', ['features.7.1.norm1', 'norm']),
    ('convnext_tiny_op13', ['features.7']),
]
ROLLOUT_SETTINGS = [('mean', 0.0), ('max', 0.0), ('min', 0.0), ('mean', 0.9), ('max', 0.9)]


def model_input(shape):
    """The fixture photo (ImageNet scaling) when it is there, otherwise seeded noise: the same for both sides."""
    try:
        from PIL import Image
        rgb = np.asarray(Image.open(FIXTURE_IMAGE).convert('RGB').resize((shape[3], shape[2]), Image.BILINEAR), dtype=np.float32) / 255
        x = (rgb - np.array([0.485, 0.456, 0.406], dtype=np.float32)) / np.array([0.229, 0.224, 0.225], dtype=np.float32)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None], 'cat_dog.png'
    except (ImportError, OSError):
        return torch.randn(*shape, generator=torch.Generator().manual_seed(7)), 'seeded noise'


def unit(a):
    a = np.asarray(a, dtype=np.float64)
    return (a - a.min()) / (a.max() - a.min() + 1e-12)


def agreement(ours, theirs):
    a, b = unit(ours).ravel(), unit(theirs).ravel()
    return {'r': float(np.corrcoef(a, b)[0, 1]), 'max_abs_diff': float(np.abs(a - b).max())}


def line(label, numbers, extra=''):
    print(f'  {label}: r = {numbers["r"]:.6f}, max |Δ| = {numbers["max_abs_diff"]:.2e}{extra}')


# ---- pytorch-grad-cam ------------------------------------------------------------------------------------

def import_grad_cam(root):
    """Its GradCAM without running the package's __init__ (which imports every method and their optional
    dependencies). Modules Debian lacks here (ttach, scipy, sklearn, matplotlib) are imported but never used
    on the GradCAM path without aug_smooth (ttach only builds its default augmentations), so empty
    stand-ins take their place when they are missing."""
    unused = lambda *args, **kwargs: None  # noqa: E731
    for name, attrs in {'ttach': {'Compose': unused, 'HorizontalFlip': unused, 'Multiply': unused}, 'scipy': {}, 'scipy.ndimage': {'zoom': None},
                        'sklearn': {}, 'sklearn.decomposition': {'KernelPCA': None}, 'matplotlib': {},
                        'matplotlib.pyplot': {}, 'matplotlib.lines': {'Line2D': None}}.items():
        try:
            importlib.import_module(name)
        except ImportError:
            stand_in = types.ModuleType(name)
            stand_in.__dict__.update(attrs)
            sys.modules[name] = stand_in
            parent, _, child = name.rpartition('.')
            if parent:
                setattr(sys.modules[parent], child, stand_in)
    package = types.ModuleType('pytorch_grad_cam')
    package.__path__ = [os.path.join(root, 'pytorch_grad_cam')]
    sys.modules['pytorch_grad_cam'] = package
    return (importlib.import_module('pytorch_grad_cam.grad_cam').GradCAM,
            importlib.import_module('pytorch_grad_cam.utils.model_targets').ClassifierOutputTarget,
            importlib.import_module('pytorch_grad_cam.utils.reshape_transforms'))


def check_grad_cam(root):
    GradCAM, Target, transforms = import_grad_cam(root)
    print(f'pytorch-grad-cam ({root}): GradCAM, ClassifierOutputTarget, its reshape transforms')
    for name, layers in MODELS:
        model, shape = ref.load_model(name)
        x, source = model_input(shape)
        with torch.no_grad():
            cls = int(model(x).argmax())
        for layer in layers:
            result = ref.explain(model, x, cls, layer)
            ours = result['gradcam']
            h, w = ours['grid']
            if ours['layout'] == 'tokens':
                special = result['tokens']['special']
                # Their ViT transform drops one token; DeiT's distillation token goes first.
                reshape = lambda t, s=special, h=h, w=w: transforms.vit_reshape_transform(t[:, s - 1:], h, w)  # noqa: E731
            elif ours['layout'] == 'nhwc':
                # Theirs expects timm's Swin tokens [B, H·W, C]; torchvision keeps [B, H, W, C].
                reshape = lambda t, h=h, w=w: transforms.swinT_reshape_transform(t.flatten(1, 2), h, w)  # noqa: E731
            else:
                reshape = None
            cam = GradCAM(model=model, target_layers=[model.get_submodule(layer)], reshape_transform=reshape)
            full = cam(input_tensor=x, targets=[Target(cls)])[0]
            acts = cam.activations_and_grads.activations[0].numpy()
            grads = cam.activations_and_grads.gradients[0].numpy()
            grid = np.maximum(cam.get_cam_image(x, None, None, acts, grads, False)[0], 0)
            cam.activations_and_grads.release()
            mine = np.array(ours['map']).reshape(h, w)
            print(f' {name} @ {layer} ({ours["layout"]}, {h}×{w}; {source}, class {cls}):')
            line('layer grid', agreement(mine, grid),
                 f' (raw: ours max {mine.max():.4g}, theirs {grid.max():.4g})')
            # Theirs is upsampled with cv2.resize after min-max; ours the same way, to compare at input size.
            up = cv2.resize(np.float32(unit(mine)), (x.shape[3], x.shape[2]))
            line(f'input size {x.shape[2]}×{x.shape[3]}', agreement(up, full))


# ---- independent attention capture ----------------------------------------------------------------------

class ManualAttention:
    """Each encoder block's attention recomputed from what nn.MultiheadAttention receives and its weights,
    and put in place of its output, so gradients flow through these probabilities."""

    def __init__(self, model, keep_grad=False):
        self.blocks = [b.self_attention for b in model.modules() if isinstance(b, EncoderBlock)]
        self.keep_grad = keep_grad
        self.maps, self.grads, self.worst = [], [], 0.0

    def _recompute(self, module, x, their_out, index):
        b, t, c = x.shape
        heads = module.num_heads
        q, k, v = F.linear(x, module.in_proj_weight, module.in_proj_bias).chunk(3, dim=-1)
        split = lambda z: z.reshape(b, t, heads, c // heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        probabilities = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // heads), dim=-1)
        if self.keep_grad and probabilities.requires_grad:
            probabilities.register_hook(lambda g, i=index: self.grads.__setitem__(i, g))
        self.maps[index] = probabilities
        out = module.out_proj((probabilities @ v).transpose(1, 2).reshape(b, t, c))
        self.worst = max(self.worst, float((out - their_out).abs().max()))
        return out, None

    def __enter__(self):
        self.maps = [None] * len(self.blocks)
        self.grads = [None] * len(self.blocks)
        for i, block in enumerate(self.blocks):
            # torchvision passes query, key and value by keyword, which forward hooks do not see: a
            # per-instance forward runs the module's own and returns the recomputed output instead.
            block.forward = self._replaced(block, i)
        return self

    def _replaced(self, block, index):
        original = type(block).forward.__get__(block)

        def forward(query, key, value, **kwargs):
            their_out = original(query, key, value, **kwargs)[0]
            return self._recompute(block, query, their_out, index)
        return forward

    def __exit__(self, *exc):
        for block in self.blocks:
            del block.forward


# ---- vit-explain -----------------------------------------------------------------------------------------

class RecordingTorch:
    """torch as vit_rollout sees it, except that its matmul results are recorded: the last one is its P_L, so
    the whole matrix can be compared (and DeiT's class-token row read past both special tokens, where its own
    mask slice [0, 0, 1:] assumes one)."""

    def __init__(self):
        self.last = None

    def __getattr__(self, name):
        return getattr(torch, name)

    def matmul(self, a, b):
        self.last = torch.matmul(a, b)
        return self.last


def column_divided_rollout(fused, eye):
    """Our fused matrices with vit-explain's division (row j's sum over column j), to show it is the only
    difference where the two disagree."""
    prefix = eye
    for f in fused:
        hat = 0.5 * f + 0.5 * eye
        prefix = (hat / hat.sum(dim=-1)[None, :]) @ prefix
    return prefix


def check_vit_explain(root):
    sys.path.insert(0, root)
    vit_rollout = importlib.import_module('vit_rollout')
    recorder = RecordingTorch()
    vit_rollout.torch = recorder
    print(f'vit-explain ({root}): vit_rollout.rollout on attentions captured here')
    for name, _ in MODELS[:2]:
        model, shape = ref.load_model(name)
        x, source = model_input(shape)
        with ManualAttention(model) as manual, torch.no_grad():
            cls = int(model(x).argmax())
        attentions = [a.detach() for a in manual.maps]
        ours_all = ref.explain(model, x, cls)
        special, (gh, gw) = ours_all['tokens']['special'], ours_all['tokens']['grid']
        t = attentions[0].shape[-1]
        print(f' {name} ({source}; {len(attentions)} blocks, {t} tokens, {special} special; '
              f'recomputed attention vs nn.MultiheadAttention: max |Δ| {manual.worst:.1e}):')
        ours_attn = [a[0] for a in attentions]
        for fusion, ratio in ROLLOUT_SETTINGS:
            mask = None
            try:
                mask = vit_rollout.rollout([a.clone() for a in attentions], ratio, fusion)
            except RuntimeError:
                pass  # its reshape of T - 1 tokens to a square fails with two special tokens
            theirs_full = recorder.last[0]
            ours_full, fused, _ = ref.rollout(ours_attn, fusion, ratio)
            ours_map = ours_full[0, special:].numpy()
            theirs_map = theirs_full[0, special:].numpy()
            numbers = agreement(ours_map, theirs_map)
            extra = f'; P_L max |Δ| {float((ours_full - theirs_full).abs().max()):.1e}'
            if mask is not None:
                extra += f'; their own mask: r = {agreement(ours_map.reshape(gh, gw), mask)["r"]:.6f}'
            if numbers['max_abs_diff'] > 1e-5:
                same = column_divided_rollout(fused, torch.eye(t))
                extra += (f'; with their column division ours gives r = '
                          f'{agreement(same[0, special:].numpy(), theirs_map)["r"]:.6f}, '
                          f'P_L max |Δ| {float((same - theirs_full).abs().max()):.1e}')
            line(f'{fusion}, discard {ratio}', numbers, extra)
        # the script's own capture (need_weights) against this one
        ours_map = np.array(ours_all['rollout']['map'])
        mine = ref.rollout(ours_attn, 'mean', 0.0)[0][0, special:].numpy()
        line('torch_reference.py rollout (need_weights capture) vs this capture', agreement(ours_map, mine))


# ---- Chefer et al. ---------------------------------------------------------------------------------------

def chefer_functions(root):
    """avg_heads, apply_self_attention_rules and generate_relevance as their ViT notebook defines them."""
    with open(os.path.join(root, 'Transformer_MM_explainability_ViT.ipynb')) as f:
        cells = json.load(f)['cells']
    source = next(''.join(c['source']) for c in cells if c['cell_type'] == 'code' and 'def avg_heads' in ''.join(c['source']))
    namespace = {'torch': torch, 'np': np}
    exec(compile(source, 'Transformer_MM_explainability_ViT.ipynb', 'exec'), namespace)
    return namespace


class CheferModel:
    """The interface their generate_relevance reads (model(x, register_hook=True), model.blocks[i].attn's
    get_attention_map / get_attn_gradients) over a torchvision ViT with the attention captured here."""

    class _Attn:
        def __init__(self, owner, index):
            self.owner, self.index = owner, index

        def get_attention_map(self):
            return self.owner.manual.maps[self.index]

        def get_attn_gradients(self):
            return self.owner.manual.grads[self.index]

    class _Block:
        def __init__(self, attn):
            self.attn = attn

    def __init__(self, model):
        self.model = model
        self.manual = ManualAttention(model, keep_grad=True)
        self.blocks = [self._Block(self._Attn(self, i)) for i in range(len(self.manual.blocks))]

    def __call__(self, x, register_hook=False):
        self.manual.__enter__()
        try:
            return self.model(x)
        finally:
            self.manual.__exit__()

    def zero_grad(self):
        self.model.zero_grad()


def check_chefer(root):
    ns = chefer_functions(root)
    print(f'Chefer et al. ({root}): generate_relevance from Transformer_MM_explainability_ViT.ipynb')
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # their notebook moves tensors to the GPU
    try:
        for name, _ in MODELS[:2]:
            model, shape = ref.load_model(name)
            x, source = model_input(shape)
            with torch.no_grad():
                cls = int(model(x).argmax())
            wrapped = CheferModel(model)
            theirs_row = ns['generate_relevance'](wrapped, x, index=cls).detach()
            ours = ref.explain(model, x, cls)
            special = ours['tokens']['special']
            theirs = theirs_row[special - 1:].numpy()  # their R[0, 1:], past a distillation token too
            line(f'{name} ({source}, class {cls}; recomputed attention max |Δ| {wrapped.manual.worst:.1e})',
                 agreement(np.array(ours['attention_gradient']['map']), theirs))
    finally:
        torch.Tensor.cuda = cuda


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--grad-cam', help='checkout of jacobgil/pytorch-grad-cam')
    parser.add_argument('--vit-explain', help='checkout of jacobgil/vit-explain')
    parser.add_argument('--chefer', help='checkout of hila-chefer/Transformer-MM-Explainability')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}; maps min-max normalised to [0, 1] before comparing')
    for flag, path, check in [('--grad-cam', args.grad_cam, check_grad_cam),
                              ('--vit-explain', args.vit_explain, check_vit_explain),
                              ('--chefer', args.chefer, check_chefer)]:
        if not path:
            print(f'(skipped: give {flag} DIR, a checkout of the peer, to compare with it)')
        elif not os.path.isdir(path):
            print(f'(skipped: {flag} {path} is not a directory)')
        else:
            check(path)


if __name__ == '__main__':
    main()
