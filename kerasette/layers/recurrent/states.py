"""`RecurrentStates`: the states of a recurrent layer (`RNN` and the layers built on it) before
the first step, as Keras gives them: the call's ``initial_state`` (checked against the layer's
states), a stateful layer's states kept from the previous batch, or zeros; and
``reset_states`` (zeros, or given values) for stateful layers.

A layer says the shape of each state (`RecurrentStates._state_shapes`: `RNN`'s are (batch,
size) from its cell's ``state_size``; the ConvLSTM layers' are images) and how the errors name
them (``_states_words``).
"""

from __future__ import annotations

import numpy as np

from kerasette.backend.tensor import Tensor


class RecurrentStates:
    """The states of a recurrent layer (see the module docstring); the layer has ``stateful``,
    ``states`` (the kept arrays or None), ``state_sizes``, ``name`` and ``dtype``."""

    #: how the errors about the states count and name them (`ConvLSTM`: the layer's h and c)
    _states_words = {"count": "the cell has {n} states", "arrays": "{n} state arrays", "stateful": "a stateful RNN"}

    def _state_shapes(self, batch: int) -> list[tuple]:
        """The shape of each state for ``batch`` samples."""
        return [(batch, s) for s in self.state_sizes]

    def _state_shape_text(self, shape: tuple) -> str:
        """A state's ``shape`` as the errors about initial states give it."""
        return f"(batch, {shape[1]}) = {shape}"

    def get_initial_state(self, batch_size: int, dtype=None) -> list[Tensor]:
        dtype = dtype or self.dtype
        return [Tensor(np.zeros(shape, dtype)) for shape in self._state_shapes(batch_size)]

    def reset_states(self, states=None) -> None:
        """Sets a stateful layer's states to zeros, or to ``states`` (arrays, one per state)."""
        if not self.stateful:
            raise AttributeError(f"{type(self).__name__} '{self.name}': reset_states() applies to stateful "
                                 "layers only (stateful=True)")
        batch = getattr(self, "_stateful_batch", None)
        if batch is None:
            return  # not built yet: build() will start from zeros
        shapes = self._state_shapes(batch)
        if states is None:
            self.states = [np.zeros(shape, self.dtype) for shape in shapes]
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != len(shapes):
            expected = self._states_words["arrays"].format(n=len(shapes))
            raise ValueError(f"{type(self).__name__} '{self.name}': reset_states expected {expected}; "
                             f"received {len(states)}")
        values = []
        for value, shape in zip(states, shapes):
            value = np.asarray(getattr(value, "data", value), self.dtype)
            if value.shape != shape:
                raise ValueError(f"{type(self).__name__} '{self.name}': a state must have shape {shape}; "
                                 f"received {value.shape}")
            values.append(value.copy())
        self.states = values

    reset_state = reset_states

    def _initial_states(self, x, initial_state) -> list:
        """The states before the first step: ``initial_state`` (checked), a stateful layer's
        kept states, or zeros."""
        shapes = self._state_shapes(x.shape[0])
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != len(shapes):
                count = self._states_words["count"].format(n=len(shapes))
                raise ValueError(f"{type(self).__name__} '{self.name}': {count}; received {len(states)} initial states")
            states = [s if isinstance(s, Tensor) else Tensor(np.asarray(s, x.dtype)) for s in states]
            for s, shape in zip(states, shapes):
                if s.shape != shape:
                    raise ValueError(f"{type(self).__name__} '{self.name}': an initial state must have shape "
                                     f"{self._state_shape_text(shape)}; received {s.shape}")
            return states
        if self.stateful:
            if self.states is None:
                self._stateful_batch = x.shape[0]
                self.reset_states()
            if self.states[0].shape[0] != x.shape[0]:
                raise ValueError(f"{type(self).__name__} '{self.name}': {self._states_words['stateful']} takes batches "
                                 f"of {self.states[0].shape[0]} samples (its batch_input_shape); received {x.shape[0]}")
            return [Tensor(s.astype(x.dtype, copy=False)) for s in self.states]
        return self.get_initial_state(x.shape[0], x.dtype)
