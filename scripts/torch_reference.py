#!/usr/bin/python3
"""
The PyTorch reference the TypeScript tests compare CNN Lens's maps against, for the models of
scripts/modern_models.py (ViT, DeiT with a distillation token, Swin, ConvNeXt, the same-pad CNN) and the
benchmark's ViT-B/16 and ConvNeXt-T. Textbook computations by autograd; no CAM library, so CI needs
nothing beyond Debian's python3-torch and python3-torchvision.

    torch_reference.py MODEL INPUT SHAPE CLASS [--layer PATH] [--head-fusion mean|max|min]
                       [--discard-ratio R] [--dtype float32|float64] [--details]
                       [--offsets C:EPS,...] [--input-offsets CH:Y:X:EPS,...]
                       [--attention-offsets BLOCK:ROW:EPS,...]

MODEL   a name build() knows, e.g. vit_b_16_2l_op17, deit_tiny_dist_op13, swin_t_2222_op17, convnext_tiny_op13
        (the opset suffix names the ONNX file; the weights are the same at every opset), or a benchmark model
        (build_bench: vit_b_16, convnext_tiny_224).
INPUT   raw little-endian float32, NCHW, batch 1, exactly SHAPE's element count (the TS test writes it).
SHAPE   "1,3,224,224".
CLASS   the class index c; every score below is the model's output logit y_c before any softmax.

Prints one JSON object. Maps are flat row-major lists (index = row·width + column), unnormalised; "grid" is
[rows, columns].

Definitions
-----------
Tokens (ViT, DeiT). The encoder's sequence is [class token, (distillation token,) patch tokens]: S special
tokens (S = 1 for ViT, 2 for DeiT-distilled) then the N = gh·gw patches in row-major order, so patch (r, k) is
token S + r·gw + k; T = S + N. Token maps below take the S special tokens off and lay the N patch tokens on
the gh×gw grid.

logits: the model's output for the input (the plain forward, without any hook).

gradcam (Selvaraju et al. 2017) at the module named by --layer (a dotted module path; the default is the
last encoder block's ln_1 for ViT/DeiT, "norm" for Swin, "features.7" for ConvNeXt). The module's output
is read as channel maps A [C, h, w], the way pytorch-grad-cam's reshape transforms do:
  * ViT/DeiT token output [1, T, C]: tokens S..T-1 laid on the grid, A[c, r, k] = out[0, S + r·gw + k, c];
  * Swin (torchvision keeps [1, H, W, C] through its stages and final norm): A[c, r, k] = out[0, r, k, c];
  * CNN output [1, C, H, W] as it is.
With G = dy_c/dA (same layout), w_c = mean over (r, k) of G[c, r, k] and
  gradcam[r, k] = max(0, Σ_c w_c · A[c, r, k])
at the layer's own grid (not upsampled).

saliency (Simonyan et al. 2014): saliency[i, j] = max over input channels ch of |dy_c / dx[0, ch, i, j]|,
at the input's H×W.

rollout (Abnar & Zuidema 2020), ViT/DeiT only. For encoder block l = 1..L (forward order) let A_l be its
attention probabilities [heads, T, T], A_l[h, i, j] = how much query token i takes from key token j (each
row sums to 1: softmax(q·kᵀ/√d) of nn.MultiheadAttention, read by running it with need_weights=True,
average_attn_weights=False). Then
  F_l = mean over h of A_l[h]          (--head-fusion max / min: the elementwise max / min over heads);
  discard (--discard-ratio ρ > 0, vit-explain's convention): k = floor(T²·ρ); the k smallest entries of F_l,
      ranked over the whole T×T matrix, are set to 0, except F_l[0, 0] (class token to itself), which is
      never dropped (so k - 1 entries are dropped when it ranks among the k). Only that one entry is kept:
      the class token's other row and column entries can be dropped (vit-explain removes flat index 0 only,
      whatever its comment says). Ties are ranked by torch.topk (real attention has none);
  Â_l = (0.5·F_l + 0.5·I) with each row divided by its sum, so every row sums to 1 (vit-explain divides
      by a.sum(dim=-1) without keepdim, which broadcasts row j's sum over column j: the same only while every
      row already sums to 1, i.e. mean fusion without discarding);
  P_0 = I, P_l = Â_l · P_{l-1}, so P_L = Â_L ⋯ Â_1 (the last block's on the left);
  rollout[r, k] = P_L[0, S + r·gw + k]  (the class token's row, over the patch-token columns).

attention_gradient (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability", rules 5-6 for
self-attention encoders), ViT/DeiT only. With ∇A_l = dy_c/dA_l (gradient with respect to the probabilities,
before dropout, which eval mode skips):
  Ā_l = (1/heads) Σ_h max(0, ∇A_l[h] ⊙ A_l[h])   (clamp each head's product, then average);
  R_0 = I (T×T); for l = 1..L: R_l = R_{l-1} + Ā_l · R_{l-1};
  attention_gradient[r, k] = R_L[0, S + r·gw + k]  (the class token's row; for DeiT its class token,
      index 0, even though the model's output averages the class and distillation heads).

Checks it reports (the TS test asserts on them):
  capture.max_abs_diff: |logits with the attention capture in place - plain forward|, max over classes;
  --offsets C:EPS: y_c with EPS added to channel C of the Grad-CAM layer's output at every position of the
      map (patch tokens only), by a forward hook, without autograd: (y(+ε) - y(-ε)) / (2ε·h·w) estimates w_C;
  --input-offsets CH:Y:X:EPS: y_c with EPS added to input pixel (CH, Y, X): central differences estimate
      dy_c/dx, whose largest magnitude over CH is saliency[Y, X];
  --attention-offsets BLOCK:ROW:EPS: y_c with block BLOCK's attention output o (nn.MultiheadAttention's,
      after out_proj, bias b) replaced at query row ROW (or "all") by o + EPS·(o - b), which is what scaling
      that row of every head's probabilities by (1 + EPS) does; the central difference estimates
      Σ_{h,j} ∇A[h, ROW, j]·A[h, ROW, j] (the same product Chefer's rule clamps);
  --details: the intermediate arrays, so the test can redo each step itself, each packed as
      {shape, dtype, base64 of its little-endian values}: gradcam.weights [C] and gradcam.activations
      [C, h, w]; attention and attention_grad [L, heads, T, T] (A_l, ∇A_l); rollout.fused [L, T, T] (F_l after
      discarding) and rollout.prefixes [L, T, T] (P_1..P_L); attention_gradient.products [L, T, T] (Ā_l) and
      attention_gradient.relevance [T, T] (R_L).
"""
import argparse
import base64
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.convnext import ConvNeXt
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modern_models  # noqa: E402


