"""InputSpec: what a layer accepts, declared once and checked wherever the layer is called.

Example:
    >>> spec = InputSpec(min_ndim=2, axes={-1: 3}, axis_names={-1: "inputs with last axis"})
    >>> spec.problem((None, 4))
    'expected inputs with last axis 3'
    >>> spec.problem((None, 3)) is None
    True
"""

from __future__ import annotations


class InputSpec:
    """The rank and axis sizes a layer accepts (Keras's ``InputSpec``).

    Args:
        ndim: the exact rank, batch axis included.
        min_ndim: the smallest rank.
        max_ndim: the largest rank.
        axes: ``{axis: size}`` for axes whose size is fixed (typically set in ``build``).
        ndim_text: how to say the expected rank in an error ("a 4-D input (batch, rows, ...)").
        axis_names: ``{axis: words}`` for an error, e.g. ``{-1: "input channels (channels_last)"}``
            gives "expected 3 input channels (channels_last)".
    """

    def __init__(self, ndim: int | None = None, min_ndim: int | None = None, max_ndim: int | None = None,
                 axes: dict[int, int] | None = None, ndim_text: str | None = None,
                 axis_names: dict[int, str] | None = None, dtype=None, shape=None, allow_last_axis_squeeze=False,
                 name=None):
        self.ndim, self.min_ndim, self.max_ndim = ndim, min_ndim, max_ndim
        self.axes = dict(axes or {})
        self.ndim_text = ndim_text
        self.axis_names = dict(axis_names or {})
        if shape is not None:  # Keras's InputSpec(shape=...): rank and known sizes
            self.ndim = len(shape)
            self.axes.update({i: d for i, d in enumerate(shape) if d is not None and i > 0})

    def problem(self, shape) -> str | None:
        """What is wrong with ``shape`` (batch axis first), or None when it is accepted."""
        rank = len(shape)
        if self.ndim is not None and rank != self.ndim:
            return f"expected {self.ndim_text or f'a {self.ndim}-D input'}"
        if self.min_ndim is not None and rank < self.min_ndim:
            return f"expected {self.ndim_text or f'an input of at least {self.min_ndim} dimensions'}"
        if self.max_ndim is not None and rank > self.max_ndim:
            return f"expected {self.ndim_text or f'an input of at most {self.max_ndim} dimensions'}"
        for axis, size in self.axes.items():
            if not -rank <= axis < rank:
                return f"expected an input with an axis {axis}"
            got = shape[axis]
            if size is not None and got is not None and got != size:
                words = self.axis_names.get(axis)
                if words is None:
                    return f"expected axis {axis} of the input to have size {size}"
                if words.startswith("inputs with"):
                    return f"expected {words} {size}"
                return f"expected {size} {words}"
        return None

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in (("ndim", self.ndim), ("min_ndim", self.min_ndim),
                                           ("max_ndim", self.max_ndim), ("axes", self.axes)) if v]
        return f"InputSpec({', '.join(parts)})"
