"""The output masks of a model's latest call, kept so that `kerasette.models.Model.compute_mask`
can answer for that call without running the model again."""

from __future__ import annotations

import weakref

#: a call's masks that do not matter (its ``call`` takes none)
ANY_MASKS = object()


class CallMasks:
    """The output masks of a model's latest call, with what it was called on (the input
    tensors, held weakly, and the masks given), so that `Model.compute_mask` can tell whether
    it is asked about that call."""

    def __init__(self, inputs: list, masks, outputs: list):
        self._inputs = [_weak(x) for x in inputs]
        self._given = masks
        self.masks = [getattr(o, "_keras_mask", None) for o in outputs]

    def __reduce__(self):  # a copied or pickled model has made no call yet (weak references do not copy)
        return (_no_call, ())

    def of(self, inputs: list, mask) -> list | None:
        """The output masks when ``inputs`` are the tensors of that call (and ``mask`` the mask
        it was given, unless ``ANY_MASKS``), else None."""
        if len(inputs) != len(self._inputs) or any(ref() is not x for ref, x in zip(self._inputs, inputs)):
            return None
        if mask is not ANY_MASKS and not _same_masks(self._given, mask):
            return None
        return self.masks


def _weak(value):
    """A weak reference to ``value``; for a value that takes none, one that matches nothing."""
    try:
        return weakref.ref(value)
    except TypeError:
        return _no_call


def _no_call() -> None:
    return None


def _same_masks(given, mask) -> bool:
    """Whether the masks a call was given (a list, or None) are ``mask`` (as `Model.call` takes it)."""
    masks = None if mask is None else list(mask) if isinstance(mask, (list, tuple)) else [mask]
    if given is None or masks is None:
        return all(m is None for m in (given or masks or ()))
    return len(given) == len(masks) and all(a is b for a, b in zip(given, masks))
