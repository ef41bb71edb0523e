"""Data-parallel throughput of the seed model on this machine: 1 process x 2 threads vs 2 x 1.

A script, not a test::

    python tests/benchmarks/distributed_bench.py [--steps 10] [--repeats 3]

Trains the seed VGG-like convnet (100x100x3 channels-last, 7,998,250 parameters, SGD Nesterov)
on random data and prints, for each configuration, the median over ``--repeats`` alternating
runs of:

- samples/s (global batch / median step time of the slowest rank);
- the time per step spent in the gradient allreduce inside training (which includes waiting for
  the slower rank) and, for the 2-process runs, the time of a bare allreduce of the model's
  32 MB of float32 gradients after a barrier (the pure communication cost);
- the step's compute time, the input of the scaling model in the README.

Configurations: ``1x2`` one process, two numba/BLAS threads, batch 32 (``1x1``: one thread, for
reference); ``2x1/16`` two ranks of
one thread each, 16 samples per rank (the same global batch of 32); ``2x1/32`` two ranks, 32
per rank (global batch 64). The 2-process runs rely on `kerasette.distributed.init` setting each
rank's threads to cores / ranks. Each run prints the machine's load average, since other work on
a 2-core machine changes every figure.

Emulated hosts (root only)::

    python tests/benchmarks/distributed_bench.py --netns 1gbit,10gbit [--batch 16] [--steps 6]

runs 2 ranks, each in its own network namespace, MPI over TCP across veth links shaped to each
rate (`tests/distributed/netns.py`), in four modes: blocking or overlapped allreduce, float32 or
float16 gradients. For each it prints the median step time, the median time per step the update
spent waiting for the allreduce (blocking: the whole ``MPI_Allreduce``; overlapped: what was
still in flight when the backward pass ended, plus starting the buckets), the bytes each rank
sent per step, and the scaling model's prediction of that wait: the ring formula below at the
link's rate for blocking, and for overlapped the same formula applied bucket by bucket to a
link that sends one bucket after the other from the moment each was ready (the ready times
measured in that run's last step), minus the part done before the pass ended.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_seed_model():
    """The seed VGG-like convnet at 100x100x3, channels-last, in Keras 2 names."""
    from kerasette.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from kerasette.models import Sequential

    return Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(100, 100, 3)),
        Conv2D(32, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Dropout(0.25),
        Conv2D(64, (3, 3), activation="relu"),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Dropout(0.25),
        Flatten(),
        Dense(256, activation="relu"),
        Dropout(0.5),
        Dense(10, activation="softmax"),
    ])


def bare_allreduce_seconds(n_params: int, repeats: int = 10) -> float:
    """Median time of one in-place allreduce of ``n_params`` float32 values, ranks in step."""
    import numpy as np

    from kerasette.distributed import collectives

    buffer = np.ones(n_params, np.float32)
    times = []
    for _ in range(repeats):
        collectives.barrier()
        start = time.perf_counter()
        collectives.reduce_in_place(buffer, collectives.Sum)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interface_bytes_sent() -> int:
    """Bytes sent by this network namespace's interfaces other than loopback (Linux sysfs)."""
    total = 0
    for device in Path("/sys/class/net").glob("*"):
        if device.name != "lo":
            try:
                total += int((device / "statistics" / "tx_bytes").read_text())
            except (OSError, ValueError):
                pass
    return total


