"""Write a trained model.py network as a TensorFlow.js layers model, without tensorflowjs.

Output: <out_dir>/model.json (format "layers-model", a Keras 2.x functional
config + weightsManifest) and <out_dir>/group1-shard*of*.bin (float32,
little-endian, split at 4 MB like the TF.js converter).
"""
import json
import os

import numpy as np
import torch.nn as nn

SHARD_BYTES = 4 * 1024 * 1024
KERAS_VERSION = "2.15.0"


def _layer(class_name, name, inbound, **config):
    config = {"name": name, "trainable": True, "dtype": "float32", **config}
    nodes = [[[inbound, 0, 0, {}]]] if inbound else []
    return {"class_name": class_name, "config": config, "name": name, "inbound_nodes": nodes}


def _init(class_name, **config):
    return {"class_name": class_name, "config": config}


def _convert(name, module, inbound):
    """(keras layer dict, [(weight name, float32 array in TF layout)]) for one torch module."""
    if isinstance(module, nn.Conv2d):
        assert module.bias is None and module.stride == (1, 1) and module.groups == 1
        assert module.padding == (module.kernel_size[0] // 2, module.kernel_size[1] // 2)
        layer = _layer("Conv2D", name, inbound, filters=module.out_channels,
                       kernel_size=list(module.kernel_size), strides=[1, 1], padding="same",
                       data_format="channels_last", dilation_rate=[1, 1], groups=1,
                       activation="linear", use_bias=False,
                       kernel_initializer=_init("GlorotUniform", seed=None),
                       bias_initializer=_init("Zeros"), kernel_regularizer=None,
                       bias_regularizer=None, activity_regularizer=None,
                       kernel_constraint=None, bias_constraint=None)
        # torch [out, in, kh, kw] -> TF [kh, kw, in, out]
        return layer, [("kernel", module.weight.detach().numpy().transpose(2, 3, 1, 0))]
    if isinstance(module, nn.BatchNorm2d):
        layer = _layer("BatchNormalization", name, inbound, axis=-1,
                       momentum=1.0 - module.momentum, epsilon=module.eps, center=True, scale=True,
                       beta_initializer=_init("Zeros"), gamma_initializer=_init("Ones"),
                       moving_mean_initializer=_init("Zeros"),
                       moving_variance_initializer=_init("Ones"),
                       beta_regularizer=None, gamma_regularizer=None,
                       beta_constraint=None, gamma_constraint=None)
        return layer, [("gamma", module.weight), ("beta", module.bias),
                       ("moving_mean", module.running_mean), ("moving_variance", module.running_var)]
    if isinstance(module, nn.ReLU):
        return _layer("Activation", name, inbound, activation="relu"), []
    if isinstance(module, nn.MaxPool2d):
        assert module.kernel_size == 2 and module.stride == 2 and module.padding == 0
        return _layer("MaxPooling2D", name, inbound, pool_size=[2, 2], padding="valid",
                      strides=[2, 2], data_format="channels_last"), []
    if isinstance(module, nn.Sequential) and isinstance(module[0], nn.AdaptiveAvgPool2d):
        assert module[0].output_size in (1, (1, 1))
        return _layer("GlobalAveragePooling2D", name, inbound,
                      data_format="channels_last", keepdims=False), []
    if isinstance(module, nn.Linear):
        layer = _layer("Dense", name, inbound, units=module.out_features, activation="linear",
                       use_bias=True, kernel_initializer=_init("GlorotUniform", seed=None),
                       bias_initializer=_init("Zeros"), kernel_regularizer=None,
                       bias_regularizer=None, activity_regularizer=None,
                       kernel_constraint=None, bias_constraint=None)
        # torch [out, in] -> TF [in, out]
        return layer, [("kernel", module.weight.detach().numpy().T), ("bias", module.bias)]
    raise TypeError(f"{name}: no TF.js mapping for {type(module).__name__}")


def export(model, out_dir, input_shape=(64, 64, 3), name="fashion_cam"):
    """Write model.json + shards for `model` (an nn.Sequential of named layers)."""
    layers = [_layer("InputLayer", "input", None, batch_input_shape=[None, *input_shape],
                     sparse=False, ragged=False)]
    weights = []  # (full name, array)
    prev = "input"
    for layer_name, module in model.named_children():
        layer, params = _convert(layer_name, module, prev)
        layers.append(layer)
        for w_name, value in params:
            if not isinstance(value, np.ndarray):
                value = value.detach().numpy()
            weights.append((f"{layer_name}/{w_name}", np.ascontiguousarray(value, dtype="<f4")))
        prev = layer_name

    data = b"".join(w.tobytes() for _, w in weights)
    n_shards = max(1, -(-len(data) // SHARD_BYTES))
    paths = [f"group1-shard{i + 1}of{n_shards}.bin" for i in range(n_shards)]
    os.makedirs(out_dir, exist_ok=True)
    for i, path in enumerate(paths):
        with open(os.path.join(out_dir, path), "wb") as f:
            f.write(data[i * SHARD_BYTES:(i + 1) * SHARD_BYTES])

    topology = {
        "class_name": "Functional",
        "config": {"name": name, "layers": layers,
                   "input_layers": [["input", 0, 0]], "output_layers": [[prev, 0, 0]]},
        "keras_version": KERAS_VERSION,
        "backend": "tensorflow",
    }
    manifest = [{"paths": paths, "weights": [
        {"name": n, "shape": list(w.shape), "dtype": "float32"} for n, w in weights]}]
    model_json = {
        "format": "layers-model",
        "generatedBy": f"PyTorch {__import__('torch').__version__} (models/training/train.py)",
        "convertedBy": "models/training/export_tfjs.py (hand-written; tensorflowjs not used)",
        "modelTopology": topology,
        "weightsManifest": manifest,
    }
    with open(os.path.join(out_dir, "model.json"), "w") as f:
        json.dump(model_json, f, indent=1)
    return len(data)
