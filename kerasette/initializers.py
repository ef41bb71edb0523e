"""Weight initializers, by name or object, drawing from kerasette's one random generator."""

from __future__ import annotations

import inspect
import math

import numpy as np

from kerasette import registry
from kerasette.backend import random


def compute_fans(shape) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight shape; conv kernels are (rows, cols, in, out)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``init(shape, dtype)`` returns an ndarray."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _builtin(*aliases: str):
    """Registers a built-in initializer under its class name and Keras's snake-case names.

    Keras writes a few keys a built-in does not take (``dtype``, or ``seed`` where there is no
    randomness); its ``from_config`` keeps only the constructor's own arguments.
    """

    def decorate(cls):
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}

        def from_config(klass, config: dict):
            return klass(**{k: v for k, v in config.items() if k in accepted})

        cls.from_config = classmethod(from_config)
        return registry.register("initializer", aliases=aliases)(cls)

    return decorate


@_builtin("zeros", "zero")
class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


@_builtin("ones", "one")
class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


@_builtin("constant")
class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


@_builtin("uniform", "random_uniform")
class RandomUniform(Initializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype="float32"):
        rng = random.generator() if self.seed is None else np.random.default_rng(self.seed)
        return rng.uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@_builtin("normal", "random_normal")
class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype="float32"):
        rng = random.generator() if self.seed is None else np.random.default_rng(self.seed)
        return rng.normal(self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@_builtin("truncated_normal")
class TruncatedNormal(Initializer):
    """Normal samples with ``mean`` and ``stddev``, redrawn until within two ``stddev`` of the
    mean (as Keras does; the result's standard deviation is about 0.88 ``stddev``)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype="float32"):
        rng = random.generator() if self.seed is None else np.random.default_rng(self.seed)
        return (self.mean + _truncated_normal(rng, self.stddev, shape)).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@_builtin("orthogonal", "OrthogonalInitializer")
class Orthogonal(Initializer):
    """A random orthogonal matrix times ``gain``: the weight reshaped to
    ``(prod(shape[:-1]), shape[-1])`` has orthonormal columns (or rows, when it is wide).

    Drawn as Keras does: the Q of the QR factorisation of a Gaussian matrix, its columns' signs
    fixed by R's diagonal (so Q is uniformly distributed).
    """

    def __init__(self, gain: float = 1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer: the weight must be at least 2-D; received shape "
                             f"{shape} of rank {len(shape)}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        rng = random.generator() if self.seed is None else np.random.default_rng(self.seed)
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


@_builtin("identity", "IdentityInitializer")
class Identity(Initializer):
    """``gain`` times the identity matrix (rectangular shapes: ones on the main diagonal)."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer: the weight must be 2-D; received shape {shape} "
                             f"of rank {len(shape)}")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


def _truncated_normal(rng, stddev: float, shape) -> np.ndarray:
    """Normal samples redrawn until they fall within two standard deviations."""
    out = rng.normal(0.0, stddev, shape)
    bad = np.abs(out) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, int(bad.sum()))
        bad = np.abs(out) > 2 * stddev
    return out


@_builtin("variance_scaling")
class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, n being fan_in, fan_out or their mean.

    Uniform draws from [-limit, limit] with ``limit = sqrt(3 * scale / n)``; normal draws from a
    normal truncated at two standard deviations, rescaled so the variance is ``scale / n``.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if isinstance(scale, bool) or not isinstance(scale, (int, float, np.number)) or not scale > 0:
            raise ValueError(f"VarianceScaling: `scale` must be a positive number; received scale={scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be fan_in, fan_out or fan_avg; received {mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = random.generator() if self.seed is None else np.random.default_rng(self.seed)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape).astype(dtype)
        stddev = math.sqrt(variance) / 0.87962566103423978
        return _truncated_normal(rng, stddev, shape).astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _scaling(scale, mode, distribution):
    class _Named(VarianceScaling):
        def __init__(self, seed=None):
            super().__init__(scale, mode, distribution, seed)

        def get_config(self):
            return {"seed": self.seed}

    return _Named


GlorotUniform = _builtin("glorot_uniform")(type("GlorotUniform", (_scaling(1.0, "fan_avg", "uniform"),), {}))
GlorotNormal = _builtin("glorot_normal")(type("GlorotNormal", (_scaling(1.0, "fan_avg", "truncated_normal"),), {}))
HeUniform = _builtin("he_uniform")(type("HeUniform", (_scaling(2.0, "fan_in", "uniform"),), {}))
HeNormal = _builtin("he_normal")(type("HeNormal", (_scaling(2.0, "fan_in", "truncated_normal"),), {}))
LecunUniform = _builtin("lecun_uniform")(type("LecunUniform", (_scaling(1.0, "fan_in", "uniform"),), {}))
LecunNormal = _builtin("lecun_normal")(type("LecunNormal", (_scaling(1.0, "fan_in", "truncated_normal"),), {}))


def get(identifier) -> Initializer:
    """An initializer from a name, a config dict ``{'class_name', 'config'}``, or an object."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, (str, dict))):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return registry.get("initializer", identifier)()
    raise TypeError(f"initializer must be a name, a config dict or a callable; received {identifier!r}")


def serialize(initializer) -> dict | str:
    """``{'class_name': ..., 'config': ...}`` as Keras writes it.

    A plain function used as an initializer serializes as its ``__name__``, as Keras 2 does
    (load it back with ``custom_objects={name: function}``).

    Raises:
        ValueError: for a callable with neither ``get_config`` nor a ``__name__``.
    """
    if hasattr(initializer, "get_config"):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    name = getattr(initializer, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"initializers.serialize: cannot serialize the {type(initializer).__name__} object "
                         f"{initializer!r:.60}: it has neither get_config() nor a __name__; subclass "
                         "kerasette.initializers.Initializer")
    return name


def deserialize(config: dict, custom_objects: dict | None = None) -> Initializer:
    """The inverse of `serialize`, resolving class names through the registry only."""
    return registry.deserialize("initializer", {"class_name": config.get("class_name"),
                                                "config": config.get("config") or {}}, custom_objects)


# Keras's lowercase names (``initializers.glorot_uniform``, ``initializers.zeros``, Keras 1's
# ``uniform``, ``normal``, ...) as module attributes, each the class registered under that name.
globals().update({name: registry.get("initializer", name) for name in registry.known("initializer")
                  if name[:1].islower() and name not in globals()})
