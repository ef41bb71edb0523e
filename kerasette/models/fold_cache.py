"""The folded weights a plan makes before its first step (`kerasette.models.planner`, rewrite 2),
kept from one prediction to the next while the weights they are made from do not change.

A folded layer's weights are ``kernel * scale`` and ``bias * scale + shift``, computed from the
layer's and the normalization's current weights. Made on every call, ResNet-20's 19 folds took
0.24 ms of a 11.4 ms prediction, nearly all of it Python (two kernel calls and their arguments
per fold); kept, a prediction looks at the weights' bytes instead (one kernel call for all of
them, `kerasette.backend.engine.folding.SourceSnapshot`) and folds again only those that
changed. A change made any way is seen (an optimizer, ``assign``, ``set_weights``, a load, a
write into ``.data``), so the results are those of folding on every call, bit for bit.

Kept only while no gradient is recorded (``predict``, ``no_grad``): otherwise the folded weights
are ops that a backward pass reaches through, made anew on every call as before.
"""

from __future__ import annotations

import threading

from kerasette.backend import state


def make_fold(step):
    """The context in which ``step``'s layer computes with the normalization folded into it,
    from the weights as they are now (the layers keep their own weights)."""
    normalization, folder = step.fold
    return folder(*normalization.inference_affine())


class FoldsAhead:
    """The fold contexts of the fold steps ``steps`` (a program's folds made ahead), by
    ``id(step)``, kept between calls while no gradient is recorded.

    What a fold reads is its two layers' weights (``normalization.weights + layer.weights``),
    taken when the contexts are first made: each call checks that each weight still holds the
    array it held then (a new array: everything is taken again) and compares the arrays' bytes
    with copies (`SourceSnapshot`); a fold whose weights changed is made again. One thread at a
    time (a look updates the copies: a second thread looking between that and the fold made
    again would take the old fold for the new weights).
    """

    __slots__ = ("steps", "_ids", "_variables", "_arrays", "_snapshot", "_contexts", "_lock")

    def __init__(self, steps: list):
        self.steps = list(steps)
        self._ids = [id(step) for step in self.steps]
        self._variables: list = []
        self._arrays: list = []
        self._snapshot = None
        self._contexts: list = []
        self._lock = threading.Lock()

    def __reduce__(self):
        """Copies and pickles start empty: what is kept is a cache, read at raw addresses."""
        return FoldsAhead, (self.steps,)

    def contexts(self) -> dict:
        """``{id(step): context}`` for every step, each folded from the current weights (a
        fresh dict: `kerasette.models.planner.Plan.run` takes the contexts out as it uses them)."""
        if not self.steps:
            return {}
        if state.grad_mode.is_enabled():
            return {key: make_fold(step) for key, step in zip(self._ids, self.steps)}
        with self._lock:
            return self._kept()

    def _kept(self) -> dict:
        """`contexts` while no gradient is recorded, under the lock."""
        if self._snapshot is None or any(v.data is not a for v, a in zip(self._variables, self._arrays)):
            self._take()
        else:
            contexts = self._contexts
            for index in self._snapshot.changed().nonzero()[0]:
                contexts[index] = None
            for index, context in enumerate(contexts):
                if context is None:
                    contexts[index] = make_fold(self.steps[index])
        return dict(zip(self._ids, self._contexts))

    def _take(self) -> None:
        """Takes the weights each fold reads, copies their bytes, and makes every fold."""
        from kerasette.backend.engine.folding import SourceSnapshot  # deferred: numba, not at import

        self._snapshot, self._contexts = None, [None] * len(self.steps)
        groups = [[*step.fold[0].weights, *step.layer.weights] for step in self.steps]
        self._variables = [v for group in groups for v in group]
        self._arrays = [v.data for v in self._variables]
        if all(a.flags.c_contiguous for a in self._arrays):  # (else taken again, and made, on every call)
            self._snapshot = SourceSnapshot([[v.data for v in group] for group in groups])
        self._contexts = [make_fold(step) for step in self.steps]
