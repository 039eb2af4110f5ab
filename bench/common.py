"""What the benchmarks share: the checkout's paths, an offline environment, a network guard, and CPU and memory
readings (the machine is shared, so every bench says how busy it was).

Run the benchmarks from the checkout as modules, `python -m bench.<name>`: bench/ is a package, so its scripts
import each other and the project's packages without touching sys.path."""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_CORPUS = Path("shared") / "corpus" / "lennys-podcast-transcripts" / "episodes"
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
BUSY_SHARE = 0.05  # background CPU above this share of the machine during a measurement triggers a warning
NETWORK_ATTEMPTS: list[str] = []  # non-loopback connections refused by refuse_network(), in this process


def default_corpus() -> Path:
    """The 303 transcripts: beside the checkout (as CI clones it), else where this machine keeps them."""
    beside = PROJECT_ROOT.parent / _CORPUS
    return beside if beside.is_dir() else Path("/work") / _CORPUS


def offline() -> None:
    os.environ.update(OFFLINE_ENV)


def refuse_network() -> None:
    """Make any non-loopback connection fail, so a silent hub or telemetry call can neither skew nor pass a run."""
    import ipaddress
    import socket

    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple):
            host = str(address[0]).split("%")[0]
            try:
                local = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = False
            if not local:
                NETWORK_ATTEMPTS.append(repr(address))
                raise OSError(f"bench: network disabled (tried {address!r})")
        return real_connect(self, address)

    socket.socket.connect = guarded  # type: ignore[assignment,method-assign]


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux; each contender is its own process, so this is that contender's peak.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(
    cmd: list[str], stdout: Any, stderr: Any = None, env: dict[str, str] | None = None
) -> tuple[int, float, float]:
    """Run a bench step as its own process from the checkout, offline: (exit code, wall seconds, CPU seconds
    other processes used meanwhile, so a busy machine shows in the report)."""
    import subprocess

    start, busy, ours = time.perf_counter(), busy_cpu_seconds(), children_cpu_seconds()
    proc = subprocess.run(cmd, stdout=stdout, stderr=stderr, env={**os.environ, **OFFLINE_ENV, **(env or {})},
                          cwd=PROJECT_ROOT, check=False)  # fmt: skip
    wall = time.perf_counter() - start
    background = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - ours)
    return proc.returncode, wall, max(0.0, background)


def busy_cpu_seconds() -> float:
    """Machine-wide non-idle CPU seconds so far (all processes)."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))


def wait_for_idle(max_wait_s: float, window_s: float = 5.0) -> None:
    """Start a contender only when other processes leave the cores alone (the machine is shared), up to max_wait_s."""
    deadline = time.monotonic() + max_wait_s
    announced = False
    while True:
        before = busy_cpu_seconds()
        time.sleep(window_s)
        share = (busy_cpu_seconds() - before) / (window_s * (os.cpu_count() or 1))
        if share < BUSY_SHARE or time.monotonic() >= deadline:
            return
        if not announced:
            print(f"  waiting for the machine to be idle ({100 * share:.0f}% busy) …", file=sys.stderr, flush=True)
            announced = True


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None
