#!/usr/bin/python3
"""
The PyTorch reference for `npm run bench:pytorch`: the same network CNN Lens runs (rebuilt from the
TF.js model's own weights by scripts/tfjs_to_torch.py), the same image and scaling, timed doing what
the PyTorch tools do — forward, Grad-CAM, saliency and Score-CAM written the way pytorch-grad-cam
computes them (activations and gradients by autograd; Score-CAM: every channel upsampled, min-max
normalised, multiplied into the input, the masked batch run forward, the target's scores softmaxed
across the channels as weights), SmoothGrad (25 samples) and integrated gradients (50 steps) as
Captum batches them.
Prints one JSON object of median milliseconds. Run with Debian's /usr/bin/python3 (python3-torch).

    pytorch_reference.py MODEL_JSON IMAGE PRESET LAYER [--threads N] [--scorecam-all]
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'scripts'))
from tfjs_to_torch import load_tfjs_layers_model, scores_before_softmax  # noqa: E402

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def scale(rgb, preset):
    if preset == 'mobilenet':
        return rgb / 127.5 - 1
    if preset == 'zero-one':
        return rgb / 255
    if preset == 'imagenet':
        return (rgb / 255 - IMAGENET_MEAN) / IMAGENET_STD
    if preset == 'caffe':
        return rgb[..., ::-1] - np.array([103.939, 116.779, 123.68], dtype=np.float32)
    return rgb


def model_input(image_path, preset, shape):
    h, w, c = shape
    rgb = torch.from_numpy(np.asarray(Image.open(image_path).convert('RGB'), dtype=np.float32)).permute(2, 0, 1)[None]
    # Half-pixel bilinear without antialiasing, as tf.image.resizeBilinear(halfPixelCenters) in CNN Lens.
    rgb = F.interpolate(rgb, size=(h, w), mode='bilinear', align_corners=False).clamp(0, 255)
    nhwc = rgb[0].permute(1, 2, 0).numpy()
    return torch.from_numpy(np.ascontiguousarray(scale(nhwc, preset), dtype=np.float32)).permute(2, 0, 1)[None].contiguous()


def timed(run, warmup, repeats):
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


class Split:
    """The logits network cut at one layer: activations there, and the rest as a function of them."""

    def __init__(self, model, layer):
        self.net = scores_before_softmax(model)
        target = model.layers[model.index(layer)]
        self.cut = next(i for i, m in enumerate(self.net) if m is target) + 1

    def activations(self, x):
        for m in list(self.net)[: self.cut]:
            x = m(x)
        return x

    def head(self, a):
        for m in list(self.net)[self.cut:]:
            a = m(a)
        return a.reshape(a.shape[0], -1)


def grad_cam(split, x, cls):
    a = split.activations(x)
    score = split.head(a)[0, cls]
    (g,) = torch.autograd.grad(score, a)
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[2:], mode='bilinear', align_corners=False)
    return ((cam - cam.min()) / (cam.max() - cam.min() + 1e-7)).detach()


def saliency(split, x, cls):
    x = x.clone().requires_grad_(True)
    score = split.head(split.activations(x))[0, cls]
    (g,) = torch.autograd.grad(score, x)
    return g.abs().amax(dim=1)


def input_gradients(split, xs, cls):
    xs = xs.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(split.head(split.activations(xs))[:, cls].sum(), xs)
    return g


def smooth_grad(split, x, cls, samples=25, sigma=0.15, batch=25):
    spread = sigma * (x.max() - x.min())
    grads = [input_gradients(split, x + spread * torch.randn((min(batch, samples - i),) + x.shape[1:]), cls) for i in range(0, samples, batch)]
    return torch.cat(grads).mean(0).abs().amax(0)


def integrated_gradients(split, x, cls, steps=50, batch=25):
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    total = torch.zeros_like(x)
    for i in range(0, steps, batch):
        a = alphas[i:i + batch, None, None, None]
        total += input_gradients(split, a * x, cls).sum(0, keepdim=True)
    return (x * total / steps).sum(1)


@torch.no_grad()
def score_cam(split, x, cls, channels=None, batch=32):
    a = split.activations(x)
    if channels:
        keep = a[0].flatten(1).var(dim=1).topk(min(channels, a.shape[1])).indices
        a = a[:, keep]
    up = F.interpolate(a, size=x.shape[2:], mode='bilinear', align_corners=False)[0]
    lo = up.flatten(1).min(1).values[:, None, None]
    hi = up.flatten(1).max(1).values[:, None, None]
    masks = (up - lo) / (hi - lo + 1e-7)
    weights = []
    for i in range(0, masks.shape[0], batch):
        scores = split.head(split.activations(x * masks[i:i + batch, None]))
        weights.append(scores[:, cls])
    # As pytorch-grad-cam (and CNN Lens): the target's score under each mask, softmaxed across the channels.
    w = F.softmax(torch.cat(weights), dim=0)
    return F.relu((w[:, None, None] * a[0]).sum(0))


@torch.no_grad()
def eigen_cam(split, x):
    # As pytorch-grad-cam's get_2d_projection: SVD of the centred [h·w, c] activations, projection on the first.
    a = split.activations(x)[0]
    rows = a.flatten(1).T.numpy()
    rows = rows - rows.mean(axis=0)
    _, _, vt = np.linalg.svd(rows, full_matrices=True)
    return torch.from_numpy((rows @ vt[0]).reshape(a.shape[1:]))


@torch.no_grad()
def ablation_cam(split, x, cls, batch=32):
    # As pytorch-grad-cam's AblationCAM: each channel zeroed in turn, the head rerun in batches; weight = relative drop.
    a = split.activations(x)
    original = split.head(a)[0, cls]
    drops = []
    for start in range(0, a.shape[1], batch):
        channels = range(start, min(start + batch, a.shape[1]))
        ablated = a.repeat(len(channels), 1, 1, 1)
        for i, c in enumerate(channels):
            ablated[i, c] = 0
        drops.append((original - split.head(ablated)[:, cls]) / original)
    w = torch.cat(drops)
    return F.relu((w[:, None, None] * a[0]).sum(0))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('model_json')
    parser.add_argument('image')
    parser.add_argument('preset')
    parser.add_argument('layer')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=11)
    parser.add_argument('--scorecam-all', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_tfjs_layers_model(args.model_json)
    x = model_input(args.image, args.preset, model.input_shape)
    split = Split(model, args.layer)
    with torch.no_grad():
        cls = int(split.head(split.activations(x)).argmax())
        batch = x.repeat(32, 1, 1, 1)
        forward = timed(lambda: split.head(split.activations(x)), 5, args.repeats * 2)
        forward32 = timed(lambda: split.head(split.activations(batch)), 1, max(3, args.repeats // 3)) / 32
    channels = split.activations(x).shape[1]
    result = {
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'class': cls,
        'channels': channels,
        'forward': forward,
        'forward_batch32_per_image': forward32,
        'gradcam': timed(lambda: grad_cam(split, x, cls), 2, args.repeats),
        'saliency': timed(lambda: saliency(split, x, cls), 2, args.repeats),
        'smoothgrad': timed(lambda: smooth_grad(split, x, cls), 1, max(3, args.repeats // 3)),
        'integrated_gradients': timed(lambda: integrated_gradients(split, x, cls), 1, max(3, args.repeats // 3)),
        'scorecam64': timed(lambda: score_cam(split, x, cls, 64), 1, 3),
        'eigencam': timed(lambda: eigen_cam(split, x), 2, args.repeats),
        'ablationcam': timed(lambda: ablation_cam(split, x, cls), 1, 3),
    }
    if args.scorecam_all:
        result['scorecam_all'] = timed(lambda: score_cam(split, x, cls), 0, 1)
    # Grad-CAM at the layer's resolution, for checking both sides computed the same map.
    a = split.activations(x)
    (g,) = torch.autograd.grad(split.head(a)[0, cls], a)
    result['gradcam_map'] = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))[0].flatten().tolist()
    print(json.dumps(result))


if __name__ == '__main__':
    main()
