"""Mutated checkpoints (flipped bytes, truncations, edited attributes, shapes and dtypes) either
load correctly or raise kerasette's CheckpointError: never another exception, a crash, a hang
or an allocation the file merely claims (the worker runs with a 6 GB address-space limit).

Two kinds of base file:

- a checkpoint kerasette wrote: it carries a checksum of its content, so a mutated copy must
  load *identically* (predictions, config, optimizer state) or be refused;
- real Keras files (Keras 3 and tf.keras 2): no checksum exists, so a flipped byte inside a
  weight's raw data or inside the JSON text can change values undetectably; anywhere else the
  copy must load identically or be refused.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from kerasette.backend import random as krandom
from tests.saving import fuzz_mutations as mutations
from tests.saving.conftest import DATA, compiled, small_convnet, toy_data

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKER_TIMEOUT = 240


def _kerasette_checkpoint(folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    krandom.set_seed(11)
    model = compiled(small_convnet(dropout_seed=4))
    x, y = toy_data(n=16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = folder / "kerasette.h5"
    model.save(path)
    np.savez(folder / "kerasette_x.npz", x=x[:4])
    return path, folder / "kerasette_x.npz"


def _run_worker(reference, x_path, cases: list[tuple[str, pathlib.Path]], folder: pathlib.Path) -> dict:
    job = folder / f"job_{reference.stem}.json"
    job.write_text(json.dumps({"reference": str(reference), "x": str(x_path),
                               "cases": [{"id": cid, "path": str(p)} for cid, p in cases]}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.saving.fuzz_worker", str(job)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        started = [json.loads(line) for line in (exc.stdout or "").splitlines() if line.startswith("{")]
        pytest.fail(f"loading hung; last file started: {started[-1] if started else None}")
    results, last_started = {}, None
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if record.get("started"):
            last_started = record["id"]
        else:
            results[record["id"]] = record
    assert proc.returncode == 0, (f"the worker died (exit {proc.returncode}) while loading {last_started}:\n"
                                  f"{proc.stderr[-2000:]}")
    return results


def _summary(results: dict) -> dict:
    counts: dict = {}
    for record in results.values():
        counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
    return counts


def test_mutated_kerasette_checkpoints_load_identically_or_are_refused(tmp_path):
    base, x_path = _kerasette_checkpoint(tmp_path)
    cases = mutations.byte_mutations(base, tmp_path / "k", seed=1, flips=110, truncations=30)
    cases += mutations.structural_mutations(base, tmp_path / "s")
    assert len(cases) >= 200
    results = _run_worker(base, x_path, cases, tmp_path)
    assert len(results) == len(cases)
    bad = {cid: r for cid, r in results.items() if r["outcome"] not in ("error", "identical")}
    assert not bad, f"{len(bad)} mutated files neither loaded identically nor raised CheckpointError: " + \
        json.dumps(dict(list(bad.items())[:8]), indent=1)
    structural = {cid: r for cid, r in results.items() if cid.startswith("edit")}
    # load_model matches a file's layers to the model built from its own config by name, so the
    # same layers listed in another order load identically (only the checksum tells the edit)
    reordered = results.pop("edit_layer_names_reversed_nodigest")
    structural.pop("edit_layer_names_reversed_nodigest")
    assert reordered["outcome"] == "identical", reordered
    assert all(r["outcome"] == "error" for r in structural.values()), \
        [cid for cid, r in structural.items() if r["outcome"] != "error"]
    summary = _summary(results)
    assert summary["error"] > 100, summary


@pytest.mark.parametrize("stem", ["keras3/mlp", "tf_keras2/vgg_like_keras2"])
def test_mutated_keras_checkpoints_load_or_are_refused(tmp_path, stem):
    base = tmp_path / "base.h5"
    shutil.copy(DATA / f"{stem}.h5", base)
    x_path = DATA / f"{stem}.npz"
    # one byte per copy, so that each change is attributed to one place in the file
    cases = mutations.byte_mutations(base, tmp_path / "k", seed=2, flips=60, truncations=12, max_flipped=1)
    results = _run_worker(base, x_path, cases, tmp_path)
    assert len(results) == len(cases)
    regions = mutations.undetectable_regions(base)
    offsets = {cid: mutations.flipped_offsets(base, path) for cid, path in cases}
    bad = {}
    for cid, record in results.items():
        if record["outcome"] in ("error", "identical"):
            continue
        silent = record["outcome"] == "different" and offsets[cid] and all(
            any(start <= off < end for start, end in regions) for off in offsets[cid])
        if not silent:
            bad[cid] = {**record, "offsets": offsets[cid]}
    assert not bad, json.dumps(dict(list(bad.items())[:8]), indent=1)


def test_mutations_reach_every_part_of_the_file(tmp_path):
    """The byte mutations are spread over the header, metadata and data of the file."""
    base, _ = _kerasette_checkpoint(tmp_path)
    cases = mutations.byte_mutations(base, tmp_path / "k", seed=1, flips=110, truncations=30)
    size = base.stat().st_size
    offsets = [o for _, p in cases for o in mutations.flipped_offsets(base, p)]
    assert min(offsets) < 512 and max(offsets) > size * 0.8
    with h5py.File(base, "r") as f:
        assert f.attrs["kerasette_digest"].startswith(b"sha256:")
