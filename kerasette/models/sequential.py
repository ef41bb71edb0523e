"""Sequential: a linear stack of layers with shape inference at ``add`` time."""

from __future__ import annotations

import copy

from kerasette.backend.symbolic import KerasTensor
from kerasette.backend.tensor import Tensor
from kerasette.layers import deserialize
from kerasette.layers.base import Layer
from kerasette.layers.core import InputLayer, input_tensor
from kerasette.layers.legacy import keras_layer
from kerasette.layers.node import call_layer_symbolic
from kerasette.models.functional import LayerGraph
from kerasette.models.model import Model
from kerasette.utils.validation import shape_str


@keras_layer()
class Sequential(Model):
    """A model whose layers each take the previous layer's output.

    Args:
        layers: optional list of layers to add.
        name: the model's name (``sequential_1`` etc. when omitted).

    Example:
        >>> from kerasette.layers import Dense
        >>> model = Sequential([Dense(32, activation='relu', input_dim=64), Dense(10)])
        >>> model.output_shape
        (None, 10)
    """

    _name_prefix = "sequential"
    _summary_connections = False

    def __init__(self, layers=None, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._batch_input_shape = None
        self._symbolic_outputs: list = []
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the InputLayer (as Keras lists them)."""
        return list(self._layers)

    def _tracked_layers(self) -> list:
        return self._layers

    # -- building ----------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Appends a layer; infers and checks its input shape when the model's is known."""
        if isinstance(layer, KerasTensor) and layer.node is None and layer._keras_history:
            layer = layer._keras_history[0]  # Sequential([Input(shape=...), ...]) as in Keras 3
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer instance; received {layer!r}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential.add: an InputLayer can only be the first layer")
            self._input_layer = layer
            self._batch_input_shape = layer.batch_input_shape
            return
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential.add: the model already has a layer named '{layer.name}'; "
                             "layer names must be unique")
        if not self._layers and self._batch_input_shape is None and layer.batch_input_shape is not None:
            self._batch_input_shape = layer.batch_input_shape
        self._layers.append(layer)
        if self._batch_input_shape is not None:
            self._build_from(len(self._layers) - 1)

    def _build_from(self, start: int) -> None:
        """Builds layers ``start:`` and records their calls on the model's symbolic input, which
        gives ``model.input``, ``model.output`` and each ``layer.output``."""
        if start == 0 or not self._symbolic_outputs:
            if self._input_layer is None or self._input_layer.batch_input_shape != self._batch_input_shape:
                self._input_layer = InputLayer(batch_input_shape=self._batch_input_shape,
                                               name=f"{self._layers[0].name}_input" if self._layers else None)
            self._symbolic_outputs = [input_tensor(self._input_layer)]
            start = 0
        del self._symbolic_outputs[start + 1:]
        for layer in self._layers[start:]:
            self._symbolic_outputs.append(call_layer_symbolic(layer, self._symbolic_outputs[-1]))
        self._graph = LayerGraph(self._symbolic_outputs[0], self._symbolic_outputs[-1], self.name)
        self._plan = None
        self.built = True

    @property
    def input(self):
        """The model's symbolic input (known once the input shape is)."""
        if self._batch_input_shape is None:
            raise AttributeError(f"Sequential '{self.name}' has no input yet: its input shape is unknown")
        self._ensure_built([])
        return self._symbolic_outputs[0]

    @property
    def output(self):
        """The model's symbolic output."""
        self.input  # noqa: B018 - raises the explanation when there is none
        return self._symbolic_outputs[-1]

    @property
    def inputs(self) -> list:
        return [self.input]

    @property
    def outputs(self) -> list:
        return [self.output]

    # -- as a layer inside another model ------------------------------------------------------
    def build_for(self, input_shape) -> None:
        if not self.built or self._batch_input_shape is None:
            self.build(tuple(input_shape))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def call(self, inputs, training: bool = False, mask=None):
        """The layers applied in turn; ``mask``: the input's mask, which the layers compute with
        as if the input carried it (an LSTM inside skips the masked steps), as Keras 3's."""
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        return self.call_graph([x], training=training, masks=None if mask is None else [mask])[0]

    def build(self, input_shape=None) -> None:
        """Builds every layer for ``input_shape`` (batch axis included)."""
        if input_shape is not None:
            self._batch_input_shape = tuple(input_shape)
        if self._batch_input_shape is None:
            raise ValueError(f"Sequential '{self.name}': the input shape is unknown; give the first "
                             "layer `input_shape=...` or call build(input_shape)")
        self._build_from(0)

    def pop(self) -> None:
        """Removes the last layer."""
        if not self._layers:
            raise TypeError("Sequential.pop: there are no layers in the model")
        self._layers.pop()
        del self._symbolic_outputs[len(self._layers) + 1:]
        if len(self._symbolic_outputs) > 1:
            self._graph = LayerGraph(self._symbolic_outputs[0], self._symbolic_outputs[-1], self.name)
        else:
            self._graph, self.built = None, False
        self._plan = None

    # -- shapes ------------------------------------------------------------------------------
    @property
    def input_shape(self):
        return self.__dict__.get("_batch_input_shape")

    @input_shape.setter
    def input_shape(self, value) -> None:  # Layer.__init__ sets it; a Sequential derives it
        pass

    @property
    def output_shape(self):
        if not self._layers:
            return self._batch_input_shape
        return self._layers[-1].output_shape

    @output_shape.setter
    def output_shape(self, value) -> None:
        pass

    @property
    def batch_input_shape(self):
        """The input shape, batch axis included, when known (a Sequential inside another one
        gives it to the outer model, as a first layer's ``input_shape`` would)."""
        return self.__dict__.get("_batch_input_shape")

    @batch_input_shape.setter
    def batch_input_shape(self, value) -> None:
        if value is not None:
            self._batch_input_shape = value

    @property
    def input_shapes(self) -> list:
        return [self._batch_input_shape]

    @property
    def output_shapes(self) -> list:
        return [self.output_shape]

    @property
    def output_names(self) -> list[str]:
        return [self._layers[-1].name] if self._layers else ["output"]

    # -- computing ---------------------------------------------------------------------------
    def _ensure_built(self, inputs: list[Tensor]) -> None:
        if not self._layers:
            raise ValueError(f"Sequential '{self.name}' has no layers; add some before using it")
        if not self.built or self._layers[-1].output_shape is None or not self._symbolic_outputs:
            if self._batch_input_shape is None:
                self._batch_input_shape = (None,) + tuple(inputs[0].shape[1:])
            self._build_from(0)

    def call_graph(self, inputs: list[Tensor], training: bool = False, masks: list | None = None) -> list[Tensor]:
        self._ensure_built(inputs)
        return super().call_graph(inputs, training, masks)

    def build_from_data(self, x) -> None:
        """Takes the input shape from the first data the model sees, when no layer declared it."""
        if self._batch_input_shape is None and x is not None:
            first = x[0] if isinstance(x, (list, tuple)) else x
            self._batch_input_shape = (None,) + tuple(getattr(first, "shape", ())[1:])
            self._build_from(0)

    # -- description -------------------------------------------------------------------------
    def summary_rows(self):
        return [(layer.name, type(layer).__name__, layer.output_shape, layer.count_params(), [])
                for layer in self._layers]

    def get_config(self) -> dict:
        """Keras 2/3's dict form: ``{'name', 'layers': [{'class_name', 'config'}, ...]}``."""
        layers = []
        if self._batch_input_shape is not None:
            layers.append({"class_name": "InputLayer",
                           "config": {"batch_input_shape": list(self._batch_input_shape),
                                      "dtype": "float32", "sparse": False,
                                      "name": self._input_layer.name if self._input_layer else
                                      f"{self._layers[0].name if self._layers else self.name}_input"}})
        for layer in self._layers:
            config = copy.deepcopy(layer.get_config())
            config.pop("batch_input_shape", None)
            layers.append({"class_name": type(layer).__name__, "config": config})
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """The inverse of `get_config` (also accepts Keras ≤ 2.1's plain list of layers)."""
        layers_config = config if isinstance(config, list) else config.get("layers", [])
        name = None if isinstance(config, list) else config.get("name")
        model = cls(name=name)
        for spec in layers_config:
            model.add(deserialize(spec, custom_objects))
        return model

    def __repr__(self) -> str:
        shape = shape_str(self.input_shape) if self.input_shape else "?"
        return f"<Sequential name={self.name}, input_shape={shape}, layers={len(self._layers)}>"

