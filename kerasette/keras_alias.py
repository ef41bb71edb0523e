"""``import keras`` served by kerasette: an import hook for scripts written for Keras 1, 2 or 3.

After `install_keras_alias` (what ``kerasette run SCRIPT`` does before running the script),
``import keras``, ``from keras.layers import Dense``, ``from tensorflow import keras`` and
``tensorflow.keras.layers`` resolve to kerasette, including the module paths of Keras 1 and 2
(``keras.layers.core``, ``keras.engine.topology``, ``keras.utils.np_utils``, ``keras.objectives``,
``keras.initializations``, ...). Each alias is a module of its own whose attributes are looked up
in kerasette; a name kerasette does not provide raises an ImportError that says kerasette is
serving the import and names what is missing, instead of a confusing error later.

Example:
    >>> from kerasette.keras_alias import install_keras_alias, uninstall_keras_alias
    >>> install_keras_alias()
    >>> from keras.layers import Convolution2D
    >>> Convolution2D.__module__
    'kerasette.layers.convolutional.conv2d'
    >>> uninstall_keras_alias()
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

#: Keras module paths whose kerasette home has another name, or which gather names from several
#: kerasette modules (``"module:attribute"``). Every other ``keras.X`` is ``kerasette.X``.
RENAMED: dict[str, str | dict[str, str]] = {
    "keras.objectives": "kerasette.losses",
    "keras.initializations": "kerasette.initializers",
    "keras.engine": {"Layer": "kerasette.layers:Layer", "InputSpec": "kerasette.layers:InputSpec",
                     "Input": "kerasette.layers:Input", "InputLayer": "kerasette.layers:InputLayer",
                     "Model": "kerasette.models:Model", "Sequential": "kerasette.models:Sequential"},
    "keras.engine.topology": {"Layer": "kerasette.layers:Layer", "InputSpec": "kerasette.layers:InputSpec",
                              "Input": "kerasette.layers:Input", "InputLayer": "kerasette.layers:InputLayer",
                              "Container": "kerasette.models:Model", "Model": "kerasette.models:Model"},
    "keras.engine.base_layer": {"Layer": "kerasette.layers:Layer", "InputSpec": "kerasette.layers:InputSpec"},
    "keras.engine.input_layer": {"Input": "kerasette.layers:Input", "InputLayer": "kerasette.layers:InputLayer"},
    "keras.engine.training": {"Model": "kerasette.models:Model"},
    "keras.engine.sequential": {"Sequential": "kerasette.models:Sequential"},
    "keras.engine.functional": {"Functional": "kerasette.models:Model"},
    "keras.layers.advanced_activations": "kerasette.layers.advanced_activations",
    "keras.layers.embeddings": "kerasette.layers",
    "keras.layers.recurrent": "kerasette.layers",
    "keras.layers.wrappers": "kerasette.layers",
    "keras.layers.local": "kerasette.layers",
    "keras.layers.convolutional_recurrent": "kerasette.layers",
    "keras.utils.np_utils": "kerasette.utils.np_utils",
    "keras.utils.data_utils": "kerasette.utils",
    "keras.utils.generic_utils": "kerasette.utils",
    "keras.utils.layer_utils": "kerasette.utils",
    "keras.utils.vis_utils": "kerasette.utils",
    "keras.src": "kerasette",
}
#: the roots served: ``keras`` and TensorFlow's ``tensorflow.keras``
ROOTS = ("keras", "tensorflow.keras", "tf_keras")


class NotInKerasetteError(ImportError):
    """A Keras name or module that kerasette does not provide."""


def _keras_path(alias: str) -> str:
    """``tensorflow.keras.layers`` -> ``keras.layers``: one table serves every root."""
    for root in ROOTS[1:]:
        if alias == root or alias.startswith(root + "."):
            return "keras" + alias[len(root):]
    return alias


def _target(alias: str) -> str | dict[str, str]:
    path = _keras_path(alias)
    if path in RENAMED:
        return RENAMED[path]
    if path.startswith("keras.src."):
        return "kerasette." + path[len("keras.src."):]
    return "kerasette" + path[len("keras"):]


def _missing(alias: str, what: str) -> NotInKerasetteError:
    return NotInKerasetteError(
        f"kerasette is serving `import keras` for this script (kerasette run, or "
        f"kerasette.install_keras_alias()) and does not provide {what}; README 'What is in the box' lists "
        "what it has.", name=alias)


class AliasModule(types.ModuleType):
    """A Keras module path whose attributes are kerasette's."""

    def __init__(self, alias: str, target):
        super().__init__(alias)
        self.__path__ = []  # a package: its submodules are served by the finder too
        self.__kerasette_target__ = target

    def __getattr__(self, name: str):
        if name == "__version__":  # scripts print keras.__version__
            return importlib.import_module("kerasette.version").__version__
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        target = self.__kerasette_target__
        if isinstance(target, dict):
            if name in target:
                module, _, attr = target[name].partition(":")
                return getattr(importlib.import_module(module), attr)
        else:
            value = getattr(target, name, None)
            sub = f"{target.__name__}.{name}"
            is_submodule = isinstance(value, types.ModuleType) and value.__name__ == sub
            if is_submodule or (value is None and hasattr(target, "__path__")
                                and importlib.util.find_spec(sub) is not None):
                return importlib.import_module(f"{self.__name__}.{name}")  # keras.backend: an alias too
            if hasattr(target, name):
                return value
        # an ImportError (not AttributeError): `from keras.layers import LSTM` shows this message
        raise _missing(f"{self.__name__}.{name}", f"`{name}` (asked for in `{self.__name__}`)")

    def __dir__(self):
        target = self.__kerasette_target__
        return sorted(target) if isinstance(target, dict) else dir(target)


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        target = _target(spec.name)
        if isinstance(target, dict):
            return AliasModule(spec.name, target)
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (target == exc.name or target.startswith(exc.name + ".")):
                raise _missing(spec.name, f"the module `{spec.name}`") from None
            raise
        return AliasModule(spec.name, module)

    def exec_module(self, module):
        return None


