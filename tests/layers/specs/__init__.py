"""The layer test table's entries, one module per layer family.

``tests/layers/test_layers.py`` runs the generic harness (build, weights, output shape, reference
values, config round trip, one training step) over its own ``SPECS`` and every ``SPECS`` list
defined by a module of this package, so a new layer family adds one module here.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable


@dataclasses.dataclass
class Spec:
    id: str
    make: Callable
    input_shape: tuple  # one sample, no batch axis
    n_weights: int
    n_params: int
    reference: Callable | None = None  # numpy: the output for an input batch, when checked here
    weight_names: tuple | None = None  # default: kernel, bias (as many as n_weights)


def collected() -> list[Spec]:
    """Every ``SPECS`` entry of this package's modules, in module-name order."""
    specs: list[Spec] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        specs.extend(importlib.import_module(f"{__name__}.{info.name}").SPECS)
    return specs
