"""Which way the threads of a memory-bound pass take their pieces of an array: the order that
finds first what is most likely still in their cores' L2 caches.

An array the last call did not read was just written by the pass that made it, each thread's
part front to back, so the ends of the parts are what the cores still hold: read backward. The
array the last call read (the same object: a loop calling a layer on one batch) is read the
other way round from that call, starting where it ended. The passes that ask (global average
pooling, batch normalization's inference map) give the same bits in either order.
"""

from __future__ import annotations

import weakref

import numpy as np


class ReadOrder:
    """One pass's choice of direction, remembering the array it read last (weakly).

    ``order`` is "alternate" (the rule above) or, for measurements, "forward" or "backward" at
    every call.
    """

    __slots__ = ("order", "_last", "_backward")

    def __init__(self, order: str = "alternate") -> None:
        self.order = order
        self._last: weakref.ref | None = None  # the array the last call read
        self._backward = True  # whether that call read it last piece first

    def backward(self, x: np.ndarray) -> bool:
        """Whether this call takes the pieces of ``x`` last one first."""
        if self.order != "alternate":
            return self.order == "backward"
        last = self._last
        backward = not self._backward if last is not None and last() is x else True
        self._last, self._backward = weakref.ref(x), backward
        return backward
