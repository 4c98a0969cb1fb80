#!/usr/bin/python3
"""
The Python reference for `npm run bench:photo`: the whole Grad-CAM job on a phone photo the way a
PyTorch + OpenCV script does it, on the same network and weights CNN Lens runs (rebuilt from the TF.js
model by scripts/tfjs_to_torch.py; Grad-CAM as bench/pytorch_reference.py computes it):
PIL open + convert('RGB') + resize to the model's input (Image.BILINEAR: antialiased, stretched), scaled
as the model's preset, Grad-CAM at LAYER for the top class, the map min-max normalised, upscaled to the
photo's size with cv2.resize (INTER_LINEAR), cv2.applyColorMap (JET), blended 50 % over the photo with
cv2.addWeighted and written with cv2.imwrite (default PNG settings).

Timed in-process from file open to PNG written: the first job (`job_ms`), then --repeat N more
(`warm_jobs`). --class-changes K times Grad-CAM for K other classes on the open photo (its model input
kept, as a script keeps its tensor): forward + backward + the map upscaled to the photo's size
(`class_changes`; the Grad-CAM part alone: `class_change_cams`). Prints one JSON object (milliseconds). Run with Debian's /usr/bin/python3
(python3-torch, python3-pil, python3-opencv).

    photo_reference.py MODEL_JSON PHOTO OUT_PNG [--layer NAME] [--preset NAME] [--threads N]
                       [--repeat N] [--class-changes K]
"""
import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
from pytorch_reference import Split, scale  # noqa: E402
from tfjs_to_torch import load_tfjs_layers_model  # noqa: E402

IMPORTED = time.perf_counter()


def model_input(image, preset, shape):
    """The decoded photo as the model's input: PIL's antialiased bilinear, stretched to H×W."""
    h, w, _ = shape
    small = image.resize((w, h), Image.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(scale(rgb, preset), dtype=np.float32)).permute(2, 0, 1)[None].contiguous()


def grad_cam(split, x, cls=None):
    """Grad-CAM at the layer's resolution, min-max normalised (float32 numpy), and the logits."""
    a = split.activations(x)
    logits = split.head(a)
    if cls is None:
        cls = int(logits[0].argmax())
    (g,) = torch.autograd.grad(logits[0, cls], a)
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1))[0].detach()
    cam = ((cam - cam.min()) / (cam.max() - cam.min() + 1e-7)).numpy().astype(np.float32)
    return cam, logits.detach()[0], cls


def job(split, preset, shape, photo, out):
    """File open to PNG written."""
    image = Image.open(photo).convert('RGB')
    x = model_input(image, preset, shape)
    cam, logits, cls = grad_cam(split, x)
    width, height = image.size
    heat = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)
    bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    overlay = cv2.addWeighted(bgr, 0.5, colour, 0.5, 0)
    if not cv2.imwrite(out, overlay):
        raise RuntimeError(f'cv2.imwrite could not write {out}')
    top5 = torch.softmax(logits, 0).topk(5)
    return image, x, cls, [[int(i), float(p)] for p, i in zip(top5.values, top5.indices)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('model_json')
    parser.add_argument('photo')
    parser.add_argument('out')
    parser.add_argument('--layer', default='conv_pw_13_relu')
    parser.add_argument('--preset', default='mobilenet')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    parser.add_argument('--repeat', type=int, default=0, help='warm jobs timed after the first')
    parser.add_argument('--class-changes', type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_tfjs_layers_model(args.model_json)
    split = Split(model, args.layer)
    shape = model.input_shape
    loaded = time.perf_counter()

    start = time.perf_counter()
    image, x, cls, top5 = job(split, args.preset, shape, args.photo, args.out)
    first = (time.perf_counter() - start) * 1000

    warm = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        job(split, args.preset, shape, args.photo, args.out)
        warm.append((time.perf_counter() - start) * 1000)

    # Other classes on the open photo, none asked before: the rest of the top-5, then classes spread over
    # the range (as bench/photo.ts asks the engine).
    changes = []
    top = [c for c, _ in top5]
    with torch.no_grad():
        n = split.head(split.activations(x)).shape[1]
    classes = top[1:] + [i * 37 % n for i in range(n) if i * 37 % n not in top]
    width, height = image.size
    cams = []
    for i in range(args.class_changes):
        start = time.perf_counter()
        cam, _, _ = grad_cam(split, x, classes[i % len(classes)])
        cams.append((time.perf_counter() - start) * 1000)
        cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
        changes.append((time.perf_counter() - start) * 1000)

    result = {
        'torch': torch.__version__,
        'opencv': cv2.__version__,
        'threads': torch.get_num_threads(),
        'size': [width, height],
        'class': cls,
        'top5': top5,
        'import_ms': (IMPORTED - START) * 1000,
        'model_ms': (loaded - IMPORTED) * 1000,
        'job_ms': first,
        'warm_jobs': warm,
        'warm_job_ms': statistics.median(warm) if warm else None,
        'class_changes': changes,
        'class_change_ms': statistics.median(changes) if changes else None,
        'class_change_cams': cams,
    }
    print(json.dumps(result))


if __name__ == '__main__':
    main()
