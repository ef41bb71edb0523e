"""Image augmentation and decoding speed: kerasette against Keras 2's implementation, same run.

Keras 2's ``ImageDataGenerator`` (keras-preprocessing, scipy-based) lives in a side environment,
never a kerasette dependency::

    python3 -m venv /work/k2img && /work/k2img/bin/pip install keras-preprocessing scipy numpy pillow
    python tests/benchmarks/augment_bench.py --keras2-python /work/k2img/bin/python --repeats 5

Cases (each figure is the median images per second over ``--repeats`` runs, the two
implementations alternating so that drift in the machine's speed hits both alike):

- ``augment32``: ``ImageDataGenerator(rotation_range=20, width_shift_range=0.1,
  height_shift_range=0.1, shear_range=0.1, zoom_range=0.1, horizontal_flip=True).flow(x,
  batch_size=128)`` over 2048 random 32x32x3 images (one epoch of batches);
- ``augment224``: the same generator over 128 images of 224x224x3, batches of 32;
- ``decode_jpeg`` / ``decode_png``: one epoch of ``ImageDataGenerator().flow_from_directory(...,
  target_size=(160, 160), batch_size=32)`` over a folder of 256 files of 200x200 (written once
  by this script), no augmentation: file decoding and resizing only.

- ``train_cifar32`` (kerasette only): samples per second of one epoch of ``fit`` on the
  CIFAR-sized convnet of ``bench.py`` (``cases.py``'s ``cifar32``, 1024 images, batches of 32):
  from the augmenting iterator above with ``workers=2``, against the same ``fit`` on the
  in-memory arrays. Each run (a fresh process) times two epochs of each in the order ABBA
  (arrays, iterator, iterator, arrays; BAAB every other run), so that a drift in the machine's
  speed during the run hits both alike, and takes the ratio of their total rates (augmented /
  in-memory); the figure is the median of the runs' ratios.

Targets: augmentation at least 5x Keras 2's rate; decoding not slower (ratio >= 1); training from
the augmenting iterator at least 0.9 of the in-memory rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
AUGMENT = {"rotation_range": 20, "width_shift_range": 0.1, "height_shift_range": 0.1, "shear_range": 0.1,
           "zoom_range": 0.1, "horizontal_flip": True}
CASES = {"augment32": (2048, 32, 128), "augment224": (128, 224, 32)}
TARGETS = {"augment32": 5.0, "augment224": 5.0, "decode_jpeg": 1.0, "decode_png": 1.0, "train_cifar32": 0.9}


def _generator_class(implementation: str):
    if implementation == "keras2":
        from keras_preprocessing.image import ImageDataGenerator  # the side environment's Keras 2
    else:
        from kerasette.preprocessing.image import ImageDataGenerator
    return ImageDataGenerator


def worker(implementation: str, case: str, folder: str | None) -> dict:
    """Runs one case in this process (kerasette, or Keras 2 in the side environment)."""
    import numpy as np

    if case.startswith("train_cifar32"):
        return train_rates(augmented_first=case.endswith(":augmented_first"))
    generator_class = _generator_class(implementation)
    if case.startswith("decode"):
        it = generator_class().flow_from_directory(folder, target_size=(160, 160), batch_size=32,
                                                   class_mode="sparse", shuffle=False)
        it[0]  # warm-up: imports, first file
        start = time.perf_counter()
        for i in range(len(it)):
            it[i]
        return {"images_per_s": it.n / (time.perf_counter() - start)}
    n, size, batch = CASES[case]
    x = np.random.default_rng(0).uniform(0, 255, (n, size, size, 3)).astype("float32")
    it = generator_class(**AUGMENT).flow(x, batch_size=batch, seed=1)
    it[0]  # warm-up: numba's compilation (cached on disk after the first run) and the first batch
    start = time.perf_counter()
    for i in range(len(it)):
        it[i]
    return {"images_per_s": n / (time.perf_counter() - start)}


def train_rates(augmented_first: bool = False) -> dict:
    """Samples per second of fit on arrays and on the augmenting iterator (workers=2), two epochs
    each in the order ABBA (the iterator's epochs outside with ``augmented_first``)."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from cases import CASES, NUM_CLASSES
    from kerasette_reference import build_model

    from kerasette.preprocessing.image import ImageDataGenerator

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1024, 32, 32, 3)).astype("float32")
    y = np.eye(NUM_CLASSES, dtype="float32")[rng.integers(0, NUM_CLASSES, 1024)]
    model = build_model(CASES["cifar32"])
    model.compile("sgd", "categorical_crossentropy")
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # warm-up: compilation, buffers
    it = ImageDataGenerator(**AUGMENT).flow(x, y, batch_size=32, seed=1)
    model.fit(it, steps_per_epoch=2, epochs=1, verbose=0, workers=2)
    seconds = {"arrays": 0.0, "augmented": 0.0}
    fits = {"arrays": lambda: model.fit(x, y, batch_size=32, epochs=1, verbose=0),
            "augmented": lambda: model.fit(it, epochs=1, verbose=0, workers=2)}
    outer, inner = ("augmented", "arrays") if augmented_first else ("arrays", "augmented")
    for name in (outer, inner, inner, outer):
        start = time.perf_counter()
        fits[name]()
        seconds[name] += time.perf_counter() - start
    return {"images_per_s": 2 * len(x) / seconds["augmented"], "arrays_per_s": 2 * len(x) / seconds["arrays"]}


