"""Writes `kerasette/backend/kernels/ahead_signatures.json`: the kernels (and argument types) that
the first training batch of the benchmark models compiles, in the order they are first needed,
for `kerasette.backend.kernels._ahead` to compile in a helper process on a first run.

A script, not a test (rerun it when kernels or their signatures change)::

    python tests/benchmarks/ahead_signatures.py [--cases vgg100_cl,resnet20,...]

It compiles into a new, empty cache folder (without a helper): a kernel loaded from the cache
does not compile the kernels it calls, which would then be missing from the list.
"""

from __future__ import annotations

import argparse
import atexit
import os
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

from kerasette.backend.kernels import _ahead  # noqa: E402

#: the seed convnet first (the helper compiles the list in order), then what other models add
DEFAULT_CASES = "vgg100_cl,predict100,vgg100_cf,cifar32,mnist28,resnet20,resnet20_predict"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    groups = []
    for name in args.cases.split(","):
        with _ahead.recording() as kernels:
            case = CASES[name]
            model = build_model(case)
            x = rng.random((case.batch,) + model.input_shape[1:], dtype=np.float32)
            y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, case.batch)]
            if case.train:
                model.train_on_batch(x, y)
            else:
                model.predict(x, batch_size=case.batch)
        groups.append(kernels)
        print(f"{name}: {len(kernels)} kernels", flush=True)
    _ahead.write_signatures(groups)
    print(f"wrote {_ahead.SIGNATURES}")


if __name__ == "__main__":
    main()
