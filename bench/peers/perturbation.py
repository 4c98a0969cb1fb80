"""
Captum's perturbation methods on the fixture MobileNet (bench/peers/common.py), as test references.

Where the method is random (RISE, LIME, KernelSHAP) the reference replays CNN Lens's own draws for the seed
(its masks, coalitions), which bench/peers/ours.ts prints, so the two sides differ only in what they compute
from them; the superpixel methods likewise run on CNN Lens's SLIC segments of the photo (bench/peers/ours.ts),
recorded by a hash the test checks.
"""
import functools
import hashlib
import json
import os
import subprocess

import numpy as np
import torch

import common

PEER = 'captum'
DOG = common.CLASSES['dog']


@functools.lru_cache(maxsize=None)
def ours(what, parameters=''):
    """CNN Lens's draws (segments, masks, coalitions) as bench/peers/ours.ts prints them."""
    out = subprocess.check_output(['npx', 'tsx', os.path.join('bench', 'peers', 'ours.ts'), what, parameters], cwd=common.REPO, text=True)
    return json.loads(out)


def segments():
    """CNN Lens's SLIC labels of the photo [224, 224] (default parameters) and their hash."""
    record = ours('segments')
    labels = np.asarray(record['labels'], dtype=np.int64).reshape(224, 224)
    return labels, record['hash']


def attr(name):
    return getattr(common.import_peer(PEER, 'captum.attr'), name)


def channel_mean(attribution):
    return attribution[0].detach().mean(0).numpy()


def occlusion_run():
    x = common.input_tensor()
    with torch.no_grad():
        a = attr('Occlusion')(common.model()).attribute(x, target=DOG, sliding_window_shapes=(3, 15, 15), strides=(3, 8, 8), baselines=0, perturbations_per_eval=32)
    return channel_mean(a), 'Occlusion(model).attribute(x, target=242, sliding_window_shapes=(3, 15, 15), strides=(3, 8, 8), baselines=0)', None


REFERENCES = [
    {
        'name': 'occlusion-dog',
        'peer': PEER,
        'ours': {'technique': 'occlusion', 'class': DOG, 'parameters': {'window': 15, 'stride': 8, 'baseline': 'zero'}},
        'run': occlusion_run,
    },
]
