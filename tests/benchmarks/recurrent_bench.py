"""Recurrent models, kerasette against PyTorch on the CPU: training and inference samples/s and
peak memory.

A script, not a test::

    python tests/benchmarks/recurrent_bench.py [--torch-python /work/benchenv/bin/python]
        [--steps 30] [--repeats 3] [--runs 3] [--threads 1,2] [--json]
        [--models lstm,gru,bilstm,stacked,lstm-inference]

The IMDB-shaped models (batch 32, 80 steps, vocabulary 20,000, embedding 128, then Dense(1,
sigmoid), Adam, binary cross-entropy):

- ``lstm``: LSTM(128); ``gru``: GRU(128) (reset_after, PyTorch's form);
- ``bilstm``: Bidirectional(LSTM(64)) (concatenated);
- ``stacked``: LSTM(128, return_sequences=True) then LSTM(128);
- ``lstm-inference``: the ``lstm`` model's predictions (``predict_on_batch``; kerasette's LSTM
  reads its input projections from the embedding rows folded with its kernel, a table kept
  across the calls and checked against the weights on each: its size is printed after the row
  and is part of the peak memory reported).

Each (model, side) runs in a process of its own (so that its peak resident memory is its own),
``--repeats`` times ``--steps`` steps after a warm-up step, keeping its best samples/s. That is
done ``--runs`` times per side, the sides alternating, and the table gives the median of each
side's runs (every run listed after it), their ratio and each side's largest peak memory, with
the machine's load averages before and after. "cpu ratio" is the same ratio by CPU time (samples
per CPU-second of the process, all its threads): on a shared, loaded machine it moves less
than wall time, which counts the time a process waited for a core. Random data, the same shapes and the same dense
Adam update on both sides (PyTorch's ``nn.Embedding`` gradient is dense, as Keras's); both use
every core (``torch.set_num_threads``, kerasette's default), or ``--threads`` each (a list such
as ``1,2`` gives one table row per count).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, run as a script or not
from provenance import revision  # noqa: E402

BATCH, STEPS, VOCAB, EMBED = 32, 80, 20000, 128
MODELS = ("lstm", "gru", "bilstm", "stacked", "lstm-inference")


def _data(n_batches: int):
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, (n_batches, BATCH, STEPS))
    y = rng.integers(0, 2, (n_batches, BATCH, 1)).astype("float32")
    return x, y


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_kerasette(model_name: str, steps: int, repeats: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import kerasette.backend as K
    from kerasette.layers import GRU, LSTM, Bidirectional, Dense, Embedding
    from kerasette.models import Sequential

    K.set_seed(0)
    kind = model_name.replace("-inference", "")
    body = {"lstm": [LSTM(128)], "gru": [GRU(128)], "bilstm": [Bidirectional(LSTM(64))],
            "stacked": [LSTM(128, return_sequences=True), LSTM(128)]}[kind]
    model = Sequential([Embedding(VOCAB, EMBED, input_length=STEPS), *body, Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = _data(steps + 1)
    inference = model_name.endswith("inference")
    best = best_cpu = 0.0
    for r in range(repeats + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(steps if r else 1):
            if inference:
                model.predict_on_batch(x[i])
            else:
                model.train_on_batch(x[i], y[i])
        elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if r:
            best = max(best, steps * BATCH / elapsed)
            best_cpu = max(best_cpu, steps * BATCH / elapsed_cpu)
    folded = [getattr(layer, "cell", None) for layer in model.layers]
    folded = [c.__dict__.get("_folded_projections") for c in folded if c is not None]
    folded_mb = sum(f.nbytes() for f in folded if f is not None) / 2**20
    return {"samples_per_s": best, "samples_per_cpu_s": best_cpu, "peak_mb": _peak_mb(), "folded_mb": folded_mb}


def run_torch(model_name: str, steps: int, repeats: int) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", 0)) or os.cpu_count() or 1)
    kind = model_name.replace("-inference", "")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            if kind == "lstm":
                self.rnn, width = nn.LSTM(EMBED, 128, batch_first=True), 128
            elif kind == "gru":
                self.rnn, width = nn.GRU(EMBED, 128, batch_first=True), 128
            elif kind == "bilstm":
                self.rnn, width = nn.LSTM(EMBED, 64, batch_first=True, bidirectional=True), 128
            else:
                self.rnn, width = nn.LSTM(EMBED, 128, num_layers=2, batch_first=True), 128
            self.out = nn.Linear(width, 1)

        def forward(self, x):
            seq, _ = self.rnn(self.embed(x))
            if kind == "bilstm":
                last = torch.cat([seq[:, -1, :64], seq[:, 0, 64:]], dim=1)
            else:
                last = seq[:, -1]
            return torch.sigmoid(self.out(last))

    net = Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCELoss()
    x, y = _data(steps + 1)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    inference = model_name.endswith("inference")
    best = best_cpu = 0.0
    for r in range(repeats + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        for i in range(steps if r else 1):
            if inference:
                net.eval()
                with torch.no_grad():
                    net(xs[i])
            else:
                optimizer.zero_grad()
                loss = loss_fn(net(xs[i]), ys[i])
                loss.backward()
                optimizer.step()
        elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        if r:
            best = max(best, steps * BATCH / elapsed)
            best_cpu = max(best_cpu, steps * BATCH / elapsed_cpu)
    return {"samples_per_s": best, "samples_per_cpu_s": best_cpu, "peak_mb": _peak_mb()}


def _load() -> str:
    """The machine's load averages (1, 5, 15 minutes), as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _revision() -> str:
    """``commit <hash>`` (and whether files differ from it), or 'unknown' outside git."""
    found = revision()
    return found if found == "unknown" else f"commit {found}"


