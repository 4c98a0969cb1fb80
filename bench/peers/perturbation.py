"""
Captum's perturbation methods, and RISE from its authors' code, on the fixture MobileNet
(bench/peers/common.py), as test references. RISE's checkout (eclique/RISE) goes beside Captum's in the peers'
folder (CNN_LENS_PEERS/RISE); only its explanations.py is used.

Where the method is random (RISE, LIME, KernelSHAP) the reference replays CNN Lens's own draws for the seed
(its masks, coalitions), which bench/peers/ours.ts prints, so the two sides differ only in what they compute
from them; the superpixel methods likewise run on CNN Lens's SLIC segments of the photo (bench/peers/ours.ts),
recorded by a hash the test checks.
"""
import functools
import importlib
import json
import os
import subprocess
import sys

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


def feature_mask():
    labels, digest = segments()
    return torch.from_numpy(labels)[None, None], {'segments': int(labels.max() + 1), 'segmentsHash': digest}


def replay(coalitions):
    """A Captum perturb_func (a generator, as LimeBase accepts) yielding CNN Lens's coalitions in order."""
    def generate(_inputs, **_kwargs):
        for coalition in coalitions:
            yield torch.tensor([[int(c) for c in coalition]], dtype=torch.long)
    return generate


def feature_ablation_run():
    mask, extra = feature_mask()
    with torch.no_grad():
        a = attr('FeatureAblation')(common.model()).attribute(common.input_tensor(), target=DOG, feature_mask=mask, baselines=0, perturbations_per_eval=32)
    return channel_mean(a), 'FeatureAblation(model).attribute(x, target=242, feature_mask=<CNN Lens SLIC>, baselines=0)', extra


def surrogate_run(kind, samples, seed):
    def run():
        mask, extra = feature_mask()
        coalitions = ours(kind, f"{samples},{extra['segments']},{seed}")['coalitions']
        if kind == 'lime':
            explainer = attr('Lime')(common.model(), perturb_func=replay(coalitions))
            call = 'Lime(model, perturb_func=<CNN Lens coalitions>)'
        else:
            explainer = attr('KernelShap')(common.model())
            explainer.perturb_func = replay(coalitions)
            call = 'KernelShap(model) with perturb_func=<CNN Lens coalitions>'
        with torch.no_grad():
            a = explainer.attribute(common.input_tensor(), target=DOG, feature_mask=mask, baselines=0, n_samples=samples, perturbations_per_eval=32)
        return channel_mean(a), f'{call}.attribute(x, target=242, feature_mask=<CNN Lens SLIC>, baselines=0, n_samples={samples})', {**extra, 'seed': seed}
    return run


class ReplayedNumpy:
    """numpy as Captum's gradient_shap and _utils.common see it, with np.random's uniform (α) and choice (baselines) replaying CNN Lens's draws."""
    def __init__(self, alphas, baselines):
        real = np.random

        class Random:
            def uniform(self, low, high, size):
                assert size == len(alphas), f'Captum drew {size} α, CNN Lens {len(alphas)}'
                return np.asarray(alphas, dtype=np.float64)

            def choice(self, count, size):
                assert size == len(baselines), f'Captum drew {size} baselines, CNN Lens {len(baselines)}'
                return np.asarray(baselines)

            def __getattr__(self, name):
                return getattr(real, name)
        self.random = Random()

    def __getattr__(self, name):
        return getattr(np, name)


def gradient_shap_run(samples, seed):
    """Captum's GradientShap with baselines black and white (−1 and 1 in MobileNet's scaling), no noise, and CNN Lens's α and baseline draws."""
    def run():
        draws = ours('gradient-shap', f'{samples},2,{seed}')
        x = common.input_tensor()
        baselines = torch.cat([torch.full_like(x, -1.0), torch.full_like(x, 1.0)])
        attr('GradientShap')  # puts the checkout on the path
        modules = [importlib.import_module('captum.attr._core.gradient_shap'), importlib.import_module('captum._utils.common')]
        for m in modules:
            m.np = ReplayedNumpy(draws['alpha'], draws['baseline'])
        try:
            a = attr('GradientShap')(common.model()).attribute(x, baselines=baselines, target=DOG, n_samples=samples, stdevs=0.0)
        finally:
            for m in modules:
                m.np = np
        call = f'GradientShap(model).attribute(x, baselines=[black, white], target=242, n_samples={samples}, stdevs=0) with <CNN Lens α and baseline draws>, channels summed, clipped at the 99th percentile of |a|'
        # CNN Lens's signed view clips at the 99th percentile of |a| (Captum's visualiser clips outliers too).
        summed = a[0].detach().sum(0).numpy()
        cap = np.quantile(np.abs(summed), 0.99)
        return np.clip(summed, -cap, cap), call, {'seed': seed}
    return run


