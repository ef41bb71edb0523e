"""Times the first run on a new machine: process start to the end of the first training batch,
with an empty numba kernel cache each time, and (``--log``) says what was compiled on the way.

Targets:

- ``vgg_like``: ``examples/vgg_like.py`` as a user runs it, stopped when ``fit`` has finished
  its first batch (the issue "Performance, second step" target: at most 6 s);
- any case of ``kerasette_reference.py`` (``vgg100_cl``, ``resnet20``...) with ``--first-batch``,
  the figure ``bench.py`` prints as "the same with an empty kernel cache".

A run's time is its process's, from its start to its end (the target ends right after the first
batch); the time at which the first batch ended, as the process printed it, is shown beside it
(``vgg_like``). Each run gets a new ``NUMBA_CACHE_DIR``; with ``--warm`` the runs share one
folder filled by a first, untimed run. ``--log`` records, in every process (the model's and the compile-ahead
helper), each kernel signature numba compiles (start and end, nested compiles included) and
each first call of a kernel signature (compiled here, waited for from the helper, or loaded
from the cache), then prints the largest compiles, what each process did, and what the
model's process waited on. The log mode imports numba at start-up and adds a little overhead:
time with it off.

Examples::

    python tests/benchmarks/cold_start.py --runs 5
    python tests/benchmarks/cold_start.py --target vgg100_cl --runs 5
    python tests/benchmarks/cold_start.py --runs 1 --log
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))  # the sibling modules, run as a script or not
from provenance import revision  # noqa: E402

#: runs examples/vgg_like.py and leaves (after the exit handlers) at the end of fit's first batch
_VGG_LIKE = """
import atexit, os, runpy, sys, tempfile, time
import kerasette.models.model as model_module
from kerasette.callbacks import LambdaCallback
fit = model_module.Model.fit

def leave(batch, logs):
    print(f"first batch done {time.time():.6f}", flush=True)
    atexit._run_exitfuncs()
    os._exit(0)

def first_batch_fit(self, *args, callbacks=None, **kwargs):
    return fit(self, *args, callbacks=list(callbacks or []) + [LambdaCallback(on_train_batch_end=leave)], **kwargs)

model_module.Model.fit = first_batch_fit
sys.argv = ["vgg_like.py", "--epochs", "1", "--checkpoint", os.path.join(tempfile.gettempdir(), "cold_start.keras")]
runpy.run_path(os.path.join(ROOT, "examples", "vgg_like.py"), run_name="__main__")
"""

#: installed as sitecustomize in --log mode: one JSON line per event, a file per process
_LOGGER = r'''
import json, os, sys, threading, time
_folder = os.environ["COLD_START_LOG"]
_out = open(os.path.join(_folder, f"{os.getpid()}.jsonl"), "a", buffering=1)

def _write(**row):
    row["pid"] = os.getpid()
    _out.write(json.dumps(row) + "\n")

_write(kind="start", t=time.time(), argv=sys.argv[1:3])
import numba.core.event as _ev

_open = []  # the compiles under way in this process (nested ones last)

def _compiled(f, args, start, cpu):
    _write(kind="compile", start=start, end=time.time(), cpu=time.thread_time() - cpu, depth=len(_open),
           name=f"{f.__module__.rsplit('.', 1)[-1]}.{f.__qualname__}", args=str(args))

class _Compiles(_ev.Listener):
    def on_start(self, event):
        _open.append((time.time(), time.thread_time()))

    def on_end(self, event):
        start, cpu = _open.pop()
        _compiled(event.data["dispatcher"].py_func, tuple(event.data["args"]), start, cpu)

_ev.register("numba:compile", _Compiles())

def _patch_jit(module):
    """Logs the compiles (or cache loads) of the C functions (_jit.CFunction, not a dispatcher)."""
    compile_c = module.CFunction.compile

    def compile(self, sig):
        if tuple(sig) in self.overloads:
            return compile_c(self, sig)
        _open.append((time.time(), time.thread_time()))
        try:
            return compile_c(self, sig)
        finally:
            start, cpu = _open.pop()
            _compiled(self.py_func, tuple(sig), start, cpu)

    module.CFunction.compile = compile

class _Finder:
    """Wraps _ahead.compile_listed once the module is imported: every first call of a kernel
    signature in this process (compiled, waited for, or loaded from the cache); and, in _jit,
    the C functions' compiles."""

    names = ["kerasette.backend.kernels._ahead", "kerasette.backend.kernels._jit"]

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        self.names.remove(name)
        if not self.names:
            sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module
        if name.endswith("_jit"):
            spec.loader.exec_module = lambda module: (exec_module(module), _patch_jit(module))
            return spec

        def patched(module):
            exec_module(module)
            listed = module.compile_listed

            def compile_listed(dispatcher, sig, compile_fn):
                start = time.time()
                known = tuple(sig) in dispatcher.overloads if isinstance(sig, (tuple, list)) else False
                try:
                    return listed(dispatcher, sig, compile_fn)
                finally:
                    if not known:
                        f = dispatcher.py_func
                        _write(kind="first_call", start=start, end=time.time(), thread=threading.get_ident(),
                               name=f"{f.__module__.rsplit('.', 1)[-1]}.{f.__qualname__}", args=str(tuple(sig)))

            module.compile_listed = compile_listed

        spec.loader.exec_module = patched
        return spec

