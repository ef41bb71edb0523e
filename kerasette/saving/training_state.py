"""The random-number state saved with a full checkpoint, so that training resumes exactly.

The shared generator (shuffling, dropout, initialisation) and the own generator of every layer
that has one (``Dropout(seed=...)``) are stored as JSON in the root attribute
``kerasette_training_state`` and restored by ``load_model`` (when it compiles the model).
Only numpy's own bit generators are accepted: nothing named in the file is called otherwise.
"""

from __future__ import annotations

import json

import numpy as np

from kerasette.backend import random as krandom
from kerasette.saving.errors import CheckpointError
from kerasette.saving.model_config import parse_json

BIT_GENERATORS = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM,
                  "MT19937": np.random.MT19937, "Philox": np.random.Philox, "SFC64": np.random.SFC64}


def _layer_generators(model) -> dict[str, np.random.Generator]:
    return {layer.name: layer._rng for layer in model.layers
            if isinstance(getattr(layer, "_rng", None), np.random.Generator)}


def training_state_json(model) -> str:
    """The JSON text of the random state of the process and of ``model``'s layers."""
    state = {"random": krandom.get_state(),
             "layer_random": {name: rng.bit_generator.state for name, rng in _layer_generators(model).items()}}
    return json.dumps(state)


def _generator(state, where: str, path) -> np.random.Generator:
    if not isinstance(state, dict) or state.get("bit_generator") not in BIT_GENERATORS:
        name = state.get("bit_generator") if isinstance(state, dict) else state
        raise CheckpointError(f"{where}: unknown random generator {name!r:.60}; expected one of "
                              f"{sorted(BIT_GENERATORS)}", path)
    bit_generator = BIT_GENERATORS[state["bit_generator"]]()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"{where}: invalid random state ({exc})", path) from None
    return np.random.Generator(bit_generator)


def restore_training_state(model, text: str, path) -> None:
    """Restores what `training_state_json` wrote (checked before anything is changed)."""
    state = parse_json(text, "kerasette_training_state", path)
    if not isinstance(state, dict):
        raise CheckpointError("kerasette_training_state should be a JSON object", path)
    shared = _generator(state.get("random"), "kerasette_training_state: random", path)
    layers = state.get("layer_random") or {}
    if not isinstance(layers, dict):
        raise CheckpointError("kerasette_training_state: layer_random should be a JSON object", path)
    own = _layer_generators(model)
    restored = {name: _generator(value, f"kerasette_training_state: layer {name!r}", path)
                for name, value in layers.items() if name in own}
    krandom.set_state(shared.bit_generator.state)
    for layer in model.layers:
        if layer.name in restored:
            layer._rng = restored[layer.name]
