"""The Layer contract, as Keras 1, 2 and 3 define it, so that users' own layers run unchanged.

A layer validates its arguments in ``__init__``, makes its weights in ``build(input_shape)``
with `Layer.add_weight`, computes in ``call(inputs)`` (``training`` and ``mask`` are passed only
when its signature takes them), infers shapes in ``compute_output_shape`` (Keras 1:
``get_output_shape_for``) and describes itself in ``get_config``. What a layer accepts is declared
once as ``self.input_spec`` and checked wherever it is called.

A layer also declares the facts that the model planner and the file format need, so that
neither ever tests a concrete layer type (their defaults: `kerasette.layers.facts.LayerFacts`):

- ``fuses(activation)`` / ``call_with_activation``: an activation that can run inside this
  layer's output pass (Dense and Conv2D take a following ReLU);
- ``layout_free()``: the result does not depend on where the channel axis is (Dropout,
  elementwise activations), so a channels-last tensor can pass through unchanged;
- ``runs_channels_last()`` / ``call_channels_last``: a channels-first layer that can compute on
  the channels-last tensor directly (the engine is channels-last), so consecutive such layers
  skip the transposes between them;
- ``standalone_activation``: the activation a layer applies and nothing else (Activation);
- ``keras1_arguments`` / `translate_config`: Keras 1 argument names, set by the
  `kerasette.layers.legacy.keras_layer` decorator that also registers the class;
- ``stored_weight_converter``: how to read weights stored in another layout (Theano kernels);
- ``regroup_stored_weights`` (optional): a file's list of arrays as this layer's weights when
  the file stores another number of them (Keras 1's per-gate LSTM and GRU arrays);
- ``native_children`` (optional): the layers held inside, by the attribute names Keras 3's
  native weights file uses (found from the public attributes otherwise);
- ``inference_affine_axis`` / ``inference_affine`` and ``output_affine_folder``: a per-channel
  affine map at inference (BatchNormalization) and a layer that can fold one into its weights;
- ``adds_inputs()`` and ``takes_residual(activation)`` / ``call_with_residual``: a layer whose
  output is the sum of its inputs (Add), and a layer that can add a tensor of its output's shape
  to its output, then an activation, in its output pass: at inference the planner makes the end
  of a residual block, ``relu(conv(x) + shortcut)``, one pass.
"""

from __future__ import annotations

import re

import numpy as np

from kerasette.backend import state, symbolic
from kerasette.backend.config import floatx
from kerasette.backend.tensor import Tensor, Variable, no_grad
from kerasette.layers.call_arguments import bind_call_arguments, call_takes
from kerasette.layers.facts import LayerFacts
from kerasette.layers.input_spec import InputSpec
from kerasette.layers.layer_losses import LayerLosses, loss_sources_changed
from kerasette.layers.layer_weights import LayerWeights, dtype_name, structure_changed
from kerasette.layers.legacy import translate_arguments
from kerasette.layers.node import call_layer_symbolic
from kerasette.utils.validation import shape_str

#: Attributes whose new value may change the layer tree's weight lists (`structure_changed`): its
#: own weights, a model's graph or layers, the nested layers.
_STRUCTURE_NAMES = frozenset({"_weights", "_graph", "_layers", "_sublayers", "_regularizers"})
#: Attributes whose terms, where there were none, make the layer a source of loss terms
#: (`loss_sources_changed`).
_LOSS_NAMES = frozenset({"_call_losses", "_loss_functions"})
#: The keyword arguments of an eager call that `Layer.__call__` hands straight to `run`.
_TRAINING_ONLY = frozenset({"training"})


def reset_names() -> None:
    """Restarts automatic layer naming (``dense_1`` again); ``K.clear_session`` does the same."""
    state.names.reset()


def unique_name(prefix: str) -> str:
    """``prefix_1``, ``prefix_2``, ... in Keras 2's style."""
    return state.names.unique(prefix)