def load_model(name):
    """(eval model, its [n, c, h, w] input shape) for a test-model name or a benchmark-model name."""
    if name.rsplit('_op', 1)[0] in modern_models.MODERN:
        return modern_models.build(name)
    return modern_models.build_bench(name)


def read_input(path, shape, dtype):
    data = np.fromfile(path, dtype='<f4')
    if data.size != math.prod(shape):
        raise SystemExit(f'{path}: {data.size} float32 values, but the shape {shape} needs {math.prod(shape)}')
    if shape[0] != 1:
        raise SystemExit('one image at a time (batch 1)')
    return torch.from_numpy(data.reshape(shape)).to(dtype)


def is_token_model(model):
    return isinstance(model, VisionTransformer)


def patch_grid(model, x):
    p = model.patch_size
    return x.shape[2] // p, x.shape[3] // p


def default_layer(model):
    if is_token_model(model):
        return f'encoder.layers.{list(dict(model.encoder.layers.named_children()))[-1]}.ln_1'
    if isinstance(model, SwinTransformer):
        return 'norm'
    if isinstance(model, ConvNeXt):
        return 'features.7'
    raise SystemExit('name the Grad-CAM layer with --layer (a dotted module path)')


def layout_of(model, layer, out):
    if out.dim() == 3 and is_token_model(model):
        return 'tokens'
    # torchvision's Swin is channels-last from its patch embedding to its final norm; its `permute` turns it.
    if out.dim() == 4 and isinstance(model, SwinTransformer) and (layer == 'norm' or layer.startswith('features')):
        return 'nhwc'
    if out.dim() == 4:
        return 'nchw'
    raise SystemExit(f'{layer}: output of shape {list(out.shape)} is not a map this reference reads')