sys.meta_path.insert(0, _Finder())
'''


def command(target: str) -> list[str]:
    if target == "vgg_like":
        return [sys.executable, "-c", f"ROOT = {str(ROOT)!r}\n" + _VGG_LIKE]
    return [sys.executable, str(HERE / "kerasette_reference.py"), "--case", target, "--first-batch"]


def run_once(target: str, cache: str, log: str | None = None) -> tuple[float, float, float, float | None]:
    """One run; returns (wall seconds to the process's end, CPU seconds of the run's process, the
    start time, wall seconds to the end of the first batch as the process printed it, or None
    for a target that prints no time)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=os.pathsep.join(
        ([log] if log else []) + [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    if log:
        env["COLD_START_LOG"] = log
    start = time.time()
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command(target), check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    time.sleep(0.2)  # a helper process still finishing its kernel is reaped by its parent's end
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    printed = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("first batch done ")]
    first = float(printed[0]) - start if printed else None
    return wall, cpu, start, first


def _short(args: str, width: int = 60) -> str:
    args = args.replace("array(", "").replace("float32", "f4").replace("float64", "f8").replace("int64", "i8")
    return args if len(args) <= width else args[: width - 3] + "..."


def report(folder: str, start: float, wall: float, first: float | None = None) -> None:
    """Prints what each process compiled and waited for, from the log files in ``folder``."""
    rows = [json.loads(line) for f in Path(folder).glob("*.jsonl") for line in f.read_text().splitlines()]
    starts = {r["pid"]: r["t"] for r in rows if r["kind"] == "start"}
    main_pid = min(starts, key=starts.get)
    role = {pid: "main" if pid == main_pid else f"helper{i}" for i, pid in enumerate(sorted(starts, key=starts.get))}
    compiles = [r for r in rows if r["kind"] == "compile"]
    # exclusive CPU time: a compile minus the compiles nested in it (same process, one level deeper)
    for r in compiles:
        inner = sum(c["cpu"] for c in compiles if c["pid"] == r["pid"] and c["depth"] == r["depth"] + 1
                    and c["start"] >= r["start"] and c["end"] <= r["end"])
        r["self"] = r["cpu"] - inner
    batch = "" if first is None else f" (first batch done at {first:.2f} s)"
    print(f"\nwall {wall:.2f} s{batch}; process starts (s after launch): "
          + ", ".join(f"{role[p]} {t - start:.2f}" for p, t in sorted(starts.items(), key=lambda i: i[1])))
    print("\ncompiles, largest first (CPU s; self = without the kernels compiled inside it; wall s from launch):")
    print(f"{'kernel':34s} {'args':60s} {'proc':8s} {'self':>6s} {'incl':>6s} {'from':>6s} {'to':>6s}")
    for r in sorted(compiles, key=lambda r: -r["self"]):
        print(f"{r['name'][:34]:34s} {_short(r['args']):60s} {role[r['pid']]:8s} {r['self']:6.2f} "
              f"{r['cpu']:6.2f} {r['start'] - start:6.2f} {r['end'] - start:6.2f}")
    by_proc = collections.defaultdict(float)
    for r in compiles:
        by_proc[role[r["pid"]]] += r["self"]
    print("\ncompile CPU seconds per process: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(by_proc.items())))
    print(f"total compile {sum(by_proc.values()):.2f} s in {len(compiles)} compiles")
    firsts = sorted((r for r in rows if r["kind"] == "first_call" and r["pid"] == main_pid), key=lambda r: r["start"])
    main_compiles = [r for r in compiles if r["pid"] == main_pid and r["depth"] == 0]
    print("\nmain process, each first call of a kernel signature (top level), in order:")
    print(f"{'at s':>6s} {'took s':>7s} {'compiled here s':>15s}  kernel args")
    spans = []
    for r in firsts:
        took = r["end"] - r["start"]
        here = sum(c["end"] - c["start"] for c in main_compiles if c["start"] >= r["start"] and c["end"] <= r["end"])
        nested = any(o is not r and o["thread"] == r["thread"] and o["start"] <= r["start"] and r["end"] <= o["end"]
                     for o in firsts)
        if not nested:
            spans.append((r["start"], r["end"]))
        if took >= 0.01:
            print(f"{r['start'] - start:6.2f} {took:7.2f} {here:15.2f}  {'  ' if nested else ''}{r['name']} {_short(r['args'])}")
    total, reach = 0.0, 0.0
    for a, b in sorted(spans):  # the union of the top-level calls (the threads of a batch overlap)
        total += max(0.0, b - max(a, reach))
        reach = max(reach, b)
    print(f"main process wall time in first calls (compile, wait, cache load): {total:.2f} s of {wall:.2f} s")


def _setting(args) -> dict:
    """What a reader needs to redo the measurement: the command, the commit, the time, the load,
    the machine's cores and CPU, Python's and numba's versions (numba imported in a subprocess:
    not here, where it would not matter, but to keep this process as it was)."""
    commit = revision()
    probe = "import numba, llvmlite.binding as ll; print(numba.__version__, ll.get_host_cpu_name())"
    versions = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split()
    return {"command": " ".join([Path(sys.executable).name, *sys.argv]), "commit": commit,
            "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "loadavg_start": os.getloadavg(),
            "cores": os.cpu_count(), "cpu": versions[1] if len(versions) > 1 else "unknown",
            "python": sys.version.split()[0], "numba": versions[0] if versions else "unknown",
            "compile_ahead": os.environ.get("KERASETTE_COMPILE_AHEAD", "1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="vgg_like", help="vgg_like or a kerasette_reference.py case")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", action="store_true", help="time with a filled cache instead")
    parser.add_argument("--log", action="store_true", help="record and print what is compiled (one run's)")
    args = parser.parse_args()
    print(json.dumps(_setting(args)), flush=True)
    times, cpus, firsts = [], [], []
    with tempfile.TemporaryDirectory() as shared:
        if args.warm:
            run_once(args.target, shared)
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as log:
                if args.log:
                    Path(log, "sitecustomize.py").write_text(_LOGGER)
                wall, cpu, start, first = run_once(args.target, shared if args.warm else cache,
                                                   log if args.log else None)
                times.append(wall)
                cpus.append(cpu)
                firsts.append(first)
                batch = "" if first is None else f" (first batch done at {first:.2f} s)"
                print(f"run {len(times)}: {wall:.2f} s wall{batch}, {cpu:.2f} s CPU, load {os.getloadavg()[0]:.2f}",
                      flush=True)
                if args.log:
                    time.sleep(0.5)  # let a helper finish its line
                    report(log, start, wall, first)
    print(json.dumps({"target": args.target, "warm": args.warm, "runs": [round(t, 3) for t in times],
                      "median_s": round(statistics.median(times), 3),
                      "first_batch_s": [None if f is None else round(f, 3) for f in firsts],
                      "cpu_s": [round(c, 2) for c in cpus], "loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()
