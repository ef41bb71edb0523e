"""The convolution engine's settings: which algorithms may run (``KERASETTE_CONV_ALGORITHMS``,
`conv_algorithms`) and its tuning (`conv_settings`), kept in `kerasette.backend.state.conv`
and read by `kerasette.backend.engine.algorithms.choose` and the algorithms."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping

from kerasette.backend import state
from kerasette.backend.engine.algorithms import ENV_VAR, algorithm_names


def _names(value, setting: str, argument: str) -> frozenset[str]:
    """``value`` (a name or names) as a set of known algorithm names, or a ValueError."""
    names = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"{setting}: `{argument}` must be algorithm names (strings); received {value!r}")
    unknown = [n for n in names if n not in algorithm_names()]
    if unknown:
        raise ValueError(f"{setting}: unknown convolution algorithm name(s) {unknown} in `{argument}`; "
                         f"known algorithms: {', '.join(algorithm_names())}")
    return frozenset(names)


def algorithms_from_environment(environ: Mapping[str, str] | None = None):
    """``(allow, deny)`` from ``KERASETTE_CONV_ALGORITHMS`` (comma-separated names; a leading
    ``-`` denies a name): allow is None when no name is given without ``-``.

    Example:
        >>> allow, deny = algorithms_from_environment({"KERASETTE_CONV_ALGORITHMS": "-winograd, -rows"})
        >>> allow, sorted(deny)
        (None, ['rows', 'winograd'])
    """
    text = (os.environ if environ is None else environ).get(ENV_VAR, "")
    items = [item.strip() for item in text.split(",") if item.strip()]
    allow = [item for item in items if not item.startswith("-")]
    deny = [item[1:].strip() for item in items if item.startswith("-")]
    return (_names(allow, ENV_VAR, "allow") if allow else None), _names(deny, ENV_VAR, "deny")


@contextlib.contextmanager
def conv_algorithms(allow: Iterable[str] | str | None = None, deny: Iterable[str] | str | None = None):
    """Restricts the convolution algorithms for a ``with`` block, then restores the previous choice.

    Restrictions add up: inside, an algorithm runs only if it is in every ``allow`` list of the
    enclosing blocks (and of ``KERASETTE_CONV_ALGORITHMS``) and in no ``deny`` list.

    Args:
        allow: the only algorithm names that may run (None: no restriction).
        deny: algorithm names that may not run.

    Example:
        >>> with conv_algorithms(deny=["winograd"]):
        ...     state.conv.allows("winograd")
        False
    """
    settings = state.conv
    saved = (settings.allow, settings.deny)
    allow = None if allow is None else _names(allow, "conv_algorithms", "allow")
    deny = frozenset() if deny is None else _names(deny, "conv_algorithms", "deny")
    if allow is not None:
        settings.allow = allow if settings.allow is None else settings.allow & allow
    settings.deny = settings.deny | deny
    try:
        yield
    finally:
        settings.allow, settings.deny = saved


_SETTINGS = {"tile_bytes": 1, "winograd_block_bytes": 1, "full_conv_min_cin": 0, "parallel_min_elements": 0}


@contextlib.contextmanager
def conv_settings(**values: int):
    """Changes the convolution engine's tuning for a ``with`` block, then restores it.

    Args:
        tile_bytes: target size of one packed patch tile (GEMM and row GEMM; default 2 MiB).
        winograd_block_bytes: target size of one block of Winograd-transformed tiles (512 KiB).
        full_conv_min_cin: stride-1 input gradients with at least this many input channels are
            a 'full' convolution (Winograd, row GEMM or GEMM) instead of col2im (16).
        parallel_min_elements: passes over fewer input elements run in the calling thread
            instead of the pool (2**15; 0 always splits the batch).

    Example:
        >>> with conv_settings(tile_bytes=1):
        ...     state.conv.tile_bytes
        1
    """
    for name, value in values.items():
        if name not in _SETTINGS:
            raise ValueError(f"conv_settings: unknown setting `{name}`; known settings: {', '.join(_SETTINGS)}")
        low = _SETTINGS[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"conv_settings: argument `{name}` must be an integer >= {low}; "
                             f"received {name}={value!r}")
    settings = state.conv
    saved = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


state.conv.allow, state.conv.deny = algorithms_from_environment()