def snake_case(name: str) -> str:
    """``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d`` (Keras's layer names)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer(LayerWeights, LayerLosses, LayerFacts):
    """Base class of layers (and of models, which are layers).

    Args:
        name: the layer's name (unique in a model); generated as ``conv2d_1`` etc. when omitted.
        trainable: whether its weights are trained.
        input_shape: shape of one sample, for the first layer of a model.
        batch_input_shape: shape including the batch size (None for any).
        input_dim: for 2-D inputs, the same as ``input_shape=(input_dim,)``.
        batch_size: fixed batch size, with ``input_shape``.
        dtype: the dtype of the weights (default floatx).
        weights: initial values of the weights, set after the layer is built (Keras 1 and 2).

    Example:
        >>> import numpy as np
        >>> class Scale(Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        ...     def call(self, inputs):
        ...         return inputs * self.w
        >>> Scale()(np.ones((2, 3), "float32")).shape
        (2, 3)
    """

    #: what ``call`` accepts; checked before every call (set it in ``__init__`` or ``build``)
    input_spec: InputSpec | None = None
    #: Keras 1 argument names of the constructor: ``{old: new}`` (set by ``keras_layer``)
    keras1_arguments: dict[str, str] = {}

    def __init__(self, name=None, trainable=True, input_shape=None, batch_input_shape=None,
                 input_dim=None, batch_size=None, dtype=None, weights=None, **kwargs):
        for inert in ("autocast", "build_config", "input_dtype"):
            kwargs.pop(inert, None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = dtype_name(dtype) or floatx()
        self.built = False
        self._weights: list[Variable] = self.__dict__.get("_weights", [])
        self._regularizers: list = self.__dict__.get("_regularizers", [])
        self._initial_weights = weights
        self.batch_input_shape = _declared_input_shape(input_shape, batch_input_shape, input_dim, batch_size)
        self.input_shape = None
        self.output_shape = None
        self._inbound_nodes: list = []  # input tensors of each call on symbolic tensors
        self._node_outputs: list = []  # the symbolic output of each such call

    # -- the contract ------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Creates the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def call(self, inputs, training=None):
        """Computes the output from ``inputs`` (tensors)."""
        return inputs

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (batch axis included, None for unknown).

        Uses Keras 1's ``get_output_shape_for`` when the layer defines it; otherwise runs
        ``call`` on two small probe batches and reads the shape off the results.
        """
        legacy = getattr(self, "get_output_shape_for", None)
        if legacy is not None:
            return _as_shape(legacy(input_shape))
        return self._probe_output_shape(input_shape)

    def get_config(self) -> dict:
        """The constructor arguments, as a JSON-serialisable dict."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    @classmethod
    def translate_config(cls, config: dict) -> dict:
        """A config written by any Keras version, with Keras 1 argument names made Keras 2's
        (silently: a file is not the user's code)."""
        _, config, _ = translate_arguments(cls, (), dict(config))
        return config

    # -- attributes --------------------------------------------------------------------------------
    def _tracked_layers(self) -> list:
        """The layers this one holds as attributes (Keras 3 tracks them; a model's are its layers)."""
        return self.__dict__.get("_sublayers", [])

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Tensor):  # a weight, or a folded one swapped in (the planner's folds): no layer
            object.__setattr__(self, name, value)
            return
        if name == "input_spec":
            self.__dict__.pop("_accepted_shape", None)  # a new spec: check every shape again
        if not name.startswith("_"):
            found = [value] if isinstance(value, Layer) else (
                [v for v in value if isinstance(v, Layer)] if isinstance(value, (list, tuple)) else [])
            if found:
                tracked = self.__dict__.setdefault("_sublayers", [])
                tracked.extend(v for v in found if v is not self and all(v is not t for t in tracked))
                structure_changed()
        elif name in _STRUCTURE_NAMES:
            structure_changed()
        elif name in _LOSS_NAMES and value and not self.__dict__.get(name):
            loss_sources_changed()
        object.__setattr__(self, name, value)

    # -- calling -----------------------------------------------------------------------------
    def check_input(self, shape) -> None:
        """Raises the layer's error when ``shape`` (batch axis first) breaks its `input_spec`."""
        spec = self.input_spec
        if spec is None or (isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list))):
            return
        problem = spec.problem(tuple(shape))
        if problem is not None:
            raise ValueError(f"{type(self).__name__} '{self.name}': {problem}, received input shape "
                             f"{shape_str((None,) + tuple(shape[1:]))}")

    def check_input_once(self, shape) -> None:
        """`check_input`, skipped when ``shape`` is the shape accepted last time (the training
        loop calls a layer with the same shapes step after step)."""
        if shape != self.__dict__.get("_accepted_shape"):
            self.check_input(shape)
            self._accepted_shape = shape

    def build_for(self, input_shape) -> None:
        """Builds once for ``input_shape`` and records input and output shapes."""
        input_shape = [tuple(s) for s in input_shape] if _is_shape_list(input_shape) else tuple(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None
        self.check_input(input_shape)
        self.input_shape = input_shape
        self.output_shape = self.compute_output_shape(input_shape)

    def __call__(self, inputs, *args, **kwargs):
        """Calls the layer on tensors or arrays (building it first when needed), or records the
        call on symbolic tensors (the functional API). Positional arguments after the inputs
        bind to ``call``'s parameters in order (`bind_call_arguments`)."""
        if not args and isinstance(inputs, Tensor) and self.built and (not kwargs or kwargs.keys() == _TRAINING_ONLY):
            # the common eager call (one computed tensor, at most ``training=``): straight to `run`
            mask = getattr(inputs, "_keras_mask", None)
            if mask is not None:
                kwargs["mask"] = mask
            out = self.run(inputs, **kwargs)
            if mask is not None or type(self).compute_mask is not Layer.compute_mask:  # `output_mask`'s test
                attach_mask(self, inputs, mask, out)
            return out
        if args:
            kwargs, args = bind_call_arguments(self, args, kwargs), ()
        if symbolic.is_symbolic(inputs):
            return call_layer_symbolic(self, inputs, **kwargs)
        if isinstance(inputs, (list, tuple)):
            inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
            shape = [(None,) + x.shape[1:] for x in inputs]
        else:
            inputs = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
            shape = (None,) + inputs.shape[1:]
        if not self.built:
            self.build_for(shape)
        if kwargs.get("mask") is None:
            kwargs.pop("mask", None)
            mask = input_mask(inputs)  # set on the inputs by the layer that made them
            if mask is not None:
                kwargs["mask"] = mask
        out = self.run(inputs, *args, **kwargs)
        attach_mask(self, inputs, kwargs.get("mask"), out)
        return out

    def run(self, inputs, training=False, mask=None, **kwargs):
        """``call`` after the input check, with ``training`` and ``mask`` passed only when
        ``call`` takes them (what models call on each layer)."""
        shape = [x.shape for x in inputs] if isinstance(inputs, list) else inputs.shape
        self.check_input_once(shape)
        takes_training, takes_mask = call_takes(type(self))
        if takes_training:
            kwargs["training"] = training
        if takes_mask and mask is not None:
            kwargs["mask"] = mask
        own = self.__dict__
        calling = own.get("_calling", 0)
        if not calling and (own.get("_call_losses") or self._tracked_layers()):
            self._clear_call_losses()  # add_loss terms belong to the latest call
        own["_calling"] = calling + 1
        try:
            return self.call(inputs, **kwargs)
        finally:
            own["_calling"] -= 1

    def _probe_output_shape(self, input_shape):
        """The output shape of ``call`` on probe batches of 2 and 3 (unknown sizes 2, then 3)."""
        shapes = input_shape if _is_shape_list(input_shape) else [input_shape]
        results = []
        kept = list(self.__dict__.get("_call_losses", ()))
        with no_grad():
            for probe in (2, 3):
                values = [Tensor(np.zeros([probe if d is None else d for d in s], self.dtype)) for s in shapes]
                out = self.run(values if _is_shape_list(input_shape) else values[0], training=False)
                results.append(tuple(np.shape(out.data if isinstance(out, Tensor) else out)))
        self._call_losses = kept  # a probe is not a call: its add_loss terms are dropped
        a, b = results
        return tuple(None if da != db else da for da, db in zip(a, b))

    # -- masks -------------------------------------------------------------------------------
    @property
    def supports_masking(self) -> bool:
        """Whether the layer passes a mask on (Keras 3's rule): it says so (``supports_masking =
        True`` on the class, as each built-in layer that Keras 3 lets masks through does: Dense,
        Activation, Dropout, the noise and normalization layers...; or set in ``__init__``), or
        it defines its own `compute_mask`. Otherwise the mask stops at this layer."""
        declared = self.__dict__.get("_supports_masking")
        if declared is not None:
            return declared
        return type(self).compute_mask is not Layer.compute_mask

    @supports_masking.setter
    def supports_masking(self, value: bool) -> None:
        self.__dict__["_supports_masking"] = bool(value)

    def compute_mask(self, inputs, mask=None):
        """The mask of the output (booleans, batch and steps, or None), from the inputs and their
        mask: by default the input mask when the layer `supports_masking`, else None (Keras 2's
        ``compute_mask(inputs, mask)``, Keras 3's ``compute_mask(inputs, previous_mask)``)."""
        return mask if self.supports_masking else None

    # -- the functional API ------------------------------------------------------------------
    @property
    def input(self):
        """The symbolic input of the layer's first call (functional API and Sequential)."""
        if not self._inbound_nodes:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has not been called on a symbolic "
                                 "tensor yet, so it has no `input`; use it in a model first")
        tensors = self._inbound_nodes[0]
        if not tensors and getattr(self, "output_tensor", None) is not None:  # an Input layer
            return self.output_tensor
        return tensors[0] if len(tensors) == 1 else list(tensors)

    @property
    def output(self):
        """The symbolic output of the layer's first call (functional API and Sequential)."""
        if getattr(self, "output_tensor", None) is not None:
            return self.output_tensor
        if not self._node_outputs:
            raise AttributeError(f"{type(self).__name__} '{self.name}' has not been called on a symbolic "
                                 "tensor yet, so it has no `output`; use it in a model first")
        return self._node_outputs[0]

    def describe_input_error(self, rule: str, received_shape) -> str:
        return f"{type(self).__name__} '{self.name}': {rule} (input shape {shape_str(received_shape)})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def input_mask(inputs):
    """The mask a layer's call left on ``inputs`` (a tensor, or a list: the list of masks when
    any is set), or None."""
    if isinstance(inputs, (list, tuple)):
        masks = [getattr(x, "_keras_mask", None) for x in inputs]
        return masks if any(m is not None for m in masks) else None
    return getattr(inputs, "_keras_mask", None)


