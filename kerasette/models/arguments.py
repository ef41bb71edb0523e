"""The training methods' argument checks and names: ``validation_freq``, keyword arguments a
method does not take, per-output specs (``loss={'out': ...}``) and unique output names."""

from __future__ import annotations


def check_validation_freq(freq):
    if isinstance(freq, (list, tuple, set)) and all(isinstance(e, int) and e >= 1 for e in freq):
        return set(freq)
    if isinstance(freq, int) and not isinstance(freq, bool) and freq >= 1:
        return freq
    raise ValueError(f"fit: validation_freq must be a positive int or a collection of epochs (from 1); received "
                     f"validation_freq={freq!r}")


def validates(freq, epoch: int) -> bool:
    """Whether epoch ``epoch`` (from 0) is validated: every ``freq``-th, or those listed (from 1)."""
    return (epoch + 1) in freq if isinstance(freq, set) else (epoch + 1) % freq == 0


def no_more_arguments(method: str, kwargs: dict) -> None:
    """Raises the TypeError for keyword arguments ``method`` does not take."""
    if kwargs:
        raise TypeError(f"{method}: unexpected keyword argument(s) {sorted(kwargs)}")


def unique_names(names: list[str]) -> list[str]:
    """``names`` with repeats made unique as tf.keras does for output names: the first keeps its
    name, later ones get ``_1``, ``_2``, ... (skipping names already taken).

    Example:
        >>> unique_names(['dense', 'dense', 'out', 'dense'])
        ['dense', 'dense_1', 'out', 'dense_2']
    """
    taken: set[str] = set()
    counts: dict[str, int] = {}
    out = []
    for name in names:
        proposal = name
        while proposal in taken:
            counts[name] = counts.get(name, 0) + 1
            proposal = f"{name}_{counts[name]}"
        taken.add(proposal)
        out.append(proposal)
    return out


def spec_per_output(spec, names: list[str], what: str) -> list:
    """``spec`` (a dict by output name, a list, or one value for all) as one entry per output of
    ``names``; ``what`` names the compile argument in errors."""
    if isinstance(spec, dict):
        missing = [n for n in names if n not in spec]
        if missing:
            raise ValueError(f"compile: `{what}` has no entry for output(s) {missing}; outputs are {names}")
        return [spec[n] for n in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"compile: `{what}` lists {len(spec)} values for {len(names)} outputs {names}")
        return list(spec)
    return [spec] * len(names)
