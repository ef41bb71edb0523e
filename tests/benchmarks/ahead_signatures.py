"""Writes `kerasette/backend/kernels/ahead_signatures.json`: the kernels (and argument types) that
the first training batch of the benchmark models compiles, in the order they are first needed,
for `kerasette.backend.kernels._ahead` to compile in a helper process on a first run.

The first group is ``examples/vgg_like.py``'s first batch (the README's first command, and the
empty-cache start that cold_start.py times): the helper compiles each group from its end, so the
group's order should be the order this model needs its kernels in. The seed convnet's group
holds the same kernels, but it calls the Winograd input gradient before the kernel gradient and
vgg_like the reverse: with that order the two processes met at a large kernel (the input
gradient) that only one of them could compile while the other had nothing left of the group.

A script, not a test (rerun it when kernels or their signatures change)::

    python tests/benchmarks/ahead_signatures.py [--cases vgg100_cl,resnet20,...]

It compiles into a new, empty cache folder (without a helper): a kernel loaded from the cache
does not compile the kernels it calls, which would then be missing from the list.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import os
import runpy
import shutil
import sys
import tempfile
from pathlib import Path

os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="kerasette-ahead-list-")  # before numba's import
atexit.register(shutil.rmtree, os.environ["NUMBA_CACHE_DIR"], True)
os.environ["KERASETTE_COMPILE_AHEAD"] = "0"

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kerasette_reference import CASES, NUM_CLASSES, build_model  # noqa: E402

import kerasette.backend as K  # noqa: E402
import kerasette.models.model as model_module  # noqa: E402
from kerasette.backend.kernels import _ahead  # noqa: E402
from kerasette.callbacks import LambdaCallback  # noqa: E402

#: examples/vgg_like.py and the seed convnet first (the helper compiles the list in order), then
#: what other models add
DEFAULT_CASES = "vgg_like,vgg100_cl,predict100,vgg100_cf,cifar32,mnist28,resnet20,resnet20_predict"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vgg_like.py"


class _FirstBatchDoneError(Exception):
    """Raised at the end of the example's first training batch."""


def vgg_like_first_batch() -> None:
    """Runs examples/vgg_like.py (its ``main``, as a user does) up to the end of its first
    training batch, as cold_start.py does, its printing muted; the image data format is restored
    after."""

    def stop(batch, logs):
        raise _FirstBatchDoneError

    fit, data_format, argv = model_module.Model.fit, K.image_data_format(), sys.argv

    def first_batch_fit(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=list(callbacks or []) + [LambdaCallback(on_train_batch_end=stop)], **kwargs)

    model_module.Model.fit, sys.argv = first_batch_fit, [str(EXAMPLE), "--epochs", "1"]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(str(EXAMPLE), run_name="__main__")
    except _FirstBatchDoneError:
        pass
    finally:
        model_module.Model.fit, sys.argv = fit, argv
        K.set_image_data_format(data_format)


def first_batch(name: str, rng: np.random.Generator) -> None:
    """The first training batch (or prediction) of case ``name`` (a kerasette_reference.py case
    or ``vgg_like``)."""
    if name == "vgg_like":
        vgg_like_first_batch()
        return
    case = CASES[name]
    model = build_model(case)
    x = rng.random((case.batch,) + model.input_shape[1:], dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, case.batch)]
    if case.train:
        model.train_on_batch(x, y)
    else:
        model.predict(x, batch_size=case.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    groups = []
    for name in args.cases.split(","):
        with _ahead.recording() as kernels:
            first_batch(name, rng)
        groups.append(kernels)
        print(f"{name}: {len(kernels)} kernels", flush=True)
    _ahead.write_signatures(groups)
    print(f"wrote {_ahead.SIGNATURES}")


if __name__ == "__main__":
    main()