def output_mask(layer, inputs, mask):
    """``layer.compute_mask(inputs, mask)``, skipped (None) for a layer without a mask of its
    own and no input mask (no cost for layers that never see masks)."""
    if mask is None and type(layer).compute_mask is Layer.compute_mask:
        return None
    return layer.compute_mask(inputs, mask)


def attach_mask(layer, inputs, mask, outputs) -> None:
    """Leaves ``layer``'s output mask on ``outputs`` (as Keras's ``_keras_mask``), for the next
    layer called on them outside a model."""
    masks = output_mask(layer, inputs, mask)
    if masks is None:
        return
    many = isinstance(outputs, (list, tuple))
    for out, m in zip(outputs if many else [outputs], masks if many and isinstance(masks, (list, tuple))
                      else [masks]):
        if isinstance(out, Tensor) and m is not None:
            out._keras_mask = m


def _declared_input_shape(input_shape, batch_input_shape, input_dim, batch_size):
    if batch_input_shape is not None:
        return tuple(None if d is None else int(d) for d in batch_input_shape)
    if input_shape is not None:
        if isinstance(input_shape, int):
            input_shape = (input_shape,)
        return (batch_size,) + tuple(None if d is None else int(d) for d in input_shape)
    if input_dim is not None:
        return (batch_size, int(input_dim))
    return None


def _as_shape(shape):
    if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], (tuple, list))