def as_maps(t, layout, special, grid):
    """A layer output (or its gradient) as channels-first maps [C, h, w] of the one image."""
    if layout == 'tokens':
        tokens = t[0, special:]
        if tokens.shape[0] != grid[0] * grid[1]:
            raise SystemExit(f'{tokens.shape[0]} patch tokens do not fill a {grid[0]}×{grid[1]} grid')
        return tokens.T.reshape(-1, grid[0], grid[1])
    if layout == 'nhwc':
        return t[0].permute(2, 0, 1)
    return t[0]


class LayerTap:
    """The named module's output, kept in the graph; optionally shifted by an offset on one channel."""

    def __init__(self, model, layer):
        self.module = model.get_submodule(layer)
        self.outputs = []
        self.shift = None  # (function of the output giving the shifted output)
        self.handle = self.module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        if not torch.is_tensor(output):
            raise SystemExit(f'{module.__class__.__name__}: its output is not one tensor')
        if self.shift is not None:
            output = self.shift(output)
        self.outputs.append(output)
        return output

    def remove(self):
        self.handle.remove()


class AttentionCapture:
    """Every EncoderBlock's nn.MultiheadAttention run with need_weights=True, average_attn_weights=False, its
    probabilities kept ([heads, T, T] for one image). With gradients on, the returned weights are a view taken
    after the probabilities were used, so gradients must be asked of the tensor it views (the softmax output),
    not of the view. Without them PyTorch takes its fused kernel, whose weights are no view: kept as they are."""

    def __init__(self, model):
        self.attentions = [b.self_attention for b in model.modules() if isinstance(b, EncoderBlock)]
        self.probabilities = []

    def __enter__(self):
        self.probabilities = []
        for attention in self.attentions:
            attention.forward = self._wrap(attention, type(attention).forward.__get__(attention))
        return self

    def _wrap(self, attention, original):
        def forward(*args, **kwargs):
            kwargs.update(need_weights=True, average_attn_weights=False)
            out, weights = original(*args, **kwargs)
            if not torch.is_grad_enabled():
                self.probabilities.append(weights.reshape(-1, *weights.shape[-2:]))
                return out, weights
            base = weights._base
            if base is None or base.data_ptr() != weights.data_ptr() or base.numel() != weights.numel():
                raise RuntimeError('nn.MultiheadAttention no longer returns a view of its probabilities')
            self.probabilities.append(base)
            return out, weights
        return forward

    def __exit__(self, *exc):
        for attention in self.attentions:
            del attention.forward


def fuse_heads(a, fusion):
    if fusion == 'mean':
        return a.mean(0)
    if fusion == 'max':
        return a.amax(0)
    if fusion == 'min':
        return a.amin(0)
    raise SystemExit(f'head fusion {fusion!r}: mean, max or min')


def discard_lowest(fused, ratio):
    t = fused.shape[-1]
    k = int(t * t * ratio)
    if k == 0:
        return fused
    flat = fused.flatten().clone()
    lowest = torch.topk(flat, k, largest=False).indices
    flat[lowest[lowest != 0]] = 0
    return flat.view(t, t)


def rollout(attentions, fusion='mean', discard_ratio=0.0):
    """(P_L, the fused matrices after discarding, the prefixes P_1..P_L) for attentions [L][heads, T, T]."""
    t = attentions[0].shape[-1]
    eye = torch.eye(t, dtype=attentions[0].dtype)
    prefix = eye
    fused_all, prefixes = [], []
    for a in attentions:
        fused = discard_lowest(fuse_heads(a, fusion), discard_ratio)
        hat = 0.5 * fused + 0.5 * eye
        hat = hat / hat.sum(dim=-1, keepdim=True)
        prefix = hat @ prefix
        fused_all.append(fused)
        prefixes.append(prefix)
    return prefix, fused_all, prefixes


def chefer_relevance(attentions, gradients):
    """(R_L, the head-averaged clamped products Ā_l) for attentions and their gradients [L][heads, T, T]."""
    t = attentions[0].shape[-1]
    relevance = torch.eye(t, dtype=attentions[0].dtype)
    products = []
    for a, g in zip(attentions, gradients):
        bar = (g * a).clamp(min=0).mean(0)
        relevance = relevance + bar @ relevance
        products.append(bar)
    return relevance, products


