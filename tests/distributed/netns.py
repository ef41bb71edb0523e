"""Emulated hosts on one machine: Linux network namespaces joined by veth links through a bridge.

Each rank runs in its own namespace (``ip netns``) with one interface and its own address; the
interfaces are veth pairs whose other ends sit on a bridge in a hub namespace, so every byte
between two ranks crosses two network interfaces and the bridge. The links' rate is shaped with
a token bucket (``tc qdisc ... tbf``) on both ends of each veth. MPICH is told to use its TCP
network module for every peer (``MPIR_CVAR_NOLOCAL``: no shared memory between the ranks, which
it would otherwise use, since the namespaces share one host name), through libfabric's ``tcp``
provider.

Needs root and the ``ip`` and ``tc`` commands (Debian: ``apt-get install iproute2``). Used by
``test_multihost_netns.py`` and ``tests/benchmarks/distributed_bench.py --netns``. The
addresses (10.77.0.0/24) exist only inside the namespaces made here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

#: MPICH over TCP sockets for every peer (see the module's docstring).
MPI_TCP_ENV = {"MPIR_CVAR_NOLOCAL": "1", "MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "tcp"}
SUBNET = "10.77.0"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here, or None when they can (a probe namespace is made and removed)."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "the `ip` and `tc` commands are missing (Debian: apt-get install iproute2)"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"kstprobe{uuid.uuid4().hex[:6]}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class Network:
    """``ranks`` namespaces on a bridge; `up` makes them, `down` removes them (also as a context manager).

    Args:
        ranks: number of namespaces (one per rank), 2 to 4 in the tests.
        rate: the links' rate for tc (``'1gbit'``, ``'10gbit'``) or None for unshaped veths.
    """

    def __init__(self, ranks: int, rate: str | None = None):
        self.ranks = ranks
        self.rate = rate
        tag = uuid.uuid4().hex[:5]
        self.hub = f"ksthub{tag}"
        self.namespaces = [f"kst{tag}r{i}" for i in range(ranks)]
        self.links = [(f"k{tag}r{i}", f"k{tag}h{i}") for i in range(ranks)]  # (rank end, hub end), <= 15 chars
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(ranks)]

    def __enter__(self) -> Network:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        try:
            _ip("netns", "add", self.hub)
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            for ns, (rank_end, hub_end), address in zip(self.namespaces, self.links, self.addresses):
                _ip("netns", "add", ns)
                _ip("link", "add", rank_end, "type", "veth", "peer", "name", hub_end)
                _ip("link", "set", rank_end, "netns", ns)
                _ip("link", "set", hub_end, "netns", self.hub)
                _ip("-n", self.hub, "link", "set", hub_end, "master", "br0")
                _ip("-n", self.hub, "link", "set", hub_end, "up")
                _ip("-n", ns, "addr", "add", f"{address}/24", "dev", rank_end)
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", rank_end, "up")
            self.set_rate(self.rate)
        except BaseException:
            self.down()
            raise

    def set_rate(self, rate: str | None) -> None:
        """Shapes both directions of every link to ``rate`` (None: removes the shaping)."""
        self.rate = rate
        for ns, (rank_end, hub_end) in zip(self.namespaces, self.links):
            for where, dev in ((ns, rank_end), (self.hub, hub_end)):
                subprocess.run(["tc", "-n", where, "qdisc", "del", "dev", dev, "root"], capture_output=True,
                               timeout=30)
                if rate is not None:
                    subprocess.run(["tc", "-n", where, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate,
                                    "burst", "1mb", "latency", "50ms"], check=True, capture_output=True, text=True,
                                   timeout=30)

    def down(self) -> None:
        for ns in [*self.namespaces, self.hub]:
            _ip("netns", "del", ns, check=False)

    def bytes_sent(self, rank: int) -> int:
        """Bytes the rank's interface has sent (its counters, inside its namespace)."""
        out = _ip("-n", self.namespaces[rank], "-s", "link", "show", self.links[rank][0]).stdout.splitlines()
        tx = next(i for i, line in enumerate(out) if line.strip().startswith("TX:"))
        return int(out[tx + 1].split()[0])

    def mpiexec_command(self, mpiexec: str, script_args: list[str], python: str = sys.executable) -> list[str]:
        """``mpiexec`` running ``python SCRIPT_ARGS`` once in each namespace (MPMD form), MPI over TCP."""
        command = [mpiexec]
        for key, value in MPI_TCP_ENV.items():
            command += ["-genv", key, value]
        for i, ns in enumerate(self.namespaces):
            if i:
                command.append(":")
            command += ["-n", "1", "ip", "netns", "exec", ns, python, *script_args]
        return command