def write_folder(root: Path, fmt: str, count: int = 256, size: int = 200) -> Path:
    """``count`` photo-like images (smooth gradients and noise) in two class folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    for i in range(count):
        folder = root / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        base = np.stack([x * (i % 7 + 1), y * (i % 5 + 1), (x + y) * (i % 3 + 1)], -1) % 256
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype("uint8")
        Image.fromarray(pixels).save(folder / f"{i:04d}.{fmt}", quality=90) if fmt == "jpg" else \
            Image.fromarray(pixels).save(folder / f"{i:04d}.{fmt}")
    return root


def run(python: str, implementation: str, case: str, folder: Path | None) -> float:
    cmd = [python, str(Path(__file__).resolve()), "--worker", implementation, "--case", case]
    if folder is not None:
        cmd += ["--folder", str(folder)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["images_per_s"] if "arrays_per_s" not in result else (result["images_per_s"],
                                                                       result["arrays_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keras2-python", default="/work/k2img/bin/python",
                        help="a Python with keras-preprocessing, scipy and pillow")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default=",".join(list(CASES) + ["decode_jpeg", "decode_png", "train_cifar32"]))
    parser.add_argument("--worker", choices=("kerasette", "keras2"), help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.case, args.folder)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"decode_jpeg": write_folder(Path(tmp) / "jpg", "jpg"),
                   "decode_png": write_folder(Path(tmp) / "png", "png")}
        print(f"{'case':<12} {'kerasette img/s':>16} {'Keras 2 img/s':>14} {'ratio':>7} {'target':>7}")
        for case in args.cases.split(","):
            if case == "train_cifar32":
                runs = [run(sys.executable, "kerasette", case + (":augmented_first" if i % 2 else ""), None)
                        for i in range(args.repeats)]
                a, b = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
                ratios = [r[0] / r[1] for r in runs]
                ratio = statistics.median(ratios)
                verdict = "ok" if ratio >= TARGETS[case] else "MISSED"
                print(f"{case:<12} {a:>16.0f} {b:>14.0f} {ratio:>6.2f}x {TARGETS[case]:>6.1f}x {verdict} "
                      "(augmenting iterator, workers=2 / in-memory arrays, both kerasette: median of the runs' "
                      f"ratios {' '.join(f'{r:.2f}' for r in ratios)})", flush=True)
                continue
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(run(sys.executable, "kerasette", case, folders.get(case)))
                theirs.append(run(args.keras2_python, "keras2", case, folders.get(case)))
            a, b = statistics.median(ours), statistics.median(theirs)
            verdict = "ok" if a / b >= TARGETS[case] else "MISSED"
            print(f"{case:<12} {a:>16.0f} {b:>14.0f} {a / b:>6.1f}x {TARGETS[case]:>6.1f}x {verdict}", flush=True)


if __name__ == "__main__":
    main()
