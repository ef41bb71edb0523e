"""The IMDB 1-D convnet (Keras's ``imdb_cnn`` example), kerasette against PyTorch: training
samples per second and peak memory, as one table.

A script, not a test::

    python tests/benchmarks/conv1d_bench.py [--repeats 5] [--steps 30] [--torch /work/benchenv/bin/python]
        [--input auto|embedding|float] [--threads N]

The model: ``Embedding(5000, 50)`` on (batch, 400) word indices (or, with ``--input float``, a
(batch, 400, 50) float input in its place), ``Conv1D(250, 3, activation='relu')``,
``GlobalMaxPooling1D()``, ``Dense(250, activation='relu')``, ``Dense(1, activation='sigmoid')``;
binary cross-entropy, Adam, batch 32. ``--input auto`` uses the Embedding when
``kerasette.layers.Embedding`` exists. PyTorch builds the same model (``nn.Embedding``,
``nn.Conv1d`` on (N, 50, 400), max over time, ``nn.Linear``; ``nn.BCELoss`` on the sigmoid;
``Adam(eps=1e-7)``, Keras's epsilon) with its default threads.

Each side runs in its own process (``--side``), alternating kerasette, PyTorch, kerasette, ...
``--repeats`` times, so that drift in the machine's speed hits both alike; a run warms up, then
times ``--steps`` training steps and reports the median and the fastest step (as samples/s) and
its peak RSS. The table gives the medians over the runs (and the fastest step of all runs, the
figure least touched by other work on a shared machine) and the ratio kerasette / PyTorch.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BATCH, MAXLEN, VOCAB, EMBED, FILTERS, KERNEL, HIDDEN = 32, 400, 5000, 50, 250, 3, 250
TARGET = 1.2  # issue "Sequence models": at least 1.2x PyTorch


def _data(use_embedding: bool):
    import numpy as np

    rng = np.random.default_rng(0)
    x = (rng.integers(1, VOCAB, (BATCH, MAXLEN)) if use_embedding
         else rng.standard_normal((BATCH, MAXLEN, EMBED)).astype("float32"))
    y = rng.integers(0, 2, (BATCH, 1)).astype("float32")
    return x, y


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _time(step, steps: int, warmup: int) -> tuple[float, float]:
    """(median, fastest) step time in seconds."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def run_kerasette(input_mode: str, steps: int, warmup: int, threads: int | None) -> dict:
    sys.path.insert(0, str(ROOT))
    from kerasette import layers  # deferred: the PyTorch side never imports kerasette
    from kerasette.backend import parallel
    from kerasette.models import Sequential

    if threads:
        parallel.set_num_threads(threads)

    use_embedding = input_mode == "embedding" or (input_mode == "auto" and hasattr(layers, "Embedding"))
    first = ([layers.Input(shape=(MAXLEN,), dtype="int32"), layers.Embedding(VOCAB, EMBED)] if use_embedding
             else [layers.Input(shape=(MAXLEN, EMBED))])
    model = Sequential(first + [
        layers.Conv1D(FILTERS, KERNEL, padding="valid", activation="relu", strides=1),
        layers.GlobalMaxPooling1D(),
        layers.Dense(HIDDEN, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    x, y = _data(use_embedding)
    median, fastest = _time(lambda: model.train_on_batch(x, y), steps, warmup)
    return {"side": "kerasette", "embedding": use_embedding, "samples_per_s": BATCH / median,
            "samples_per_s_best": BATCH / fastest, "step_ms": median * 1e3, "peak_rss_mb": _peak_rss_mb(), "threads": parallel.num_threads()}


def run_torch(use_embedding: bool, steps: int, warmup: int, threads: int | None) -> dict:
    import torch  # deferred: only in the PyTorch environment
    from torch import nn

    if threads:
        torch.set_num_threads(threads)

    class ImdbCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, EMBED) if use_embedding else None
            self.conv = nn.Conv1d(EMBED, FILTERS, KERNEL)
            self.hidden = nn.Linear(FILTERS, HIDDEN)
            self.out = nn.Linear(HIDDEN, 1)

        def forward(self, x):
            if self.embedding is not None:
                x = self.embedding(x)
            x = torch.relu(self.conv(x.transpose(1, 2)))
            x = x.amax(dim=2)
            return torch.sigmoid(self.out(torch.relu(self.hidden(x))))

    torch.manual_seed(0)
    model = ImdbCnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.BCELoss()
    x, y = _data(use_embedding)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    median, fastest = _time(step, steps, warmup)
    return {"side": "torch", "embedding": use_embedding, "samples_per_s": BATCH / median,
            "samples_per_s_best": BATCH / fastest, "step_ms": median * 1e3,
            "peak_rss_mb": _peak_rss_mb(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def _run(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["both", "kerasette", "torch"], default="both")
    parser.add_argument("--input", choices=["auto", "embedding", "float"], default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--torch", default="/work/benchenv/bin/python", help="the PyTorch environment's python")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both sides (default: each library's own, the available cores)")
    args = parser.parse_args()
    if args.side == "kerasette":
        print(json.dumps(run_kerasette(args.input, args.steps, args.warmup, args.threads)))
        return
    if args.side == "torch":
        print(json.dumps(run_torch(args.input == "embedding", args.steps, args.warmup, args.threads)))
        return
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup)] + (
        ["--threads", str(args.threads)] if args.threads else [])
    me = [sys.executable, __file__, *common]
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(_run(me + ["--side", "kerasette", "--input", args.input]))
        mode = "embedding" if ours[-1]["embedding"] else "float"
        theirs.append(_run([args.torch, __file__, *common, "--side", "torch", "--input", mode]))

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    first = "Embedding(5000, 50)" if ours[0]["embedding"] else "float input (32, 400, 50) in place of Embedding"
    print(f"IMDB 1-D convnet: {first}, Conv1D(250, 3, relu), GlobalMaxPooling1D, Dense(250, relu), "
          f"Dense(1, sigmoid); Adam, batch {BATCH}; medians of {args.repeats} runs x {args.steps} steps; "
          f"kerasette with {ours[0]['threads']} threads, PyTorch {theirs[0]['torch']} with {theirs[0]['threads']}")
    k, t = med(ours, "samples_per_s"), med(theirs, "samples_per_s")
    print(f"{'':<22}{'kerasette':>12}{'PyTorch':>12}{'ratio':>9}")
    print(f"{'train samples/s':<22}{k:12.1f}{t:12.1f}{k / t:9.2f}   (target >= {TARGET})")
    kb, tb = max(r["samples_per_s_best"] for r in ours), max(r["samples_per_s_best"] for r in theirs)
    print(f"{'  fastest step':<22}{kb:12.1f}{tb:12.1f}{kb / tb:9.2f}")
    print(f"{'step ms':<22}{med(ours, 'step_ms'):12.1f}{med(theirs, 'step_ms'):12.1f}")
    kr, tr = med(ours, "peak_rss_mb"), med(theirs, "peak_rss_mb")
    print(f"{'peak RSS MB':<22}{kr:12.1f}{tr:12.1f}{kr / tr:9.2f}")
    print(json.dumps({"kerasette": ours, "torch": theirs}))


if __name__ == "__main__":
    main()
