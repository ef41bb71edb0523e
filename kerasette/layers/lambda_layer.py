"""The Lambda layer: any function of tensors as a layer, and how its function is saved and found.

``Lambda(function)`` runs ``function(inputs, **arguments)`` on each call. The function is written
with kerasette's operations (``kerasette.backend`` as ``K``, or a Tensor's operators), so
gradients flow through it and a model with a Lambda trains.

Saving and loading follow Keras 3, with one rule of our own: **loading never runs code stored
in a file**. Keras 3 (and Keras 1 and 2 before it) save a Python ``lambda`` as its marshalled
bytecode; kerasette writes the same thing (so that Keras 3 can load the file with its
``safe_mode=False``) but never reads it back as code. When loading, the function comes only from
``custom_objects`` (or a `custom_object_scope`, or `register_keras_serializable`):

- a named function (``def double(x): ...``) is looked up by its name: ``custom_objects={'double':
  double}``; Keras 3 finds it by the same key;
- an anonymous ``lambda`` is looked up by the Lambda layer's name: ``custom_objects={'<layer
  name>': function}``; Keras 3 can only rebuild it from the bytecode (``safe_mode=False``, same
  Python version).

A function or lambda ``output_shape`` stored in a file that ``custom_objects`` does not provide is
not needed: the output shape is then inferred by running the layer's function.
"""

from __future__ import annotations

import base64
import inspect
import json
import marshal
import types

import numpy as np

from kerasette import registry
from kerasette.backend.tensor import Tensor
from kerasette.layers.base import Layer
from kerasette.layers.legacy import keras_layer
from kerasette.utils.validation import shape_str