class _TensorFlowModule(AliasModule):
    """``tensorflow`` itself: only its ``keras`` is served."""

    def __getattr__(self, name: str):
        if name == "keras":
            return importlib.import_module("tensorflow.keras")
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise _missing(f"tensorflow.{name}", f"`tensorflow.{name}` (only `tensorflow.keras` is served)")


class _TensorFlowLoader(_Loader):
    def create_module(self, spec):
        return _TensorFlowModule(spec.name, {})


class KerasFinder(importlib.abc.MetaPathFinder):
    """Finds ``keras``, ``keras.*``, ``tensorflow``, ``tensorflow.keras.*`` and ``tf_keras.*``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "tensorflow":
            return importlib.machinery.ModuleSpec(fullname, _TensorFlowLoader(), is_package=True)
        if any(fullname == root or fullname.startswith(root + ".") for root in ROOTS):
            return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)
        return None


_FINDER = KerasFinder()


def _served(name: str) -> bool:
    return name == "tensorflow" or any(name == root or name.startswith(root + ".") for root in ROOTS)


def install_keras_alias() -> None:
    """Makes ``import keras`` (and ``tensorflow.keras``) import kerasette in this process.

    Modules of a real Keras or TensorFlow imported earlier are set aside, so the script sees
    kerasette only; `uninstall_keras_alias` undoes it.
    """
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for name in [n for n in sys.modules if _served(n) and not isinstance(sys.modules[n], AliasModule)]:
        _SET_ASIDE[name] = sys.modules.pop(name)


_SET_ASIDE: dict[str, types.ModuleType] = {}


def uninstall_keras_alias() -> None:
    """Removes the hook and the alias modules (and puts back any module set aside)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n, m in sys.modules.items() if isinstance(m, AliasModule)]:
        del sys.modules[name]
    sys.modules.update(_SET_ASIDE)
    _SET_ASIDE.clear()