def rise_run(masks, cells, keep, seed):
    """
    The authors' RISE module (explanations.RISE, its forward: masked copies, scores, Σ p·M / N / p1) on the
    masks its generate_masks would make from CNN Lens's grids and shifts: the same resize and crop, our draws
    instead of numpy's. The model ends in a softmax, as in the authors' notebooks.
    """
    def run():
        from skimage.transform import resize
        root = common.peer_path('RISE')
        if root not in sys.path:
            sys.path.insert(0, root)
        explanations = importlib.import_module('explanations')
        draws = ours('rise', f'{masks},{cells},{keep},{seed}')
        cell = np.ceil(np.array((224, 224)) / cells)
        up = (cells + 1) * cell
        stack = np.empty((masks, 224, 224))
        for i, (grid, (x, y)) in enumerate(zip(draws['grids'], draws['shifts'])):
            grid = np.array([int(c) for c in grid], dtype='float32').reshape(cells, cells)
            stack[i] = resize(grid, up, order=1, mode='reflect', anti_aliasing=False)[x:x + 224, y:y + 224]
        explainer = explanations.RISE(torch.nn.Sequential(common.model(), torch.nn.Softmax(dim=1)), (224, 224), gpu_batch=50)
        explainer.masks = torch.from_numpy(stack.reshape(-1, 1, 224, 224)).float()
        explainer.N, explainer.p1 = masks, keep
        with torch.no_grad():
            saliency = explainer(common.input_tensor())
        return saliency[DOG].numpy(), f'RISE(Sequential(model, Softmax), (224, 224)) with masks from <CNN Lens grids and shifts, N={masks}, s={cells}, p1={keep}>', {'seed': seed}
    return run


REFERENCES = [
    {
        'name': 'occlusion-dog',
        'peer': PEER,
        'ours': {'technique': 'occlusion', 'class': DOG, 'parameters': {'window': 15, 'stride': 8, 'baseline': 'zero'}},
        'run': occlusion_run,
    },
    {
        'name': 'feature-ablation-dog',
        'peer': PEER,
        'ours': {'technique': 'feature-ablation', 'class': DOG, 'parameters': {'segments': 50, 'compactness': 10, 'baseline': 'zero'}},
        'run': feature_ablation_run,
    },
    {
        'name': 'lime-dog',
        'peer': PEER,
        'ours': {'technique': 'lime', 'class': DOG, 'parameters': {'samples': 300, 'segments': 50, 'compactness': 10, 'kernel': 1, 'alpha': 0.01, 'baseline': 'zero', 'seed': 0}},
        'run': surrogate_run('lime', 300, 0),
    },
    {
        'name': 'kernel-shap-dog',
        'peer': PEER,
        'ours': {'technique': 'kernel-shap', 'class': DOG, 'parameters': {'samples': 300, 'segments': 50, 'compactness': 10, 'baseline': 'zero', 'seed': 0}},
        'run': surrogate_run('kernel-shap', 300, 0),
    },
    {
        'name': 'rise-dog',
        'peer': 'RISE',
        'ours': {'technique': 'rise', 'class': DOG, 'parameters': {'masks': 500, 'cells': 8, 'keep': 0.5, 'baseline': 'zero', 'seed': 0}},
        'run': rise_run(500, 8, 0.5, 0),
    },
    {
        'name': 'gradient-shap-dog',
        'peer': PEER,
        'ours': {'technique': 'gradient-shap', 'class': DOG, 'parameters': {'samples': 50, 'baselines': 'black+white', 'noise': 0, 'seed': 0, 'view': 'signed'}},
        'run': gradient_shap_run(50, 0),
    },
]


