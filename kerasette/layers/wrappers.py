"""Wrappers (Keras 1/2 path ``keras.layers.wrappers``): `TimeDistributed` and `Bidirectional`.

A wrapper holds another layer and applies it in a particular way; its weights are the inner
layer's (Bidirectional: the forward layer's, then the backward layer's).
"""

from __future__ import annotations

import copy

from kerasette.backend import ops
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.layers.recurrent.nesting import deserialize_nested, serialize_nested
from kerasette.utils.validation import shape_str


def _serialize(layer) -> dict:
    return serialize_nested(layer)


def _deserialize(spec: dict):
    return deserialize_nested(spec)


class Wrapper(Layer):
    """Base class of the wrappers: holds ``layer``."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__}: `layer` must be a Layer instance; received {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer

    def _name_weights(self) -> None:
        """Puts the wrapper's name in front of the inner weights' names (``bidirectional/forward_lstm/...``)."""
        for var in self.weights:
            if not var.name.startswith(self.name + "/"):
                var.name = f"{self.name}/{var.name}"

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": _serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["layer"] = _deserialize(config["layer"])
        return cls(**config)


@keras_layer()
class TimeDistributed(Wrapper):
    """Applies ``layer`` to every step of a sequence: inputs (batch, steps, ...) give outputs
    (batch, steps, ...) where step t is ``layer`` applied to input step t (the same weights for
    every step). Any layer works (Dense, Conv2D on a sequence of images, a model); the steps are
    computed together, as one batch of batch * steps samples. A mask passes through unchanged.

    Example:
        >>> from kerasette.layers import Dense
        >>> TimeDistributed(Dense(8)).compute_output_shape((None, 10, 16))
        (None, 10, 8)
    """

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.supports_masking = True

    def _inner_shape(self, input_shape) -> tuple:
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ValueError(f"TimeDistributed '{self.name}': the input must have at least 3 axes (batch, steps, "
                             f"...); received input shape {shape_str(shape)}")
        return (None if shape[0] is None or shape[1] is None else shape[0] * shape[1],) + shape[2:]

    def build(self, input_shape):
        inner = self._inner_shape(input_shape)
        if not self.layer.built:
            self.layer.build_for((None,) + inner[1:])
        self._name_weights()
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        inner = self.layer.compute_output_shape((None,) + self._inner_shape(shape)[1:])
        return (shape[0], shape[1]) + tuple(inner[1:])

    def call(self, inputs, training=False):
        batch, steps = inputs.shape[0], inputs.shape[1]
        flat = ops.reshape(inputs, (batch * steps,) + tuple(inputs.shape[2:]))
        out = self.layer.run(flat, training)
        return ops.reshape(out, (batch, steps) + tuple(out.shape[1:]))

    def compute_mask(self, inputs, mask=None):
        return mask

    def native_children(self) -> list:
        """The inner layer's place in Keras 3's native weights file (``layers/time_distributed/layer``)."""
        return [("layer", self.layer)]


_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


@keras_layer()
class Bidirectional(Wrapper):
    """Runs a recurrent layer over the sequence in both directions and merges the two outputs.

    The forward layer is a copy of ``layer`` (named ``forward_<name>``); the backward layer is a
    copy reading the steps last to first (``backward_<name>``), or ``backward_layer`` when
    given. With ``return_sequences`` the backward output is put back in time order before the
    merge, and both layers output zeros at masked steps (as Keras sets). With ``return_state``
    the output is ``[merged, *forward_states, *backward_states]``.

    Keras 2's options of the layer inside carry over: with ``time_major`` the sequences are
    (steps, batch, ...) and the backward output is reversed along the first axis; the call's
    ``constants=`` (tensors every step of the cell sees, see `RNN`) go to both directions, after
    the initial states in the list of inputs, and ``num_constants`` is saved in the config.

    Args:
        layer: a recurrent layer (`LSTM`, `GRU`, `SimpleRNN`, `RNN`).
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'``, or None (the two
            outputs as a list).
        backward_layer: the layer for the backward direction (its ``go_backwards`` must differ
            from ``layer``'s).
        weights: initial weights (forward's then backward's; Keras 1/2).

    Example:
        >>> from kerasette.layers import LSTM
        >>> Bidirectional(LSTM(4)).compute_output_shape((None, 5, 3))
        (None, 8)
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, num_constants=None,
                 **kwargs):
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of 'sum', 'mul', 'ave', 'concat' or None; "
                             f"received merge_mode={merge_mode!r}")
        if not hasattr(layer, "go_backwards") or not hasattr(layer, "return_sequences"):
            raise ValueError(f"Bidirectional: `layer` must be a recurrent layer (with go_backwards and "
                             f"return_sequences); received {layer!r}")
        super().__init__(layer, weights=weights, **kwargs)
        config = _serialize(layer)
        config["config"]["name"] = "forward_" + _strip(layer.name, "forward_")
        forward = _deserialize(copy.deepcopy(config))
        if backward_layer is None:
            config["config"]["go_backwards"] = not layer.go_backwards
            config["config"]["name"] = "backward_" + _strip(layer.name, "backward_")
            backward_layer = _deserialize(config)
        elif not isinstance(backward_layer, Layer):
            raise ValueError(f"Bidirectional '{self.name}': `backward_layer` must be a Layer; received "
                             f"{backward_layer!r}")
        if forward.go_backwards == backward_layer.go_backwards:
            raise ValueError(f"Bidirectional '{self.name}': the forward and backward layers must read in opposite "
                             f"directions; both have go_backwards={forward.go_backwards}")
        for attr in ("return_sequences", "return_state", "stateful"):
            if getattr(forward, attr) != getattr(backward_layer, attr):
                raise ValueError(f"Bidirectional '{self.name}': the forward and backward layers must have the same "
                                 f"{attr}; received {getattr(forward, attr)} and {getattr(backward_layer, attr)}")
        for direction in (forward, backward_layer):
            if hasattr(direction, "zero_output_for_mask"):
                direction.zero_output_for_mask = direction.return_sequences
        self.layer = forward  # what Wrapper.get_config saves (Keras saves the forward layer)
        self.forward_layer, self.backward_layer = forward, backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = forward.return_sequences
        self.return_state = forward.return_state
        self.stateful = forward.stateful
        self.supports_masking = True
        self._num_constants = 0
        self._set_num_constants(int(num_constants or 0))

    def _set_num_constants(self, count: int) -> None:
        """How many of the inputs after the sequence (and the initial states) are constants;
        each direction is told, so that it builds its cell for them and splits them off."""
        if count:
            for direction in (self.forward_layer, self.backward_layer):
                check = getattr(direction, "_check_takes_constants", None)
                if check is None:
                    raise ValueError(f"Bidirectional '{self.name}': `constants` need recurrent layers that take "
                                     f"them (RNN and its subclasses); received {type(direction).__name__}")
                check()
                direction._num_constants = count
        self._num_constants = count

    def _tracked_layers(self) -> list:
        return [self.forward_layer, self.backward_layer]

    def native_children(self) -> list:
        """The two directions' places in Keras 3's native weights file."""
        return [("forward_layer", self.forward_layer), ("backward_layer", self.backward_layer)]

    def build(self, input_shape):
        for direction in (self.forward_layer, self.backward_layer):
            if not direction.built:
                direction.build_for(input_shape)
        self._name_weights()
        self.built = True

    def compute_output_shape(self, input_shape):
        forward = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            forward, states = forward[0], list(forward[1:]) + list(backward[1:])
            backward = backward[0]
        if self.merge_mode is None:
            return [tuple(forward), tuple(backward)] + states
        merged = tuple(forward[:-1]) + (forward[-1] + backward[-1],) if self.merge_mode == "concat" \
            else tuple(forward)
        return [merged] + states if self.return_state else merged

    def __call__(self, inputs, *args, initial_state=None, constants=None, **kwargs):
        if initial_state is not None or constants is not None:
            given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
            if initial_state is not None:
                states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            else:  # states given in the list keep their place before the constants
                states = given[1:len(given) - (self._num_constants if constants is None else 0)]
            if constants is not None:
                constants = list(constants) if isinstance(constants, (list, tuple)) else [constants]
                self._set_num_constants(len(constants))
            else:
                constants = given[len(given) - self._num_constants:] if self._num_constants else []
            inputs = [given[0], *states, *constants]
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, mask=None, training=False, constants=None):
        states = []
        if isinstance(inputs, (list, tuple)):
            inputs, states = inputs[0], list(inputs[1:])
        if constants is not None:  # given to call itself: as if they were in the list
            constants = list(constants) if isinstance(constants, (list, tuple)) else [constants]
            if len(constants) != self._num_constants:
                self._set_num_constants(len(constants))
            states = states + constants
        count = self._num_constants
        states, constants = (states[:len(states) - count], states[len(states) - count:]) if count else (states, [])
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        half = len(states) // 2
        forward_in = [inputs, *states[:half], *constants] if states or constants else inputs
        backward_in = [inputs, *states[half:], *constants] if states or constants else inputs
        y = self.forward_layer.run(forward_in, training, mask=mask)
        y_rev = self.backward_layer.run(backward_in, training, mask=mask)
        forward_states = backward_states = []
        if self.return_state:
            y, forward_states = y[0], list(y[1:])
            y_rev, backward_states = y_rev[0], list(y_rev[1:])
        if self.return_sequences:  # back in time order, along the steps axis
            steps = 0 if getattr(self.forward_layer, "time_major", False) else 1
            y_rev = ops.getitem(y_rev, (slice(None),) * steps + (slice(None, None, -1),))
        if self.merge_mode == "concat":
            out = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            out = ops.add(y, y_rev)
        elif self.merge_mode == "ave":
            out = ops.multiply(ops.add(y, y_rev), 0.5)
        elif self.merge_mode == "mul":
            out = ops.multiply(y, y_rev)
        else:
            out = [y, y_rev]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + forward_states + backward_states
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        outputs = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            n = len(self.forward_layer.state_sizes) + len(self.backward_layer.state_sizes)
            return outputs + [None] * n
        return outputs if self.merge_mode is None else output_mask

    def reset_states(self, states=None) -> None:
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        half = len(states) // 2
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

    reset_state = reset_states

    def get_config(self) -> dict:
        config = {**super().get_config(), "merge_mode": self.merge_mode,
                  "backward_layer": _serialize(self.backward_layer)}
        if self._num_constants:  # Keras 2's; Keras 3 has no constants
            config["num_constants"] = self._num_constants
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["layer"] = _deserialize(config["layer"])
        if isinstance(config.get("backward_layer"), dict):
            config["backward_layer"] = _deserialize(config["backward_layer"])
        return cls(**config)


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name