def worker(batch: int, steps: int, warmup: int, overlap: bool = False, compression: str = "none") -> None:
    """One rank's run; rank 0 prints a JSON line."""
    import numba
    import numpy as np

    import kerasette.distributed as hvd
    from kerasette.distributed import threads
    from kerasette.optimizers import SGD

    hvd.init()
    model = build_seed_model()
    opt = hvd.DistributedOptimizer(SGD(learning_rate=0.01, momentum=0.9, nesterov=True), overlap=overlap,
                                   compression=compression)
    model.compile(loss="categorical_crossentropy", optimizer=opt)
    rng = np.random.default_rng(hvd.rank())
    x = rng.random((batch, 100, 100, 3), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    for _ in range(warmup):
        model.train_on_batch(x, y)
    step_times, reduce_times, profiles = [], [], []
    sent_before = interface_bytes_sent()
    for _ in range(steps):
        before = opt.allreduce_timer.seconds
        hvd.barrier()
        start = time.perf_counter()
        model.train_on_batch(x, y)
        step_times.append(time.perf_counter() - start)
        reduce_times.append(opt.allreduce_timer.seconds - before)
        profiles.append(getattr(getattr(opt, "_reducer", None), "step_profile", None))
    sent = interface_bytes_sent() - sent_before
    every_rank_profiles = hvd.allgather_object(profiles)
    slowest = hvd.allreduce(np.array(step_times), op=hvd.Max)
    in_step_reduce = hvd.allreduce(np.array(reduce_times), op=hvd.Max)
    # the rank that reached the update last waits for the network only, not for another rank
    last_rank_wait = hvd.allreduce(np.array(reduce_times), op=hvd.Min)
    bare = bare_allreduce_seconds(model.count_params()) if hvd.size() > 1 else 0.0
    step = float(np.median(slowest))
    record = {"ranks": hvd.size(), "threads": numba.get_num_threads(), "blas_threads": threads.blas_threads(),
              "batch_per_rank": batch, "params": model.count_params(), "step_s": step,
              "samples_per_s": batch * hvd.size() / step, "allreduce_in_step_s": float(np.median(in_step_reduce)),
              "allreduce_bare_s": bare, "compute_s": step - float(np.median(in_step_reduce)),
              "load": os.getloadavg()[0], "overlap": overlap, "compression": compression,
              "wire_bytes_per_step": opt.allreduce_timer.bytes / max(1, warmup + steps),
              "wait_last_rank_s": float(np.median(last_rank_wait)), "sent_per_step": sent / max(1, steps),
              "waits_ms": [round(1e3 * t, 1) for t in in_step_reduce],
              "last_rank_waits_ms": [round(1e3 * t, 1) for t in last_rank_wait], "steps_ms": [round(1e3 * t) for t in slowest]}
    reducer = getattr(opt, "_reducer", None)
    if reducer is not None:  # the buckets (wire bytes each) and when each was ready, for the model
        times, pass_s = reducer.profile if reducer.profile is not None else ([None] * len(reducer.variables), 0.0)
        record["buckets"] = [{"bytes": int(b.buffer.nbytes),
                              "ready_s": max((times[i] or 0.0) for i in b.members) if b.members else 0.0}
                             for b in reducer.buckets]
        record["pass_s"] = pass_s
    record["profiles"] = every_rank_profiles  # [rank][step]: GradientReducer.step_profile
    if hvd.rank() == 0:
        print(json.dumps(record), flush=True)


def _median_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibrate_worker(message_bytes: int = 8 << 20, repeats: int = 7) -> None:
    """What the link and this machine can do, measured between 2 ranks; rank 0 prints a JSON line.

    - ``latency_s``: half the round trip of a 1-byte MPI ping-pong;
    - ``pingpong_bytes_per_s``: ``message_bytes`` sent one way (ping-pong, latency removed);
    - ``exchange_bytes_per_s``: both ranks send ``message_bytes`` to each other at once
      (``Sendrecv``, the ring's pattern): the rate the model uses;
    - ``reduce_fp32_bytes_per_s``, ``reduce_fp16_bytes_per_s``: the sums (numpy's float32 add,
      `half.add_into`), in memory;
    - ``convert_values_per_s``: float32 -> float16 -> float32 (`half.to_half` + `half.to_float`);
    - ``tail_fp32_s``, ``tail_fp16_s``, ``launch_fp32_s``, ``launch_fp16_s``: an overlapped
      `GradientReducer` step with one bucket of 1 KB handed on just before the update, on the
      rank that arrives 5 ms after the other (as the last rank does in training): its whole
      wait, and the part spent starting the bucket.
    - ``bare_fp32_s``, ``bare_fp16_s``: blocking allreduces of the seed model's gradients
      (MPI's float32 ``Allreduce``, the float16 ring), to check the ring formula against.
    """
    import numpy as np

    import kerasette.distributed as hvd
    from kerasette.distributed import collectives, compression, fusion, half, ring, runtime

    hvd.init()
    world = runtime.world()
    comm, rank = world.comm, world.rank
    peer = 1 - rank
    if world.size != 2:
        raise SystemExit("calibration runs on exactly 2 ranks")
    record: dict = {}
    byte = np.zeros(1, np.uint8)

    def ping(buffer, reply):
        if rank == 0:
            comm.Send(buffer, dest=peer)
            comm.Recv(reply, source=peer)
        else:
            comm.Recv(buffer, source=peer)
            comm.Send(reply, dest=peer)

    for _ in range(20):
        ping(byte, byte)
    comm.Barrier()
    latency = _median_of(lambda: ping(byte, byte), 200) / 2
    big, back = np.ones(message_bytes, np.uint8), np.empty(message_bytes, np.uint8)
    comm.Barrier()
    one_way = _median_of(lambda: ping(big, byte), repeats) - 2 * latency  # the big one way, 1 byte back

    def exchange():
        comm.Barrier()
        start = time.perf_counter()
        comm.Sendrecv(big, dest=peer, recvbuf=back, source=peer)
        return time.perf_counter() - start

    exchange()
    swap = statistics.median(exchange() for _ in range(repeats)) - latency
    record.update(latency_s=hvd.allreduce(latency, op=hvd.Max),
                  pingpong_bytes_per_s=message_bytes / hvd.allreduce(one_way, op=hvd.Max),
                  exchange_bytes_per_s=message_bytes / hvd.allreduce(swap, op=hvd.Max))

    values = 8 << 20
    a32, b32 = np.ones(values, np.float32), np.ones(values, np.float32)
    a16, b16 = np.ones(values, np.float16), np.ones(values, np.float16)
    half.add_into(a16[:16], b16[:16])
    half.to_half(a32[:16], b16[:16])
    half.to_float(b16[:16])
    record["reduce_fp32_bytes_per_s"] = 4 * values / _median_of(lambda: np.add(a32, b32, out=b32), repeats)
    record["reduce_fp16_bytes_per_s"] = 2 * values / _median_of(lambda: half.add_into(a16, b16), repeats)
    out32 = np.empty(values, np.float32)
    record["convert_values_per_s"] = values / (_median_of(lambda: half.to_half(a32, b16), repeats)
                                               + _median_of(lambda: half.to_float(b16, out32), repeats))

    grad = np.ones(256, np.float32)  # 1 KB
    for name, compressor in (("fp32", compression.NoneCompressor), ("fp16", compression.FP16Compressor)):
        reducer = fusion.GradientReducer([grad], collectives.Sum, compressor, fusion.DEFAULT_FUSION_THRESHOLD,
                                         1.0, True, collectives.Timer())
        tails, launches = [], []
        for step in range(40):
            comm.Barrier()
            late = step % 2 == rank
            if late:
                time.sleep(0.005)
            reducer.begin()
            reducer.ready(grad, grad)
            reducer.finish([grad])
            if late and step >= 10:
                tails.append(reducer.step_profile["launch_s"] + reducer.step_profile["wait_s"])
                launches.append(reducer.step_profile["launch_s"])
        record[f"tail_{name}_s"] = statistics.median(sum(hvd.allgather_object(tails), []))
        record[f"launch_{name}_s"] = statistics.median(sum(hvd.allgather_object(launches), []))

    # small buckets handed on every 40 ms while both ranks compute (BLAS, one thread), the last
    # one 40 ms before the update: what starting a bucket and a small bucket's trip (ring and
    # hand-off) cost while the cores are busy
    grads = [np.ones(9_216, np.float32) for _ in range(6)]  # 36 KB (18 KB as float16) each
    square = np.ones((256, 256), np.float32)

    def compute(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            np.dot(square, square)

    for name, compressor in (("fp32", compression.NoneCompressor), ("fp16", compression.FP16Compressor)):
        reducer = fusion.GradientReducer(grads, collectives.Sum, compressor, 0, 1.0, True, collectives.Timer())
        launches, trips = [], []
        for step in range(6):
            comm.Barrier()
            reducer.begin()
            for grad in reversed(grads):
                compute(0.04)
                reducer.ready(grad, grad)
            compute(0.04)
            reducer.finish(grads)
            if step == 0:
                continue  # the plan is made from the first step
            link_free = 0.0
            for bucket in reducer.step_profile["buckets"]:
                launches.append(bucket["launch_s"])
                began = bucket["launched_s"] if bucket["launched_s"] is not None else bucket["submitted_s"]
                trips.append(bucket["done_s"] - max(began, link_free))
                link_free = bucket["done_s"]
        record[f"busy_launch_{name}_s"] = statistics.median(sum(hvd.allgather_object(launches), []))
        record[f"busy_trip_{name}_s"] = statistics.median(sum(hvd.allgather_object(trips), []))
        record[f"busy_trip_{name}_bytes"] = int(reducer.buckets[0].buffer.nbytes)

    params = 7_998_250
    g32, g16 = np.ones(params, np.float32), np.ones(params, np.float16)
    ring.prepare()

    def bare(fn):
        comm.Barrier()
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    bare(lambda: comm.Allreduce(world.mpi.IN_PLACE, g32, op=world.mpi.SUM))
    record["bare_fp32_s"] = hvd.allreduce(statistics.median(
        bare(lambda: comm.Allreduce(world.mpi.IN_PLACE, g32, op=world.mpi.SUM)) for _ in range(repeats)), op=hvd.Min)
    bare(lambda: ring.sum_half(g16))
    record["bare_fp16_s"] = hvd.allreduce(statistics.median(
        bare(lambda: ring.sum_half(g16)) for _ in range(repeats)), op=hvd.Min)
    record["bare_bytes_fp32"], record["bare_bytes_fp16"] = g32.nbytes, g16.nbytes
    record["load"] = os.getloadavg()[0]
    if rank == 0:
        print(json.dumps(record), flush=True)


def ring_allreduce_seconds(nbytes: float, ranks: int, gbit_per_s: float, latency_s: float,
                           reduce_bytes_per_s: float) -> float:
    """The ring allreduce's time: 2(N-1) messages of bytes/N each way, and (N-1)/N of the bytes added.

    ``T = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency + (N-1)/N * bytes / reduce_rate``.
    """
    if ranks == 1:
        return 0.0
    share = (ranks - 1) / ranks
    return (2 * share * nbytes / (gbit_per_s * 1e9 / 8) + 2 * (ranks - 1) * latency_s
            + share * nbytes / reduce_bytes_per_s)


def scaling_table(params: int, compute_s: float, gbit_per_s: float, latency_s: float,
                  reduce_bytes_per_s: float, overhead_s: float, nodes=(2, 8, 32, 128)) -> None:
    """Prints the predicted allreduce time and efficiency ``compute / (compute + allreduce)``.

    ``overhead_s`` is the per-step cost of packing the gradients into the fused buffer and
    scaling them, paid whatever the network.
    """
    nbytes = 4 * params
    print(f"{params:,} float32 parameters = {nbytes / 1e6:.1f} MB; step compute {compute_s:.3f} s; "
          f"{gbit_per_s:g} Gbit/s, latency {latency_s * 1e6:g} us, reduction {reduce_bytes_per_s / 1e9:g} GB/s, "
          f"packing {overhead_s * 1e3:g} ms")
    print(f"{'nodes':>6}{'allreduce ms':>14}{'efficiency':>12}{'samples/s speed-up':>20}")
    for n in nodes:
        t = ring_allreduce_seconds(nbytes, n, gbit_per_s, latency_s, reduce_bytes_per_s) + overhead_s
        efficiency = compute_s / (compute_s + t)
        print(f"{n:>6}{t * 1e3:>14.1f}{efficiency:>11.1%}{n * efficiency:>20.1f}")


def overlapped_wait_seconds(buckets: list[dict], pass_s: float, ranks: int, gbit_per_s: float, latency_s: float,
                            reduce_bytes_per_s: float) -> float:
    """The model's wait for overlapped buckets: one link sends them in order, each from when it is
    ready (and the one before it is sent), at the ring's cost; the update waits for what is left
    when the backward pass ends at ``pass_s``."""
    link_free = 0.0
    for bucket in buckets:
        start = max(bucket["ready_s"], link_free)
        link_free = start + ring_allreduce_seconds(bucket["bytes"], ranks, gbit_per_s, latency_s, reduce_bytes_per_s)
    return max(0.0, link_free - pass_s)


def overlap_scaling_table(params: int, compute_s: float, backward_after_s: float, gbit_per_s: float,
                          latency_s: float, reduce_bytes_per_s: float, overhead_s: float, bytes_per_value: int,
                          nodes=(2, 8, 32, 128)) -> None:
    """Prints the scaling model with overlap: the allreduce of all the gradients (``bytes_per_value``
    each: 4 for float32, 2 for float16) hides behind the last ``backward_after_s`` seconds of the
    backward pass (those after the bulk of the gradient bytes are ready)."""
    nbytes = bytes_per_value * params
    print(f"{params:,} parameters x {bytes_per_value} bytes = {nbytes / 1e6:.1f} MB; step compute {compute_s:.3f} s, "
          f"of which {backward_after_s * 1e3:.0f} ms of backward pass after the big bucket is ready; "
          f"{gbit_per_s:g} Gbit/s, latency {latency_s * 1e6:g} us, reduction {reduce_bytes_per_s / 1e9:g} GB/s, "
          f"packing {overhead_s * 1e3:g} ms")
    print(f"{'nodes':>6}{'allreduce ms':>14}{'exposed ms':>12}{'efficiency':>12}{'samples/s speed-up':>20}")
    for n in nodes:
        t = ring_allreduce_seconds(nbytes, n, gbit_per_s, latency_s, reduce_bytes_per_s)
        exposed = max(0.0, t - backward_after_s) + overhead_s
        efficiency = compute_s / (compute_s + exposed)
        print(f"{n:>6}{t * 1e3:>14.1f}{exposed * 1e3:>12.1f}{efficiency:>11.1%}{n * efficiency:>20.1f}")


NETNS_MODES = [("blocking", "none"), ("overlap", "none"), ("blocking", "fp16"), ("overlap", "fp16")]
if os.environ.get("KERASETTE_BENCH_MODES"):  # e.g. overlap:fp16,blocking:none
    NETNS_MODES = [tuple(m.split(":")) for m in os.environ["KERASETTE_BENCH_MODES"].split(",")]


def netns_runs(rates: list[str], batch: int, steps: int, warmup: int, repeats: int, latency_s: float,
               reduce_bytes_per_s: float, reduce_fp16_bytes_per_s: float) -> None:
    """Each mode at each link rate, 2 ranks in their own namespaces (see the module's docstring)."""
    sys.path.insert(0, str(ROOT))
    from tests.distributed import netns  # deferred: a test helper, needed only here

    reason = netns.unavailable_reason()
    if reason is not None:
        raise SystemExit(f"--netns: network namespaces cannot be made: {reason}")
    # MPICH sees each namespace as a host of its own (local size 1), so `init` would leave each rank
    # all the cores; two ranks share this machine's cores, so each takes one thread
    one = str(max(1, len(os.sched_getaffinity(0)) // 2))
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS=one, OMP_NUM_THREADS=one,
               OPENBLAS_NUM_THREADS=one, KERASETTE_NUM_THREADS=one)
    rows = []
    with netns.Network(2) as net:
        for rate in rates:
            net.set_rate(rate)
            gbit = float(rate.lower().removesuffix("gbit")) if rate.lower().endswith("gbit") else \
                float(rate.lower().removesuffix("mbit")) / 1000
            runs: dict[tuple, list[dict]] = {mode: [] for mode in NETNS_MODES}
            for _ in range(repeats):
                for mode in NETNS_MODES:
                    args = [str(Path(__file__).resolve()), "--worker", "--steps", str(steps), "--warmup",
                            str(warmup), "--batch", str(batch), "--compression", mode[1]]
                    if mode[0] == "overlap":
                        args.append("--overlap")
                    out = subprocess.run(net.mpiexec_command(mpiexec(), args), check=True, capture_output=True,
                                         text=True, env=env, cwd=ROOT, timeout=1800)
                    record = json.loads(out.stdout.strip().splitlines()[-1])
                    rate_of_sums = reduce_fp16_bytes_per_s if mode[1] == "fp16" else reduce_bytes_per_s
                    if mode[0] == "overlap":
                        record["predicted_s"] = overlapped_wait_seconds(record["buckets"], record["pass_s"], 2, gbit,
                                                                        latency_s, rate_of_sums)
                    else:
                        record["predicted_s"] = ring_allreduce_seconds(record["wire_bytes_per_step"], 2, gbit,
                                                                       latency_s, rate_of_sums)
                    runs[mode].append(record)
                    print(f"# {rate} {mode}: {json.dumps(record)}", flush=True)
            for mode, records in runs.items():
                med = {k: statistics.median(r[k] for r in records) for k in
                       ("step_s", "allreduce_in_step_s", "wait_last_rank_s", "predicted_s", "sent_per_step",
                        "load")}
                rows.append((rate, mode, med))
    print("\nwait/step: the update's wait for the allreduce, median over steps of the slower-waiting rank "
          "(includes waiting for the other rank); last rank: of the rank that reached the update last "
          "(the network alone); model: the scaling model's wait")
    print(f"\n{'link':<8}{'mode':<15}{'step s':>8}{'wait/step ms':>14}{'last rank ms':>14}{'model ms':>10}"
          f"{'MB sent/step':>14}{'load':>6}")
    for rate, (how, compression), med in rows:
        print(f"{rate:<8}{how + ' ' + ('fp32' if compression == 'none' else 'fp16'):<15}{med['step_s']:>8.3f}"
              f"{med['allreduce_in_step_s'] * 1e3:>14.1f}{med['wait_last_rank_s'] * 1e3:>14.1f}"
              f"{med['predicted_s'] * 1e3:>10.1f}{med['sent_per_step'] / 1e6:>14.2f}{med['load']:>6.2f}")


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def launch(config: str, steps: int, warmup: int) -> dict:
    """Runs one configuration in fresh processes and returns rank 0's record."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [str(Path(__file__).resolve()), "--worker", "--steps", str(steps), "--warmup", str(warmup)]
    if config in ("1x1", "1x2"):
        threads = config[-1]
        env.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, NUMBA_NUM_THREADS=threads)
        cmd = [sys.executable, *args, "--batch", "32"]
    else:
        cmd = [mpiexec(), "-n", "2", sys.executable, *args, "--batch", config.split("/")[1]]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", default="1x2,2x1/16,2x1/32")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=32, help="samples per rank (with --netns)")
    parser.add_argument("--scaling", type=float, metavar="COMPUTE_S", default=None,
                        help="only print the scaling model's table for this step compute time")
    parser.add_argument("--gbit", type=float, default=25.0)
    parser.add_argument("--latency-us", type=float, default=30.0)
    parser.add_argument("--reduce-gb-s", type=float, default=5.0)
    parser.add_argument("--reduce-fp16-gb-s", type=float, default=1.0,
                        help="rate of the float16 ring's sums (half.add_into: 16 MB in about 16 ms of CPU)")
    parser.add_argument("--overhead-ms", type=float, default=6.0, help="packing + scaling per step")
    parser.add_argument("--overlap-ms", type=float, default=None, metavar="MS",
                        help="with --scaling: the model with overlap, hiding the allreduce behind MS ms of the "
                             "backward pass")
    parser.add_argument("--bytes-per-value", type=int, default=4, help="with --overlap-ms: 4 (fp32) or 2 (fp16)")
    parser.add_argument("--netns", metavar="RATES", default=None,
                        help="comma-separated link rates for tc (1gbit,10gbit): 2 ranks in network namespaces")
    parser.add_argument("--overlap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--calibrate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--compression", default="none", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scaling is not None:
        if args.overlap_ms is not None:
            rate_of_sums = args.reduce_fp16_gb_s if args.bytes_per_value == 2 else args.reduce_gb_s
            overlap_scaling_table(7_998_250, args.scaling, args.overlap_ms * 1e-3, args.gbit, args.latency_us * 1e-6,
                                  rate_of_sums * 1e9, args.overhead_ms * 1e-3, args.bytes_per_value)
        else:
            scaling_table(7_998_250, args.scaling, args.gbit, args.latency_us * 1e-6, args.reduce_gb_s * 1e9,
                          args.overhead_ms * 1e-3)
        return
    if args.calibrate:
        calibrate_worker()
        return
    if args.worker:
        worker(args.batch, args.steps, args.warmup, args.overlap, args.compression)
        return
    if args.netns:
        netns_runs(args.netns.split(","), args.batch, args.steps, args.warmup, args.repeats, args.latency_us * 1e-6,
                   args.reduce_gb_s * 1e9, args.reduce_fp16_gb_s * 1e9)
        return
    configs = args.configs.split(",")
    runs: dict[str, list[dict]] = {c: [] for c in configs}
    for _ in range(args.repeats):
        for config in configs:
            record = launch(config, args.steps, args.warmup)
            runs[config].append(record)
            print(f"# {config}: {json.dumps(record)}", flush=True)
    print(f"\n{'config':<10}{'samples/s':>11}{'step s':>9}{'compute s':>11}{'allreduce in step s':>21}"
          f"{'bare allreduce s':>18}{'load':>7}")
    for config, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in
               ("samples_per_s", "step_s", "compute_s", "allreduce_in_step_s", "allreduce_bare_s", "load")}
        print(f"{config:<10}{med['samples_per_s']:>11.2f}{med['step_s']:>9.3f}{med['compute_s']:>11.3f}"
              f"{med['allreduce_in_step_s']:>21.4f}{med['allreduce_bare_s']:>18.4f}{med['load']:>7.2f}")


if __name__ == "__main__":
    main()
