"""Cluttered, localisation-checkable Fashion-MNIST canvases.

Each sample is a 64x64 RGB canvas holding one Fashion-MNIST item, scaled to
24-44 px, tinted with a random colour and placed at a random position fully
inside the canvas, over background clutter: low-contrast noise, a few small
crops of *other* items and a few thin line segments. Because the clutter looks
like bits of clothing but only the one whole item decides the class, where a
CAM/Grad-CAM heatmap points can be checked against the item's box.

The ground-truth box is [x0, y0, x1, y1] in canvas pixels, x1/y1 EXCLUSIVE
(width = x1 - x0): the tight box of the item's non-zero pixels once scaled
(alpha >= 1/255, i.e. non-zero in an 8-bit image).

Everything is drawn from numpy.random.default_rng(seed): same seed, same data.
"""
import colorsys
import gzip
import os

import numpy as np
from PIL import Image

# Installed by Debian's `dataset-fashion-mnist` package.
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CANVAS = 64
ITEM_SIZE = (24, 44)       # inclusive range of the scaled item's side, px
PATCHES = (2, 4)           # clutter crops of other items per canvas
PATCH_SIZE = (6, 10)       # their side, px
LINES = (1, 3)             # clutter line segments per canvas
# Opacity ranges of the clutter. These are the knobs to turn down if the
# classifier cannot reach its accuracy target (see models/README.md).
PATCH_ALPHA = (0.25, 0.55)
LINE_ALPHA = (0.2, 0.5)
NOISE_STD = 0.03


def load_fashion_mnist(split):
    """(images uint8 [N,28,28], labels uint8 [N]) for split 'train' or 't10k'."""
    def read(kind, offset):
        path = os.path.join(FASHION_DIR, f"{split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz")
        with gzip.open(path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    images = read("images", 16).reshape(-1, 28, 28)
    labels = read("labels", 8)
    assert len(images) == len(labels)
    return images, labels


def _colour(rng, value):
    """A random RGB colour (float [3]) with HSV value drawn from `value`."""
    h, s, v = rng.random(), rng.uniform(0.0, 0.85), rng.uniform(*value)
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32)


def _over(canvas, alpha, colour, x, y):
    """Alpha-composite a flat `colour` with mask `alpha` [h,w] at (x, y), in place."""
    h, w = alpha.shape
    region = canvas[y:y + h, x:x + w]
    a = alpha[..., None]
    region *= 1.0 - a
    region += a * colour


def _background(rng):
    """Dark random base colour plus coarse and fine low-contrast noise."""
    base = _colour(rng, (0.0, 0.3))
    # Smooth blotches: 8x8 noise upsampled bilinearly to the canvas.
    coarse = np.stack([np.asarray(Image.fromarray(c, mode="F").resize((CANVAS, CANVAS), Image.BILINEAR))
                       for c in rng.normal(0.0, 0.06, (3, 8, 8)).astype(np.float32)], axis=-1)
    fine = rng.normal(0.0, NOISE_STD, (CANVAS, CANVAS, 3)).astype(np.float32)
    return np.clip(base + coarse + fine, 0.0, 1.0)


def _line_mask(rng):
    """A 1-px anti-alias-free line segment of length 8-30 px, as a canvas mask."""
    mask = np.zeros((CANVAS, CANVAS), np.float32)
    x0, y0 = rng.uniform(0, CANVAS - 1, 2)
    angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(8, 30)
    t = np.linspace(0.0, 1.0, 64)
    xs = np.clip(np.rint(x0 + t * length * np.cos(angle)), 0, CANVAS - 1).astype(int)
    ys = np.clip(np.rint(y0 + t * length * np.sin(angle)), 0, CANVAS - 1).astype(int)
    mask[ys, xs] = 1.0
    return mask


def render(rng, items, i):
    """One canvas showing items[i] (uint8 [N,28,28]), clutter cropped from others.

    Returns (canvas float32 [64,64,3] in [0,1], box [x0,y0,x1,y1]).
    """
    canvas = _background(rng)

    for _ in range(rng.integers(PATCHES[0], PATCHES[1] + 1)):
        j = (i + 1 + rng.integers(len(items) - 1)) % len(items)  # any item but i
        src = items[j].astype(np.float32) / 255.0
        s = int(rng.integers(PATCH_SIZE[0], PATCH_SIZE[1] + 1))
        # Crop from the middle of the 28x28 frame, where the item usually is.
        cx, cy = rng.integers(4, 24 - s + 1, 2)
        crop = src[cy:cy + s, cx:cx + s] * rng.uniform(*PATCH_ALPHA)
        x, y = rng.integers(0, CANVAS - s + 1, 2)
        _over(canvas, crop, _colour(rng, (0.4, 1.0)), x, y)

    for _ in range(rng.integers(LINES[0], LINES[1] + 1)):
        mask = _line_mask(rng) * rng.uniform(*LINE_ALPHA)
        _over(canvas, mask, _colour(rng, (0.4, 1.0)), 0, 0)

    s = int(rng.integers(ITEM_SIZE[0], ITEM_SIZE[1] + 1))
    alpha = Image.fromarray(items[i].astype(np.float32) / 255.0, mode="F")
    alpha = np.clip(np.asarray(alpha.resize((s, s), Image.BILINEAR)), 0.0, 1.0)
    x, y = (int(v) for v in rng.integers(0, CANVAS - s + 1, 2))
    _over(canvas, alpha, _colour(rng, (0.65, 1.0)), x, y)

    ys, xs = np.nonzero(alpha >= 1.0 / 255.0)
    box = [x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1]
    return canvas, box


def make_split(images, labels, seed, count=None):
    """Render `count` (default all) canvases, item i from images[i].

    Returns (x uint8 [N,64,64,3], y int64 [N], boxes int16 [N,4]).
    """
    rng = np.random.default_rng(seed)
    n = len(images) if count is None else count
    x = np.empty((n, CANVAS, CANVAS, 3), np.uint8)
    boxes = np.empty((n, 4), np.int16)
    for i in range(n):
        canvas, boxes[i] = render(rng, images, i)
        x[i] = np.rint(canvas * 255.0).astype(np.uint8)
    return x, labels[:n].astype(np.int64), boxes
