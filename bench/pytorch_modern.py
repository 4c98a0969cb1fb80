#!/usr/bin/python3
"""
The PyTorch half of `npm run bench:pytorch` for today's architectures: ViT-B/16 with all 12 blocks and
ConvNeXt-T at 224 (scripts/modern_models.py build_bench, seeded as the test models are), one image, median
milliseconds of forward, Grad-CAM, saliency and, for ViT, attention rollout and the attention-gradient rule,
each computed as scripts/torch_reference.py defines it and run the way the PyTorch tools run it:
pytorch-grad-cam's Grad-CAM (hooks, autograd to the layer, map upsampled and min-max normalised),
vit-explain's rollout (attention captured in a no-grad forward pass, the products), Chefer et al.'s rule
(one backward pass to the attention probabilities), saliency by one backward pass to the input.
Prints one JSON object with the medians, the PyTorch build's BLAS, and the maps at their own resolution
(for checking both sides computed the same ones). Run with Debian's /usr/bin/python3.

    pytorch_modern.py MODEL [--input NCHW_F32 | --image PATH] [--class C] [--layer PATH]
                      [--export ONNX_PATH [--export-only]] [--threads N] [--repeats N] [--budget-s S]

MODEL: vit_b_16 or convnext_tiny_224. --input: raw little-endian float32 NCHW (what CNN Lens feeds its own
run); --image: a photo resized to 224 and scaled as ImageNet models are; neither: seeded noise. --export
writes the model as ONNX (opset 17, dynamic batch) at that path unless it is there; keep it out of git
(test-results/ or a cache directory).
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
import modern_models  # noqa: E402
import torch_reference as ref  # noqa: E402

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def blas_in_use():
    """Which BLAS library torch's process mapped: Debian's torch calls whatever libblas.so.3 resolves to, and
    the reference (netlib) one is ~30× slower than OpenBLAS on the Linear layers transformers are made of."""
    try:
        with open('/proc/self/maps') as f:
            paths = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
    except OSError:
        return 'unknown'
    for p in sorted(paths):
        if 'openblas' in p:
            return f'OpenBLAS ({p})'
        if 'mkl' in p:
            return f'MKL ({p})'
    return f'reference BLAS ({", ".join(sorted(paths))})' if paths else 'unknown'


def model_input(args, shape):
    if args.input:
        return ref.read_input(args.input, shape, torch.float32), 'given tensor'
    if args.image:
        from PIL import Image
        rgb = np.asarray(Image.open(args.image).convert('RGB').resize((shape[3], shape[2]), Image.BILINEAR), dtype=np.float32) / 255
        x = (rgb - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None], os.path.basename(args.image)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(3)), 'seeded noise'


def timed(run, repeats, budget_s):
    """Median ms of up to `repeats` runs after one warm-up, stopping early once `budget_s` is spent (a
    ViT-B forward pass takes seconds on the reference BLAS); at least one timed run."""
    run()
    samples = []
    spent = 0.0
    while len(samples) < repeats and (not samples or spent < budget_s):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
        spent += samples[-1] / 1000
    return statistics.median(samples), len(samples)


def grad_cam(model, x, cls, layer):
    tap = ref.LayerTap(model, layer)
    try:
        score = model(x)[0, cls]
    finally:
        tap.remove()
    out = tap.outputs[0]
    (g,) = torch.autograd.grad(score, out)
    layout = ref.layout_of(model, layer, out)
    special = out.shape[1] - ref.patch_grid(model, x)[0] * ref.patch_grid(model, x)[1] if layout == 'tokens' else None
    grid = ref.patch_grid(model, x) if layout == 'tokens' else None
    cam, _ = ref.grad_cam_maps(ref.as_maps(out.detach(), layout, special, grid), ref.as_maps(g, layout, special, grid))
    up = F.interpolate(cam[None, None], size=x.shape[2:], mode='bilinear', align_corners=False)[0, 0]
    return cam, (up - up.min()) / (up.max() - up.min() + 1e-7)


def saliency(model, x, cls):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[0, cls], x)
    return g[0].abs().amax(0)


def attention_rollout(model, x, fusion='mean', discard_ratio=0.0):
    with ref.AttentionCapture(model) as capture, torch.no_grad():
        model(x)
    special = capture.probabilities[0].shape[-1] - ref.patch_grid(model, x)[0] * ref.patch_grid(model, x)[1]
    heads = [a.view(-1, a.shape[-2], a.shape[-1]) for a in capture.probabilities]
    final, _, _ = ref.rollout(heads, fusion, discard_ratio)
    return final[0, special:]


def attention_gradient(model, x, cls):
    with ref.AttentionCapture(model) as capture:
        score = model(x)[0, cls]
    grads = torch.autograd.grad(score, capture.probabilities)
    t = capture.probabilities[0].shape[-1]
    special = t - ref.patch_grid(model, x)[0] * ref.patch_grid(model, x)[1]
    relevance, _ = ref.chefer_relevance([a.detach().view(-1, t, t) for a in capture.probabilities], [g.view(-1, t, t) for g in grads])
    return relevance[0, special:]


def export(model, shape, path):
    if os.path.exists(path):
        return False
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    torch.onnx.export(model, torch.randn(*shape), tmp, opset_version=17, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})
    os.replace(tmp, path)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', choices=sorted(modern_models.BENCH))
    parser.add_argument('--input')
    parser.add_argument('--image')
    parser.add_argument('--class', dest='cls', type=int)
    parser.add_argument('--layer')
    parser.add_argument('--head-fusion', default='mean', choices=['mean', 'max', 'min'])
    parser.add_argument('--discard-ratio', type=float, default=0.0)
    parser.add_argument('--export')
    parser.add_argument('--export-only', action='store_true')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--budget-s', type=float, default=20.0, help='time spent on one measure before its median is taken')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, shape = modern_models.build_bench(args.model)
    exported = export(model, shape, args.export) if args.export else False
    if args.export_only:
        print(json.dumps({'exported': exported, 'path': args.export}))
        return
    x, source = model_input(args, shape)
    layer = args.layer or ref.default_layer(model)
    with torch.no_grad():
        logits = model(x)
    cls = int(logits.argmax()) if args.cls is None else args.cls
    result = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_in_use(), 'model': args.model,
              'input': source, 'class': cls, 'layer': layer, 'exported': exported}
    samples = {}

    def measure(key, run):
        result[key], samples[key] = timed(run, args.repeats, args.budget_s)

    with torch.no_grad():
        measure('forward', lambda: model(x))
    measure('gradcam', lambda: grad_cam(model, x, cls, layer))
    measure('saliency', lambda: saliency(model, x, cls))
    tokens = ref.is_token_model(model)
    if tokens:
        measure('rollout', lambda: attention_rollout(model, x, args.head_fusion, args.discard_ratio))
        measure('attention_gradient', lambda: attention_gradient(model, x, cls))
    result['samples'] = samples
    cam, _ = grad_cam(model, x, cls, layer)
    result['gradcam_map'] = ref.flat(cam)
    result['gradcam_grid'] = list(cam.shape)
    result['saliency_map'] = ref.flat(saliency(model, x, cls))
    if tokens:
        result['rollout_map'] = ref.flat(attention_rollout(model, x, args.head_fusion, args.discard_ratio))
        result['attention_gradient_map'] = ref.flat(attention_gradient(model, x, cls))
    print(json.dumps(result))


if __name__ == '__main__':
    main()