def grad_cam_maps(acts, grads):
    """(map [h, w], channel weights [C]) from channels-first activations and gradients [C, h, w]."""
    weights = grads.mean(dim=(1, 2))
    return F.relu((weights[:, None, None] * acts).sum(0)), weights


def flat(t):
    return t.detach().flatten().tolist()


def packed(t):
    """A --details array: its shape and its values as little-endian bytes in base64 (in --dtype), which is
    a quarter of the JSON text and parses in a blink."""
    values = t.detach().contiguous().numpy()
    values = values.astype(values.dtype.newbyteorder('<'), copy=False)
    return {'shape': list(values.shape), 'dtype': str(values.dtype.name), 'base64': base64.b64encode(values.tobytes()).decode('ascii')}


def explain(model, x, cls, layer=None, fusion='mean', discard_ratio=0.0, details=False):
    """Every map of the docstring for one image, from one forward pass and one backward pass."""
    layer = layer or default_layer(model)
    tokens = is_token_model(model)
    with torch.no_grad():
        plain = model(x)
    tap = LayerTap(model, layer)
    capture = AttentionCapture(model) if tokens else None
    xg = x.clone().requires_grad_(True)
    try:
        if capture:
            with capture:
                logits = model(xg)
        else:
            logits = model(xg)
    finally:
        tap.remove()
    if len(tap.outputs) != 1:
        raise SystemExit(f'{layer} ran {len(tap.outputs)} times in one forward pass; it must run once')
    out = tap.outputs[0]
    probs = capture.probabilities if capture else []
    score = logits[0, cls]
    grads = torch.autograd.grad(score, [xg, out] + probs)
    d_input, d_out, d_probs = grads[0], grads[1], grads[2:]

    result = {
        'model': model.__class__.__name__,
        'class': cls,
        'input_shape': list(x.shape),
        'logits': flat(plain[0]),
        'score': float(plain[0, cls]),
        'top_class': int(plain[0].argmax()),
        'capture': {'max_abs_diff': float((logits.detach() - plain).abs().max()),
                    'logit_range': float(plain.max() - plain.min())},
    }

    layout = layout_of(model, layer, out)
    grid = patch_grid(model, x) if layout == 'tokens' else None
    special = None
    if tokens:
        n = patch_grid(model, x)[0] * patch_grid(model, x)[1]
        special = (probs[0].shape[-1] if probs else out.shape[1]) - n
    acts = as_maps(out.detach(), layout, special, grid)
    gmaps = as_maps(d_out, layout, special, grid)
    cam, weights = grad_cam_maps(acts, gmaps)
    result['gradcam'] = {'layer': layer, 'layout': layout, 'grid': list(cam.shape), 'map': flat(cam)}
    if details:
        result['gradcam']['weights'] = packed(weights)
        result['gradcam']['activations'] = packed(acts)

    sal = d_input[0].abs().amax(0)
    result['saliency'] = {'grid': list(sal.shape), 'map': flat(sal)}

    if not tokens:
        result['not_applicable'] = {'rollout': 'no global self-attention over tokens with a class token',
                                    'attention_gradient': 'no global self-attention over tokens with a class token'}
        return result

    heads = [a.shape[0] // x.shape[0] for a in probs]
    t = probs[0].shape[-1]
    attn = [p.detach().view(h, t, t) for p, h in zip(probs, heads)]
    attn_grads = [g.view(h, t, t) for g, h in zip(d_probs, heads)]
    gh, gw = patch_grid(model, x)
    result['tokens'] = {'count': t, 'special': special, 'grid': [gh, gw], 'blocks': len(attn), 'heads': heads[0]}

    final, fused, prefixes = rollout(attn, fusion, discard_ratio)
    result['rollout'] = {'head_fusion': fusion, 'discard_ratio': discard_ratio, 'grid': [gh, gw],
                         'map': flat(final[0, special:])}
    relevance, products = chefer_relevance(attn, attn_grads)
    result['attention_gradient'] = {'grid': [gh, gw], 'map': flat(relevance[0, special:])}
    if details:
        result['rollout'].update(fused=packed(torch.stack(fused)), prefixes=packed(torch.stack(prefixes)))
        result['attention_gradient'].update(products=packed(torch.stack(products)), relevance=packed(relevance))
        result['attention'] = packed(torch.stack(attn))
        result['attention_grad'] = packed(torch.stack(attn_grads))
    return result


def offset_scores(model, x, cls, layer, offsets):
    """y_c with each (channel, eps) added to the layer's map (patch tokens only), one forward pass each."""
    tap = LayerTap(model, layer)
    scores = []
    try:
        for channel, eps in offsets:
            def shift(out, channel=channel, eps=eps):
                out = out.clone()
                layout = layout_of(model, layer, out)
                if layout == 'tokens':
                    n = patch_grid(model, x)[0] * patch_grid(model, x)[1]
                    out[0, out.shape[1] - n:, channel] += eps
                elif layout == 'nhwc':
                    out[0, :, :, channel] += eps
                else:
                    out[0, channel] += eps
                return out
            tap.shift = shift
            with torch.no_grad():
                scores.append({'channel': channel, 'eps': eps, 'score': float(model(x)[0, cls])})
    finally:
        tap.remove()
    return scores


def input_offset_scores(model, x, cls, offsets):
    scores = []
    for channel, y, x_, eps in offsets:
        shifted = x.clone()
        shifted[0, channel, y, x_] += eps
        with torch.no_grad():
            scores.append({'channel': channel, 'y': y, 'x': x_, 'eps': eps, 'score': float(model(shifted)[0, cls])})
    return scores


def attention_offset_scores(model, x, cls, offsets):
    """y_c with block b's attention output o replaced at query row r by o + eps·(o - out_proj bias)."""
    blocks = [b.self_attention for b in model.modules() if isinstance(b, EncoderBlock)]
    scores = []
    for block, row, eps in offsets:
        attention = blocks[block]

        def hook(module, inputs, output, row=row, eps=eps):
            out, weights = output
            shifted = out + eps * (out - module.out_proj.bias)
            if row == 'all':
                return shifted, weights
            out = out.clone()
            out[:, row] = shifted[:, row]
            return out, weights
        handle = attention.register_forward_hook(hook)
        try:
            with torch.no_grad():
                scores.append({'block': block, 'row': row, 'eps': eps, 'score': float(model(x)[0, cls])})
        finally:
            handle.remove()
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model')
    parser.add_argument('input')
    parser.add_argument('shape')
    parser.add_argument('cls', type=int)
    parser.add_argument('--layer')
    parser.add_argument('--head-fusion', default='mean', choices=['mean', 'max', 'min'])
    parser.add_argument('--discard-ratio', type=float, default=0.0)
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float64'])
    parser.add_argument('--details', action='store_true')
    parser.add_argument('--offsets', default='')
    parser.add_argument('--input-offsets', default='')
    parser.add_argument('--attention-offsets', default='')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    if not 0 <= args.discard_ratio < 1:
        raise SystemExit('--discard-ratio: from 0 to below 1')
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    model, _ = load_model(args.model)
    model = model.to(dtype)
    shape = [int(v) for v in args.shape.split(',')]
    x = read_input(args.input, shape, dtype)
    result = explain(model, x, args.cls, args.layer, args.head_fusion, args.discard_ratio, args.details)
    result['dtype'] = args.dtype
    if args.offsets:
        pairs = [(int(c), float(e)) for c, e in (item.split(':') for item in args.offsets.split(','))]
        result['offsets'] = offset_scores(model, x, args.cls, result['gradcam']['layer'], pairs)
    if args.input_offsets:
        quads = [(int(c), int(y), int(x_), float(e)) for c, y, x_, e in (item.split(':') for item in args.input_offsets.split(','))]
        result['input_offsets'] = input_offset_scores(model, x, args.cls, quads)
    if args.attention_offsets:
        triples = [(int(b), r if r == 'all' else int(r), float(e))
                   for b, r, e in (item.split(':') for item in args.attention_offsets.split(','))]
        result['attention_offsets'] = attention_offset_scores(model, x, args.cls, triples)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
