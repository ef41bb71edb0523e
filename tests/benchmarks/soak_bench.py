"""Memory soak: 100 epochs of the digits convnet with validation, ModelCheckpoint, CSVLogger and
ReduceLROnPlateau; prints the resident memory after each epoch and after epoch 100 vs epoch 2.

    python tests/benchmarks/soak_bench.py --epochs 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kerasette.callbacks import CSVLogger, LambdaCallback, ModelCheckpoint, ReduceLROnPlateau  # noqa: E402
from kerasette.datasets import digits  # noqa: E402
from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D  # noqa: E402
from kerasette.models import Sequential  # noqa: E402
from kerasette.optimizers import SGD  # noqa: E402
from kerasette.utils import to_categorical  # noqa: E402


def rss_mb() -> float:
    """The current resident set size (not the peak), from /proc."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    (x, y), _ = digits.load_data()
    x = np.repeat(np.repeat(x[..., None].astype("float32") / 16, 2, axis=1), 2, axis=2)  # 16x16x1
    y = to_categorical(y, 10)
    model = Sequential([Conv2D(16, (3, 3), activation="relu", input_shape=(16, 16, 1)), Conv2D(16, (3, 3), activation="relu"),
                        MaxPooling2D(), Dropout(0.25), Flatten(), Dense(64, activation="relu"), Dropout(0.5),
                        Dense(10, activation="softmax")])
    model.compile(SGD(learning_rate=0.05, momentum=0.9), "categorical_crossentropy", ["accuracy"])
    curve = []
    with tempfile.TemporaryDirectory() as folder:
        callbacks = [ModelCheckpoint(f"{folder}/best.h5", save_best_only=True),
                     CSVLogger(f"{folder}/log.csv"), ReduceLROnPlateau(patience=3, factor=0.5),
                     LambdaCallback(on_epoch_end=lambda epoch, logs: curve.append(rss_mb()))]
        model.fit(x, y, batch_size=32, epochs=args.epochs, validation_split=0.2, verbose=0, callbacks=callbacks)
    print("epoch  RSS MB")
    for epoch, mb in enumerate(curve, 1):
        if epoch <= 5 or epoch % 10 == 0:
            print(f"{epoch:5d}  {mb:7.1f}")
    print(f"after epoch {len(curve)}: {curve[-1]:.1f} MB; after epoch 2: {curve[1]:.1f} MB; "
          f"ratio {curve[-1] / curve[1]:.3f}")


if __name__ == "__main__":
    main()