def _worker(side: str, python: str, name: str, args, threads: int) -> dict:
    command = [python, __file__, "--worker", side, "--model", name, "--steps", str(args.steps),
               "--repeats", str(args.repeats)]
    env = dict(os.environ)
    if threads:
        env["BENCH_THREADS"] = env["KERASETTE_NUM_THREADS"] = str(threads)
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(name: str, args, threads: int) -> dict:
    """``args.runs`` processes per side, the sides alternating (kerasette first on even runs,
    PyTorch first on odd ones) so that a change in the machine's load falls on both: the median
    samples/s of each side, their ratio, and the largest peak resident memory of each side."""
    runs: dict[str, list[dict]] = {"kerasette": [], "torch": []}
    pythons = {"kerasette": sys.executable, "torch": args.torch_python}
    for run in range(args.runs):
        for side in (("kerasette", "torch") if run % 2 == 0 else ("torch", "kerasette")):
            runs[side].append(_worker(side, pythons[side], name, args, threads))
    k_rate = statistics.median(r["samples_per_s"] for r in runs["kerasette"])
    t_rate = statistics.median(r["samples_per_s"] for r in runs["torch"])
    k_cpu = statistics.median(r["samples_per_cpu_s"] for r in runs["kerasette"])
    t_cpu = statistics.median(r["samples_per_cpu_s"] for r in runs["torch"])
    return {"model": name, "threads": threads, "kerasette": k_rate, "torch": t_rate, "ratio": k_rate / t_rate,
            "cpu_ratio": k_cpu / t_cpu, "folded_mb": max(r.get("folded_mb", 0.0) for r in runs["kerasette"]),
            "kerasette_mb": max(r["peak_mb"] for r in runs["kerasette"]),
            "torch_mb": max(r["peak_mb"] for r in runs["torch"]),
            "runs": {side: [round(r["samples_per_s"]) for r in values] for side, values in runs.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default="/work/benchenv/bin/python")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="processes per side, alternating (median reported)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", default="0",
                        help="threads on each side, or several counts separated by commas (0: every core)")
    parser.add_argument("--json", action="store_true", help="also print each row as a JSON line")
    parser.add_argument("--worker", choices=["kerasette", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run = run_kerasette if args.worker == "kerasette" else run_torch
        print(json.dumps(run(args.model, args.steps, args.repeats)))
        return
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]), flush=True)
    print(f"kerasette: {_revision()}; started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; "
          f"{os.cpu_count()} cpus", flush=True)
    print(f"load before: {_load()}", flush=True)
    print(f"{'model':16} {'threads':>7} {'kerasette/s':>12} {'torch/s':>10} {'ratio':>7} {'cpu ratio':>9} "
          f"{'kerasette MB':>13} {'torch MB':>9}  runs (kerasette | torch)", flush=True)
    for threads in (int(t) for t in args.threads.split(",")):
        for name in args.models.split(","):
            row = compare(name, args, threads)
            runs = row["runs"]
            print(f"{name:16} {threads or 'all':>7} {row['kerasette']:12.0f} {row['torch']:10.0f} {row['ratio']:7.2f} "
                  f"{row['cpu_ratio']:9.2f} {row['kerasette_mb']:13.0f} {row['torch_mb']:9.0f}  {runs['kerasette']} | {runs['torch']}",
                  flush=True)
            if row["folded_mb"]:
                print(f"{'':16} {'':>7} (kerasette's peak includes {row['folded_mb']:.0f} MB of folded LSTM "
                      "input projections and their copies of the weights)", flush=True)
            if args.json:
                print(json.dumps(row), flush=True)
    print(f"load after: {_load()}", flush=True)


if __name__ == "__main__":
    main()
