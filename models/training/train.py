"""Train CNN Lens's bundled model on cluttered Fashion-MNIST and ship it.

    /usr/bin/python3 models/training/train.py          # ~10-20 min on 2 CPU cores
    node models/training/verify_tfjs.cjs               # check the TF.js export

Writes models/fashion-cam/ (TF.js layers model, labels, cnnlens.json),
models/samples/ (8 PNGs + boxes.json) and, git-ignored, models/training/data/
(checkpoint, metrics.json, the data verify_tfjs.cjs compares against).
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import dataset
import export_tfjs
from model import build_model, last_conv_name

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
OUT = os.path.join(MODELS, "fashion-cam")
SAMPLES = os.path.join(MODELS, "samples")
TEST_SEED, TRAIN_SEED = 2024, 1000
N_VERIFY = 500


def to_input(x_uint8):
    """uint8 NHWC numpy -> float NCHW tensor in [0,1] (the 'zero-one' preset).

    permute() of an NHWC array is already channels_last in memory, which is
    the fast layout for CPU convolutions.
    """
    return torch.from_numpy(x_uint8).permute(0, 3, 1, 2).float().div_(255.0)


def predict(model, x, batch=500):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(to_input(x[i:i + batch])) for i in range(0, len(x), batch)])


def train(model, train_sets, y, epochs, batch, lr, seed):
    """SGD + one-cycle LR; epoch e uses canvas set e % len(train_sets), random h-flips."""
    g = torch.Generator().manual_seed(seed)
    y = torch.from_numpy(y)
    steps = len(y) // batch
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.2)
    for epoch in range(epochs):
        model.train()
        x, t0, seen, correct, loss_sum = train_sets[epoch % len(train_sets)], time.time(), 0, 0, 0.0
        perm = torch.randperm(len(y), generator=g)
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            xb, yb = to_input(x[idx.numpy()]), y[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5  # clothes are left-right symmetric enough
            xb[flip] = xb[flip].flip(3)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            loss_sum += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / seen:.4f}  train acc {correct / seen:.4f}"
              f"  {time.time() - t0:.0f}s", flush=True)


def cam_pointing(model, x, boxes, classes):
    """Pointing game: fraction of images whose CAM peak (for `classes`) falls in the item box.

    CAM = sum_k w[c,k] * A_k over the last ReLU's maps, upsampled bilinearly to 64x64.
    """
    feats = []
    hook = getattr(model, last_conv_name(model)).register_forward_hook(lambda m, i, o: feats.append(o))
    predict(model, x)
    hook.remove()
    a = torch.cat(feats)                                      # [N, K, 8, 8]
    w = model.logits.weight.detach()[torch.from_numpy(classes)]  # [N, K]
    cam = torch.einsum("nk,nkhw->nhw", w, a)[:, None]
    cam = F.interpolate(cam, size=x.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).argmax(1).numpy()
    py, px = peak // x.shape[2], peak % x.shape[2]
    b = boxes.astype(int)
    hits = (px >= b[:, 0]) & (px < b[:, 2]) & (py >= b[:, 1]) & (py < b[:, 3])
    return hits


def clutter_score(x, box):
    """How busy the background is: mean deviation from its median colour outside the box."""
    mask = np.ones(x.shape[:2], bool)
    mask[box[1]:box[3], box[0]:box[2]] = False
    bg = x[mask].astype(np.float32)
    return float(np.abs(bg - np.median(bg, axis=0)).mean())


def write_samples(x, y, boxes, pred, hits, probs):
    """8 correctly classified test canvases of 8 classes, two chosen for busy clutter."""
    os.makedirs(SAMPLES, exist_ok=True)
    # Candidates: right, confident, and the CAM peak on the item (good demos).
    ok = np.nonzero((pred == y) & hits & (probs > 0.9))[0][:3000]
    picks = {}
    for cls in (1, 9):  # the busiest background among these classes' candidates
        i = max((i for i in ok if y[i] == cls), key=lambda i: clutter_score(x[i], boxes[i]))
        picks[i] = "_cluttered"
    for cls in (0, 2, 3, 5, 7, 8):
        picks[next(i for i in ok if y[i] == cls)] = ""
    meta = {}
    for i, suffix in sorted(picks.items(), key=lambda kv: y[kv[0]]):
        label = dataset.CLASS_NAMES[y[i]]
        slug = label.lower().replace("/", "_").replace("-", "").replace(" ", "_")
        name = f"{slug}{suffix}.png"
        Image.fromarray(x[i], "RGB").save(os.path.join(SAMPLES, name))
        meta[name] = {"label": label, "index": int(y[i]), "box": [int(v) for v in boxes[i]]}
    with open(os.path.join(SAMPLES, "boxes.json"), "w") as f:  # one line per image
        f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in meta.items()) + "\n}\n")
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=16)  # the shipped model
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--train-sets", type=int, default=2, help="differently cluttered copies of the train split")
    ap.add_argument("--train-count", type=int, default=None, help="use fewer train items (quick trials)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(DATA, exist_ok=True)
    t_start = time.time()

    tr_img, tr_lab = dataset.load_fashion_mnist("train")
    te_img, te_lab = dataset.load_fashion_mnist("t10k")
    x_test, y_test, b_test = dataset.make_split(te_img, te_lab, TEST_SEED)
    train_sets = []
    for k in range(args.train_sets):
        x_tr, y_tr, _ = dataset.make_split(tr_img, tr_lab, TRAIN_SEED + k, args.train_count)
        train_sets.append(x_tr)
    t_data = time.time() - t_start
    print(f"data: {len(y_tr)} train x {args.train_sets}, {len(y_test)} test, {t_data:.0f}s", flush=True)

    model = build_model().to(memory_format=torch.channels_last)
    print(f"params: {sum(p.numel() for p in model.parameters())}", flush=True)
    train(model, train_sets, y_tr, args.epochs, args.batch, args.lr, args.seed)
    t_train = time.time() - t_start

    logits = predict(model, x_test)
    probs = logits.softmax(1).max(1).values.numpy()
    pred = logits.argmax(1).numpy()
    acc = float((pred == y_test).mean())
    per_class = {dataset.CLASS_NAMES[c]: float((pred[y_test == c] == c).mean()) for c in range(10)}
    hits = cam_pointing(model, x_test, b_test, pred)
    chance = float(((b_test[:, 2] - b_test[:, 0]) * (b_test[:, 3] - b_test[:, 1])).mean() / 64 ** 2)
    print(f"test acc {acc:.4f}; CAM pointing game {hits.mean():.4f} (box area {chance:.3f} of canvas)")
    print(json.dumps(per_class, indent=1))

    model = model.to(memory_format=torch.contiguous_format).eval()
    torch.save(model.state_dict(), os.path.join(DATA, "model.pt"))
    n_bytes = export_tfjs.export(model, OUT)
    with open(os.path.join(OUT, "labels.json"), "w") as f:
        json.dump(dataset.CLASS_NAMES, f, indent=1)
    with open(os.path.join(OUT, "cnnlens.json"), "w") as f:
        json.dump({"preprocess": "zero-one", "labels": "labels.json"}, f, indent=2)
    samples = write_samples(x_test, y_test, b_test, pred, hits, probs)

    # What verify_tfjs.cjs checks the TF.js model against: the first N_VERIFY
    # test canvases (raw uint8 NHWC) with PyTorch's eval-mode logits, and the samples.
    x_test[:N_VERIFY].tofile(os.path.join(DATA, "verify_images.bin"))
    sample_x = np.stack([np.asarray(Image.open(os.path.join(SAMPLES, n)).convert("RGB")) for n in samples])
    verify = {
        "shape": [N_VERIFY, 64, 64, 3], "labels": y_test[:N_VERIFY].tolist(),
        "logits": logits[:N_VERIFY].tolist(),
        "torch_accuracy": float((pred[:N_VERIFY] == y_test[:N_VERIFY]).mean()),
        "samples": {n: predict(model, sample_x[k:k + 1])[0].tolist() for k, n in enumerate(samples)},
    }
    with open(os.path.join(DATA, "verify.json"), "w") as f:
        json.dump(verify, f)
    metrics = {
        "test_accuracy": acc, "per_class_accuracy": per_class,
        "cam_pointing_game": float(hits.mean()), "mean_box_fraction": chance,
        "seconds_data": round(t_data), "seconds_data_and_training": round(t_train),
        "seconds_total": round(time.time() - t_start), "weight_bytes": n_bytes,
        "last_conv_layer": last_conv_name(model), "args": vars(args),
        "torch": torch.__version__,
    }
    with open(os.path.join(DATA, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