def record_slic():
    """test/fixtures/peer/slic-skimage.json: skimage's slic of the photo at a few settings, as label counts and hashes (FNV-1a, as superpixels.ts)."""
    from skimage.segmentation import slic
    import skimage
    settings = []
    for segments, compactness in [(50, 10), (100, 10), (200, 20), (30, 5)]:
        labels = slic(common.image_pixels(), n_segments=segments, compactness=compactness, start_label=0)
        digest = 0x811C9DC5
        for label in labels.ravel().tolist():
            digest = ((digest ^ label) * 0x01000193) & 0xFFFFFFFF
        settings.append({'segments': segments, 'compactness': compactness, 'count': int(labels.max() + 1), 'hash': f'{digest:08x}'})
    path = os.path.join(common.REFERENCES, 'slic-skimage.json')
    with open(path, 'w') as f:
        json.dump({'peer': f'scikit-image {skimage.__version__}', 'call': 'slic(image, n_segments, compactness, start_label=0)', 'image': common.IMAGE, 'settings': settings}, f, indent=1)
        f.write('\n')
    print(f'wrote {os.path.relpath(path, common.REPO)}')


if __name__ == '__main__':
    # /usr/bin/python3 bench/peers/perturbation.py slic   (the map references go through record.py)
    if sys.argv[1:] == ['slic']:
        record_slic()


# ---- Timing (npm run bench:peers) ------------------------------------------------------------------------------
# The references above replay CNN Lens's draws so both sides compute the same thing; timing them would also time
# the replay (a subprocess). The benchmark times each peer as a user calls it instead: its own segments
# (scikit-image's SLIC with the same settings), its own random draws, and for RISE the authors' own settings
# (N = 6000 masks, s = 8, p1 = 0.1, as their notebook), CNN Lens running the same settings.

def slic_mask():
    from skimage.segmentation import slic
    labels = slic(common.image_pixels(), n_segments=50, compactness=10, start_label=0)
    return torch.from_numpy(labels)[None, None]


def timed_feature_ablation():
    with torch.no_grad():
        attr('FeatureAblation')(common.model()).attribute(common.input_tensor(), target=DOG, feature_mask=slic_mask(), baselines=0, perturbations_per_eval=32)


def timed_surrogate(kind):
    def run():
        explainer = attr('Lime' if kind == 'lime' else 'KernelShap')(common.model())
        with torch.no_grad():
            explainer.attribute(common.input_tensor(), target=DOG, feature_mask=slic_mask(), baselines=0, n_samples=300, perturbations_per_eval=32)
    return run


def timed_gradient_shap():
    x = common.input_tensor()
    baselines = torch.cat([torch.full_like(x, -1.0), torch.full_like(x, 1.0)])
    attr('GradientShap')(common.model()).attribute(x, baselines=baselines, target=DOG, n_samples=50, stdevs=0.0)


def timed_rise():
    import tempfile
    root = common.peer_path('RISE')
    if root not in sys.path:
        sys.path.insert(0, root)
    explanations = importlib.import_module('explanations')
    explainer = explanations.RISE(torch.nn.Sequential(common.model(), torch.nn.Softmax(dim=1)), (224, 224), gpu_batch=50)
    # The authors' code moves the masks to the GPU; here they stay on the CPU.
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        with tempfile.TemporaryDirectory() as folder:
            explainer.generate_masks(N=6000, s=8, p1=0.1, savepath=os.path.join(folder, 'masks.npy'))
        with torch.no_grad():
            explainer(common.input_tensor())
    finally:
        torch.Tensor.cuda = cuda


BENCH = {
    'feature-ablation-dog': {'time': timed_feature_ablation},
    'lime-dog': {'time': timed_surrogate('lime')},
    'kernel-shap-dog': {'time': timed_surrogate('kernel-shap')},
    'gradient-shap-dog': {'time': timed_gradient_shap},
    'rise-dog': {'time': timed_rise, 'ours': {'masks': 6000, 'cells': 8, 'keep': 0.1, 'baseline': 'zero', 'seed': 0}},
}
for _reference in REFERENCES:
    if _reference['name'] in BENCH:
        _reference['bench'] = BENCH[_reference['name']]
