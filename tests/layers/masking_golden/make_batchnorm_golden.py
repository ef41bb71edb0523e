"""Keras 3's BatchNormalization with a mask in training (tests/layers/test_batchnorm_masked.py).

    KERAS_BACKEND=torch /work/kerasenv/bin/python tests/layers/masking_golden/make_batchnorm_golden.py

For each case: the input ``x_<case>``, its mask ``mask_<case>`` (the input's shape without the
last axis; one sample masked entirely, one step masked before unmasked ones), random gamma, beta
and moving statistics ``w_<case>_<i>`` (Keras's weight order), a random cotangent ``r_<case>``;
Keras 3.15.1's output in training ``y_<case>``, the moving statistics after that call
``moving_mean_<case>``, ``moving_variance_<case>``, and the gradients of ``sum(y * r)`` with
respect to the input, gamma and beta ``dx_<case>``, ``dgamma_<case>``, ``dbeta_<case>``.
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = pathlib.Path(__file__).parent
rng = np.random.default_rng(17)


def masked_steps(shape):
    mask = rng.random(shape) > 0.35
    mask[0] = False  # a sample entirely masked
    mask[1, ..., 0] = False  # a masked step before unmasked ones
    mask[1, ..., 1] = True
    return mask


cases = {
    "sequence": ((4, 6, 3), dict(momentum=0.8)),
    "plane": ((3, 4, 5, 2), dict(momentum=0.5, epsilon=1e-2)),
    "no_scale_center": ((4, 5, 3), dict(momentum=0.9, scale=False, center=False)),
}
out = {}
for name, (shape, kwargs) in cases.items():
    x = (rng.normal(size=shape) * 2 + 1).astype("float32")
    mask = masked_steps(shape[:-1])
    layer = keras.layers.BatchNormalization(**kwargs)
    layer.build(shape)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 + (1.5 if "variance" in w.path else 0)
               for w in layer.weights]
    layer.set_weights(weights)
    r = rng.normal(size=shape).astype("float32")
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt, training=True, mask=torch.tensor(mask))
    (y * torch.tensor(r)).sum().backward()
    trainable = {v.path.split("/")[-1]: v.value for v in layer.trainable_weights}
    out.update({f"x_{name}": x, f"mask_{name}": mask, f"r_{name}": r,
                f"y_{name}": y.detach().numpy(), f"dx_{name}": xt.grad.numpy(),
                f"moving_mean_{name}": keras.ops.convert_to_numpy(layer.moving_mean),
                f"moving_variance_{name}": keras.ops.convert_to_numpy(layer.moving_variance)})
    for i, w in enumerate(weights):
        out[f"w_{name}_{i}"] = w
    for key in ("gamma", "beta"):
        if key in trainable:
            out[f"d{key}_{name}"] = trainable[key].grad.numpy()
np.savez(HERE / "batchnorm_masked.npz", **out)
print(sorted(out))
