"""Model: a Layer with a training loop, built three ways.

- **Functional**: ``Model(inputs, outputs)`` over a graph of layer calls on symbolic tensors.
- **Sequential**: `kerasette.models.Sequential`, a subclass whose graph is a chain.
- **Subclassed** (Keras 3): ``class MyModel(Model)`` with layers as attributes and a ``call``;
  it builds on its first call and trains with ``fit``.

A model is a layer: it nests in other models, and its weights API (``weights``, ``get_weights``,
``set_weights``, ``trainable``) is the Layer's. A graph model used as a layer takes its inputs'
masks (``mask=``, or the mask its input carries) and passes on the masks its outputs carry
(`Model.compute_mask`), as Keras 3's functional models do. Graph models run through the one planner
(`kerasette.models.planner`); the training loop is a `Trainer` the model owns.

Example:
    >>> from kerasette.layers import Input, Dense
    >>> inp = Input(shape=(4,))
    >>> model = Model(inp, Dense(2)(Dense(3, activation='relu')(inp)))
    >>> model.output_shape
    (None, 2)
"""

from __future__ import annotations

import json

import numpy as np

from kerasette import registry
from kerasette.backend import ops, symbolic
from kerasette.backend.tensor import Tensor, no_grad
from kerasette.layers.base import Layer, snake_case, unique_name
from kerasette.layers.legacy import keras_layer
from kerasette.layers.node import accepted_keywords
from kerasette.models import functional, functional_config, legacy_methods
from kerasette.models.call_masks import ANY_MASKS, CallMasks
from kerasette.models.data import as_list
from kerasette.models.planner import Plan
from kerasette.models.summary import format_summary
from kerasette.models.trainer import Trainer
from kerasette.version import __version__