@keras_layer()
class Lambda(Layer):
    """Wraps ``function(inputs, **arguments)`` as a layer (Keras 3 semantics).

    Args:
        function: the function of the input tensor (or list of tensors). It may also take
            ``mask`` and ``training`` keyword arguments, which it then receives.
        output_shape: the output shape without the batch axis (a tuple), or a function of the
            input shape (batch axis included) returning the whole output shape. When omitted it
            is inferred by running ``function`` on zeros of the input shape.
        mask: a function ``(inputs, mask) -> mask`` or a fixed mask (kept for ``compute_mask``
            and the config; kerasette's models do not propagate masks).
        arguments: keyword arguments passed to ``function`` on each call.

    Example:
        >>> import numpy as np
        >>> Lambda(lambda x: x * 2.0)(np.ones((1, 3), 'float32')).data
        array([[2., 2., 2.]], dtype=float32)
        >>> Lambda(lambda x, k: x[:, :k], arguments={'k': 2}).compute_output_shape((None, 5))
        (None, 2)
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"Lambda '{self.name}': argument `function` must be callable; received "
                             f"function={function!r:.80}")
        if output_shape is not None and not callable(output_shape):
            if not isinstance(output_shape, (list, tuple)) or not all(
                    d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0)
                    for d in output_shape):
                raise ValueError(f"Lambda '{self.name}': argument `output_shape` must be a tuple of sizes (without "
                                 f"the batch axis) or a function of the input shape; received "
                                 f"output_shape={output_shape!r:.80}")
            output_shape = tuple(None if d is None else int(d) for d in output_shape)
        if arguments is not None and not isinstance(arguments, dict):
            raise ValueError(f"Lambda '{self.name}': argument `arguments` must be a dict of keyword arguments; "
                             f"received arguments={arguments!r:.80}")
        self.function = function
        self._output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        params = _parameters(function)
        self._takes_mask = "mask" in params
        self._takes_training = "training" in params

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._takes_mask:
            kwargs["mask"] = mask
        if self._takes_training:
            kwargs["training"] = training
        out = self.function(inputs, **kwargs)
        return out if isinstance(out, Tensor) or isinstance(out, (list, tuple)) else Tensor(np.asarray(out))

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            shape = self._output_shape(input_shape)
            return [tuple(s) for s in shape] if shape and isinstance(shape[0], (list, tuple)) else tuple(shape)
        if self._output_shape is not None:
            batch = input_shape[0][0] if input_shape and isinstance(input_shape[0], (list, tuple)) else input_shape[0]
            return (batch, *self._output_shape)
        try:
            return self._probe_output_shape(input_shape)
        except Exception as exc:  # the user's function: any error is theirs, reported with the fix
            shown = (", ".join(shape_str(s) for s in input_shape) if input_shape and
                     isinstance(input_shape[0], (list, tuple)) else shape_str(input_shape))
            raise ValueError(f"Lambda '{self.name}': cannot infer the output shape by running the function on "
                             f"zeros of input shape {shown} ({type(exc).__name__}: {exc}); pass "
                             "output_shape=... (the shape without the batch axis)") from exc

    def compute_mask(self, inputs, mask=None):
        """The output mask: ``mask(inputs, mask)`` for a function, else the fixed mask."""
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def get_config(self):
        config = {**super().get_config(), "function": function_config(self.function)}
        if self._output_shape is not None:
            config["output_shape"] = (function_config(self._output_shape) if callable(self._output_shape)
                                      else list(self._output_shape))
        if self.mask is not None:
            config["mask"] = function_config(self.mask) if callable(self.mask) else self.mask
        config["arguments"] = {key: _argument_config(value) for key, value in self.arguments.items()}
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """A Lambda from a config written by Keras 1, 2, 3 or kerasette; its function comes from
        ``custom_objects`` only (see the module docstring): stored bytecode is never run."""
        config = dict(config)
        name = config.get("name")
        where = f"Lambda '{name}'"
        if "module" in config:  # Keras 2 names the function's module `module`
            config.setdefault("function_module", config.pop("module"))
        function = resolve_function(config, "function", where, name, custom_objects)
        output_shape = resolve_function(config, "output_shape", where, None, custom_objects, required=False)
        mask = resolve_function(config, "mask", where, None, custom_objects, required=False)
        arguments = {key: _argument_value(value) for key, value in (config.pop("arguments", None) or {}).items()}
        if isinstance(output_shape, list):
            output_shape = tuple(output_shape)
        return cls(function, output_shape=output_shape, mask=mask, arguments=arguments, **config)


def _parameters(function) -> set:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # some builtins have no signature
        return set()


# -- writing -----------------------------------------------------------------------------------
def is_lambda(function) -> bool:
    """Whether ``function`` is an anonymous ``lambda`` (saved as bytecode, found by layer name)."""
    return isinstance(function, types.LambdaType) and function.__name__ == "<lambda>"


def function_config(function) -> dict:
    """A function as Keras 3 writes it in a config: a lambda as ``{'class_name': '__lambda__',
    'config': {'code', 'defaults', 'closure'}}`` (its marshalled bytecode, base64, which Keras 3
    runs only with ``safe_mode=False``), any other function by name."""
    if is_lambda(function):
        defaults = _json_or_none(function.__defaults__)
        closure = None
        if function.__closure__:
            closure = _json_or_none(tuple(cell.cell_contents for cell in function.__closure__))
        code = base64.encodebytes(marshal.dumps(function.__code__)).decode("ascii")
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": defaults, "closure": closure}}
    registered = registry.name_of("activation", function)
    if registered is not None and ">" not in registered:  # a built-in activation: Keras's of that name
        return {"module": "keras.activations", "class_name": "function", "config": registered,
                "registered_name": "function"}
    name = registered or getattr(function, "__name__", None) or type(function).__name__
    return {"module": "builtins", "class_name": "function", "config": name.rpartition(">")[2],
            "registered_name": name if ">" in name else "function"}


def keras1_function_config(function, key: str) -> dict:
    """``{key: ..., key + '_type': 'lambda' | 'function'}`` as Keras 1 and 2 wrote a function."""
    if is_lambda(function):
        config = function_config(function)["config"]
        return {key: [config["code"], config["defaults"], config["closure"]], f"{key}_type": "lambda"}
    return {key: getattr(function, "__name__", type(function).__name__), f"{key}_type": "function"}


def _json_or_none(value):
    """``value`` as a JSON list when it is plain data, else None (Keras 3 then cannot rebuild it)."""
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return None


def _argument_config(value):
    if isinstance(value, np.ndarray):  # Keras 3's serialized array
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": value.dtype.name}}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def _argument_value(value):
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":
        inner = value.get("config") or {}
        return np.asarray(inner.get("value"), dtype=inner.get("dtype"))
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        return tuple((value.get("config") or {}).get("value", ()))
    return value


# -- reading -----------------------------------------------------------------------------------
def resolve_function(config: dict, key: str, where: str, lambda_key: str | None, custom_objects=None,
                     required: bool = True):
    """Takes ``key`` (and Keras 1/2's ``key_type``, ``key_module``) out of ``config`` and returns
    its value: a plain value (a shape, a mode name) as it is, a stored function resolved through
    ``custom_objects`` (then scopes and registrations). Never runs stored bytecode.

    Args:
        config: the layer config (modified: the keys are removed).
        key: ``'function'``, ``'output_shape'``, ``'mask'``, ``'mode'``.
        where: the layer, for errors (``"Lambda 'name'"``).
        lambda_key: the ``custom_objects`` key of a stored lambda (the layer's name), or None
            when a lambda is not looked up (an ``output_shape``: inferred instead).
        required: raise when the function cannot be found (else return None).

    Raises:
        ValueError: a required function that ``custom_objects`` does not give; the message says
            which key to pass.
    """
    value = config.pop(key, None)
    kind = config.pop(f"{key}_type", None)
    module = config.pop(f"{key}_module", None)
    if isinstance(value, dict) and value.get("class_name") == "__lambda__":
        kind = "lambda"
    elif isinstance(value, dict) and value.get("class_name") == "function":
        kind, module = "function", value.get("module")
        registered = value.get("registered_name")
        value = registered if isinstance(registered, str) and ">" in registered else value.get("config")
    if kind == "lambda":
        found = _custom(lambda_key, custom_objects) if lambda_key else None
        if found is None and required:
            raise ValueError(
                f"{where}: the file stores this layer's `{key}` as a Python lambda (marshalled bytecode), and "
                "kerasette never runs code stored in a file. Pass the function when loading, under the layer's "
                f"name: load_model(path, custom_objects={{{lambda_key!r}: your_function}})")
        return found
    if kind == "function":
        found = _custom(value, custom_objects) if isinstance(value, str) else None
        if found is None and isinstance(value, str):
            found = _keras_builtin(value, module)
        if found is None and required:
            short = str(value).rpartition(">")[2]
            raise ValueError(
                f"{where}: the file names its `{key}` {value!r}, which is not known here (nothing stored in a "
                f"file is imported or run). Pass it when loading: load_model(path, custom_objects={{{short!r}: "
                f"{short}}})")
        return found
    return value


def _custom(name, custom_objects):
    """The user's object for ``name`` (``custom_objects``, scopes, registrations), or None."""
    if not isinstance(name, str) or not registry.is_custom(name, custom_objects):
        if isinstance(name, str) and ">" in name:
            return _custom(name.rpartition(">")[2], custom_objects)
        return None
    return registry.lookup("activation", name, custom_objects)


def _keras_builtin(name: str, module) -> object | None:
    """A function Keras itself defines (``keras.activations.relu``, ``K.tanh``) by its name, as
    kerasette's activation of that name."""
    if isinstance(module, str) and module.split(".")[0] in ("keras", "tensorflow", "tf_keras"):
        return registry.lookup("activation", name)
    return None
