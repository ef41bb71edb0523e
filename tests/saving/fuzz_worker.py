"""Loads mutated checkpoints one by one and reports what happened, one JSON line per file.

Run by ``test_fuzz.py`` in a separate process, so that a crash of the interpreter or a hang is
seen (and reported with the file that caused it) instead of taking the test run down::

    python -m tests.saving.fuzz_worker JOB.json

The job names a reference checkpoint (loaded unmutated first), inputs ``x`` for predictions and
the mutated files. Each file's outcome is ``error`` (kerasette's CheckpointError), ``identical``
(predictions, optimizer state and config equal the reference's), ``different`` (it loaded but
something differs) or ``unexpected`` (any other exception).
"""

from __future__ import annotations

import json
import resource
import sys
import warnings

import numpy as np

MEMORY_LIMIT = 6 * 1024**3  # address space: a file must not make kerasette allocate what it claims


def _fingerprint(model, x) -> dict:
    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    state = optimizer.get_state(model.trainable_weights) if optimizer is not None else (None, [])
    return {"pred": model.predict(x), "config": model.get_config(), "iterations": state[0],
            "slots": [a for _, a in state[1]],
            "optimizer": optimizer.get_config() if optimizer is not None else None}


def _same(a: dict, b: dict) -> str | None:
    """None if equal, else what differs."""
    if a["pred"].shape != b["pred"].shape or not np.array_equal(a["pred"], b["pred"], equal_nan=True):
        return "predictions"
    for key in ("config", "iterations", "optimizer"):
        if a[key] != b[key]:
            return key
    if len(a["slots"]) != len(b["slots"]) or any(not np.array_equal(s, t) for s, t in zip(a["slots"], b["slots"])):
        return "optimizer slots"
    return None


def _outcome(path: str, x, reference: dict, load_model, checkpoint_error) -> dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_model(path)
            found = _fingerprint(model, x)
    except checkpoint_error as exc:
        return {"outcome": "error", "message": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001 - reporting is the point
        return {"outcome": "unexpected", "message": f"{type(exc).__name__}: {str(exc)[:300]}"}
    differs = _same(reference, found)
    return {"outcome": "identical"} if differs is None else {"outcome": "different", "message": differs}


def main(job_path: str) -> int:
    from kerasette.saving import CheckpointError, load_model

    with open(job_path) as f:
        job = json.load(f)
    x = np.load(job["x"])["x"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = _fingerprint(load_model(job["reference"]), x)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    for case in job["cases"]:
        print(json.dumps({"id": case["id"], "started": True}), flush=True)
        result = _outcome(case["path"], x, reference, load_model, CheckpointError)
        print(json.dumps({"id": case["id"], **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