@keras_layer(name="Functional", aliases=("Model",))
class Model(Layer):
    """A model: ``Model(inputs, outputs)``, or a subclass with its own ``call``.

    Args:
        inputs: an `Input` tensor or a list of them (Keras 1: ``input``).
        outputs: a symbolic tensor computed from the inputs, or a list of them (Keras 1:
            ``output``).
        name: the model's name (``model_1`` etc. when omitted).
    """

    _name_prefix = "model"
    _summary_connections = True  # Sequential's summary has no "Connected to" column

    def __init__(self, inputs=None, outputs=None, name: str | None = None, **kwargs):
        if "input" in kwargs or "output" in kwargs:  # Keras 1 spelling
            inputs = kwargs.pop("input", inputs)
            outputs = kwargs.pop("output", outputs)
        super().__init__(name=name or _model_name(self), **kwargs)
        self._trainer = Trainer(self)
        self._graph: functional.LayerGraph | None = None
        self._plan: Plan | None = None
        self._subclass_shapes = None  # (input shapes, output shapes) of a subclassed model once called
        self._symbolic_losses: list = []  # add_loss terms computed from the graph's tensors (Keras 2)
        if inputs is not None or outputs is not None:
            self._graph = functional.LayerGraph(inputs, outputs, self.name)
            self.built = True

    # -- structure ---------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The layers, in the order they are called (graph models) or assigned (subclassed)."""
        return self._graph.layers if self._graph is not None else list(self._tracked_layers())

    def _tracked_layers(self) -> list:
        if self._graph is None:
            return super()._tracked_layers()
        return self._graph.layers

    def get_layer(self, name: str | None = None, index: int | None = None):
        """A layer by name or by index."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Model '{self.name}': no layer at index {index}; it has {len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}': no layer named {name!r}; layers are {[x.name for x in layers]}")

    @property
    def inputs(self) -> list:
        return self._graph.inputs if self._graph is not None else []

    @property
    def outputs(self) -> list:
        return self._graph.outputs if self._graph is not None else []

    @property
    def input(self):
        self._require_graph("input")
        return self.inputs if self._graph.multi_input else self.inputs[0]

    @property
    def output(self):
        self._require_graph("output")
        return self.outputs if len(self.outputs) > 1 else self.outputs[0]

    def _require_graph(self, what: str) -> None:
        if self._graph is None:
            raise AttributeError(f"Model '{self.name}' is a subclassed model: it has no symbolic `{what}`")

    @property
    def batch_input_shape(self):
        """The input shape, batch axis included, of a one-input graph model (what a first layer's
        ``input_shape`` gives a Sequential that holds this model)."""
        if self.__dict__.get("_graph") is not None and len(self._graph.inputs) == 1:
            return self._graph.inputs[0].shape
        return self.__dict__.get("_batch_input_shape_arg")

    @batch_input_shape.setter
    def batch_input_shape(self, value) -> None:
        self._batch_input_shape_arg = value

    @property
    def input_shapes(self) -> list:
        if self._graph is not None:
            return [t.shape for t in self.inputs]
        return self._subclass_shapes[0] if self._subclass_shapes else [None]

    @property
    def output_shapes(self) -> list:
        if self._graph is not None:
            return [t.shape for t in self.outputs]
        return self._subclass_shapes[1] if self._subclass_shapes else [None]

    @property
    def input_shape(self):
        shapes = self.input_shapes
        return shapes if self._graph is not None and self._graph.multi_input else shapes[0]

    @input_shape.setter
    def input_shape(self, value) -> None:  # Layer.__init__ and build_for set it; models derive it
        pass

    @property
    def output_shape(self):
        shapes = self.output_shapes
        return shapes[0] if len(shapes) == 1 else shapes

    @output_shape.setter
    def output_shape(self, value) -> None:
        pass

    @property
    def output_names(self) -> list[str]:
        if self._graph is not None:
            return self._graph.output_names()
        return [f"output_{i + 1}" for i in range(len(self.output_shapes))]

    @property
    def input_names(self) -> list[str]:
        return [t._keras_history[0].name for t in self.inputs]

    # -- computing ---------------------------------------------------------------------------
    def call_graph(self, inputs: list[Tensor], training: bool = False, masks: list | None = None) -> list[Tensor]:
        """The outputs (a list) for a list of input tensors: what the training loop calls.

        ``masks`` (one per input, None for none) are the inputs' masks, which a graph model's
        layers compute with as if its inputs carried them. The outputs carry their masks
        (``_keras_mask``), and `compute_mask` gives them for these inputs until the next call.
        """
        if self._graph is None:
            out = self.run(inputs if len(inputs) > 1 else inputs[0], training)
            outputs = list(out) if isinstance(out, (list, tuple)) else [out]
            if self._subclass_shapes is None:
                self._subclass_shapes = ([(None,) + tuple(x.shape[1:]) for x in inputs],
                                         [(None,) + tuple(o.shape[1:]) for o in outputs])
                self.built = True
            return outputs
        if self._plan is None:
            self._plan = Plan(self.inputs, self.outputs + self._symbolic_losses)
        values = self._plan.run(inputs, training, masks)
        if self._symbolic_losses:
            count = len(self.outputs)  # the rest are this call's values of the symbolic add_loss terms
            self._call_losses = [v if v.ndim == 0 else ops.sum(v) for v in values[count:]]
            values = values[:count]
        self._latest_masks = CallMasks(inputs, masks, values)
        return values

    def add_loss(self, losses, inputs=None) -> None:
        """`Layer.add_loss`, and on a functional model also a symbolic tensor computed from the
        model's tensors, as Keras 2 scripts do after building the model::

            vae = Model(x, x_decoded)
            vae.add_loss(K.mean(K.square(x - x_decoded)) + kl_term)
            vae.compile(optimizer='adam')  # no loss: the added terms are the loss
            vae.fit(x_train, epochs=2)  # no targets

        Such a term is computed with the outputs at each call of the model (a tensor that is not
        a scalar counts as its sum)."""
        terms = list(losses) if isinstance(losses, (list, tuple)) else [losses]
        graph_terms = [t for t in terms if symbolic.is_symbolic(t)]
        if graph_terms and self._graph is not None:
            self._symbolic_losses.extend(graph_terms)
            self._plan = None
            terms = [t for t in terms if not symbolic.is_symbolic(t)]
        if terms:
            super().add_loss(terms, inputs)

    def call(self, inputs, training=False, mask=None):
        """The model applied to tensors (what calling it as a layer runs).

        ``mask`` (Keras 3's functional models): the inputs' mask (a list of them, None for an
        input without one for several inputs), used by the layers inside as the mask the
        inputs carry; the mask its outputs carry at the end is what `compute_mask` gives, so a
        model used as a layer passes masks on like any layer (``Embedding(mask_zero=True)``
        outside, an LSTM inside that skips the padded steps, a pooling after it that leaves
        them out).
        """
        if self._graph is None:
            raise NotImplementedError(f"Model '{self.name}': a subclassed model must define call(self, inputs)")
        values = [x if isinstance(x, Tensor) else Tensor(x) for x in as_list(inputs)]
        masks = None if mask is None else list(mask) if isinstance(mask, (list, tuple)) else [mask]
        if masks is not None and len(masks) != len(values):
            raise ValueError(f"Model '{self.name}': received {len(masks)} masks for {len(values)} inputs; give "
                             "one per input (None for an input without one)")
        outputs = self.call_graph(values, training=training, masks=masks)
        return outputs if len(outputs) > 1 else outputs[0]

    def compute_mask(self, inputs, mask=None):
        """The masks of the outputs for ``inputs`` (tensors) given with ``mask``: what the
        layers inside computed (the mask the last layer left on each output), None for an
        output without one; one output: its mask alone.

        The masks of the latest call on these very tensors are reused (a model used as a layer
        is asked right after it ran); otherwise the model runs in inference to find them. A
        subclassed model passes no mask on unless it says so (``supports_masking = True``) or
        defines its own ``compute_mask``, as any layer.
        """
        if self._graph is None:
            return mask if self.__dict__.get("_supports_masking") else None
        values = as_list(inputs)
        latest = self.__dict__.get("_latest_masks")
        masks = None
        if latest is not None:
            masks = latest.of(values, mask if self.call_takes_mask() else ANY_MASKS)
        if masks is None:
            with no_grad():
                if self.call_takes_mask():
                    out = self.call(inputs, training=False, mask=mask)
                else:
                    out = self.call(inputs, training=False)
            masks = [getattr(o, "_keras_mask", None) for o in as_list(out)]
        return masks[0] if len(masks) == 1 else masks

    def call_takes_mask(self) -> bool:
        """Whether this model's ``call`` takes ``mask`` (a graph model's does; a subclass may
        override ``call`` without one). A mask given to a model whose
        call takes none is refused on symbolic tensors, and left out of a file's call with a
        warning (`kerasette.models.functional_config`)."""
        names, any_keyword = accepted_keywords(self)
        return "mask" in names or any_keyword

    def build_for(self, input_shape) -> None:
        if self._graph is None:
            self.built = True
            return
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        for given, own in zip(shapes, self.input_shapes):
            if len(given) != len(own) or any(a is not None and b is not None and a != b
                                              for a, b in zip(given[1:], own[1:])):
                raise ValueError(f"Model '{self.name}': expected input shape {own}, received {tuple(given)}")

    def build(self, input_shape=None) -> None:
        """Builds a subclassed model by calling it once on zeros of ``input_shape``."""
        if self._graph is not None or input_shape is None:
            self.built = True
            return
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        values = [Tensor(np.zeros([1 if d is None else d for d in s], self.dtype)) for s in shapes]
        self.call_graph(values, training=False)
        self._subclass_shapes = ([tuple(s) for s in shapes], self._subclass_shapes[1])
        self.built = True

    def build_from_data(self, x) -> None:
        """Called by the training loop with the first data it sees (Sequential builds from it)."""

    def compute_output_shape(self, input_shape):
        if self._graph is None:
            return super().compute_output_shape(input_shape)
        return self.output_shape

    def __call__(self, inputs, *args, **kwargs):
        if not symbolic.is_symbolic(inputs):
            if self._graph is None:  # a subclassed model: through call_graph, which records its shapes
                values = [x if isinstance(x, Tensor) else Tensor(x) for x in as_list(inputs)]
                training = kwargs.get("training", args[0] if args else False)
                outputs = self.call_graph(values, training=training)
                return outputs if len(outputs) > 1 else outputs[0]
        elif self._graph is not None and len(self.outputs) > 1:
            raise ValueError(f"Model '{self.name}': a model with several outputs cannot be used as a "
                             "layer of another model")
        elif kwargs.get("mask") is not None and not self.call_takes_mask():
            # its compute_mask would let the call record a mask that nothing inside would use
            raise TypeError(f"{type(self).__name__} '{self.name}': its call does not take the argument `mask`; "
                            f"pass the mask to the layers inside, or use a functional model")
        return super().__call__(inputs, *args, **kwargs)

    # -- training (the Trainer's) ------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        """Chooses the optimizer, the loss (per output) and the metrics; see `Trainer.compile`."""
        self._trainer.compile(optimizer, loss, metrics, loss_weights, **kwargs)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None, **kwargs):
        """Trains for ``epochs`` epochs (Keras 1: ``nb_epoch``); returns a `History`; see `Trainer.fit`."""
        return self._trainer.fit(x, y, batch_size, epochs, verbose, callbacks, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, **kwargs):
        """The loss (a float) or ``[loss, *metrics]`` on the given data, without training."""
        return self._trainer.evaluate(x, y, batch_size, verbose, **kwargs)

    def predict(self, x, batch_size=None, verbose=0, **kwargs):
        """The model's outputs for ``x``, computed in batches with gradient recording off."""
        return self._trainer.predict(x, batch_size, verbose, **kwargs)

    def predict_proba(self, x, batch_size: int = 32, verbose: int = 0):
        """Keras 1/2: `predict`'s output, with a warning when it is not in [0, 1]."""
        return legacy_methods.predict_proba(self._trainer, x, batch_size, verbose)

    def predict_classes(self, x, batch_size: int = 32, verbose: int = 0):
        """Keras 1/2: the predicted classes (arg-max, or ``p > 0.5`` for one column)."""
        return legacy_methods.predict_classes(self._trainer, x, batch_size, verbose)

    def fit_generator(self, generator, *args, **kwargs):
        """Keras 1/2: `fit` on a generator or Sequence (Keras 1 names translated)."""
        return legacy_methods.fit_generator(self._trainer, generator, *args, **kwargs)

    def evaluate_generator(self, generator, *args, **kwargs):
        """Keras 1/2: `evaluate` on a generator or Sequence."""
        return legacy_methods.evaluate_generator(self._trainer, generator, *args, **kwargs)

    def predict_generator(self, generator, *args, **kwargs):
        """Keras 1/2: `predict` on a generator or Sequence."""
        return legacy_methods.predict_generator(self._trainer, generator, *args, **kwargs)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One update on one batch; returns the loss or ``[loss, *metrics]``."""
        return self._trainer.train_on_batch(x, y, sample_weight, class_weight)

    def test_on_batch(self, x, y, sample_weight=None):
        """The loss or ``[loss, *metrics]`` on one batch."""
        return self._trainer.test_on_batch(x, y, sample_weight)

    def predict_on_batch(self, x):
        """The outputs for one batch."""
        return self._trainer.predict_on_batch(x)

    def train_step(self, xs, ys, sample_weight=None) -> dict[str, float]:
        """Forward, loss, backward and one update on one batch of arrays; returns its logs."""
        return self._trainer.train_step(xs, ys, sample_weight)

    def test_step(self, xs, ys, sample_weight=None) -> dict[str, float]:
        return self._trainer.test_step(xs, ys, sample_weight)

    def batch_slices(self, n: int, batch_size: int) -> list[slice]:
        return self._trainer.batch_slices(n, batch_size)

    def get_compile_config(self) -> dict | None:
        """What ``compile`` was given (optimizer object, loss, metrics, loss weights), or None."""
        return self._trainer.compile_config()

    compiled = property(lambda self: self._trainer.compiled, doc="Whether compile() was called.")
    loss = property(lambda self: self._trainer.loss, doc="The loss given to compile().")
    loss_weights = property(lambda self: self._trainer.loss_weights)
    metrics_names = property(lambda self: self._trainer.metrics_names,
                             doc="'loss', each output's loss (several outputs), then the metrics, as logged.")
    history = property(lambda self: self._trainer.history, doc="The History of the last fit().")

    @property
    def optimizer(self):
        return self._trainer.optimizer

    @optimizer.setter
    def optimizer(self, value) -> None:
        self._trainer.optimizer = value

    @property
    def stop_training(self) -> bool:
        """Set to True (by a callback) to end ``fit`` after the current batch."""
        return self._trainer.stop_training

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self._trainer.stop_training = bool(value)

    # -- description -------------------------------------------------------------------------
    def summary(self, line_length: int | None = None, print_fn=print) -> None:
        """Prints the layers, their output shapes and parameter counts, and the totals."""
        print_fn(format_summary(self, line_length, connections=self._graph is not None and
                                self._summary_connections))

    def summary_rows(self):
        if self._graph is not None:
            return self._graph.summary_rows()
        return [(layer.name, type(layer).__name__, layer.output_shape, layer.count_params(), [])
                for layer in self.layers]

    def get_config(self) -> dict:
        """Keras 2's functional config: layers with ``inbound_nodes``, ``input_layers``,
        ``output_layers``. A subclassed model has none unless it defines its own."""
        if self._graph is None:
            if type(self).get_config is Model.get_config:
                raise NotImplementedError(f"Model '{self.name}': a subclassed model has no config unless its "
                                          "class defines get_config(); save its weights with save_weights() instead")
            return Layer.get_config(self)  # the base of a subclass's own get_config
        return self._graph.get_config(self.name)

    def get_build_config(self) -> dict | None:
        """Keras 3's ``build_config``: for a built subclassed model, the input shape to build it
        again with after ``from_config``; None for graph models (their config holds the shapes)."""
        if self._graph is not None or self._subclass_shapes is None:
            return None
        shapes = [list(s) for s in self._subclass_shapes[0]]
        return {"input_shape": shapes if len(shapes) > 1 else shapes[0]}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """Rebuilds the graph from Keras 2 or Keras 3 functional configs; a subclassed model
        from its own arguments (``cls(**config)``)."""
        if "layers" not in config and "input_layers" not in config:
            return cls(**config)
        with registry.custom_object_scope(custom_objects or {}):  # seen by layers' own from_config (Lambda)
            inputs, outputs = functional_config.rebuild(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"))

    def to_json(self, **kwargs) -> str:
        """The architecture as Keras's JSON (``{'class_name', 'config'}``)."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config(),
                           "keras_version": __version__, "backend": "kerasette"}, **kwargs)

    # -- checkpoints (the format lives in kerasette.saving) ----------------------------------
    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Saves architecture, weights, training config and optimizer state: Keras 3's ``.keras``
        archive for a ``.keras`` name, Keras's legacy HDF5 otherwise (`kerasette.saving.save_model`)."""
        file_format().save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Saves the weights only: Keras 3's native layout for a ``.weights.h5`` name, Keras's
        legacy HDF5 layout otherwise (`kerasette.saving.save_weights`)."""
        file_format().save_weights(self, filepath, overwrite=overwrite)

    def load_training_state(self, filepath) -> None:
        """Restores the weights, optimizer state and random state that `save` wrote, into this
        compiled model, so that ``fit`` continues exactly where that run was."""
        file_format().load_training_state(self, filepath)

    def load_weights(self, filepath, by_name: bool = False, skip_mismatch: bool = False,
                     flip_kernels: bool | None = None) -> None:
        """Loads weights saved by `save_weights`, `save` or Keras (legacy or ``.weights.h5``).

        ``flip_kernels`` forces (True) or skips (False) flipping Theano-trained convolution
        kernels; None decides from the file, with a warning when it flips.
        """
        file_format().load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch, flip_kernels=flip_kernels)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def file_format():
    """`kerasette.saving`, imported on first use."""
    import kerasette.saving  # deferred: h5py costs 10 MB and 40 ms of `import kerasette`; only files need it

    return kerasette.saving


def _model_name(model) -> str | None:
    """Keras's automatic names: ``model_1``, ``sequential_1``, or the subclass's own."""
    cls = type(model)
    if cls.__module__.startswith("kerasette."):
        return unique_name(cls._name_prefix)
    return unique_name(snake_case(cls.__name__))
