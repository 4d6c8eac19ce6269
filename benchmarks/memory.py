"""Peak memory of the demo campaign's processes: the coordinator and each worker.

    python -m benchmarks.memory                     # this checkout, 2 worker processes
    python -m benchmarks.memory --before PATH       # also a checkout of an earlier commit

The demo config runs as ``gendesign campaign`` in a subprocess (fresh folder, the
machine's warm caches); every 0.2 s the resident (RSS) and proportional (PSS:
shared pages split between the processes that map them) memory of the
coordinator and of every worker process is read with psutil. Reported: the
peak of each. A checkout given with ``--before`` runs the same way, side by side
in the same run, with its own code first on the import path. Results:
benchmarks/results/memory.json and the BENCHMARKS.md section.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.reporting import (
    ROOT,
    markdown_table,
    previous_results,
    publish,
    side_by_side,
    update_section,
)

DEMO = "configs/campaign/demo.yaml"
# What third-party libraries print: Python warnings, mace's and CHGNet's load messages.
NOTICE = re.compile(r"\w+Warning: |cuequivariance|CHGNet v[\d.]+ initialized|CHGNet will run on")
WORKERS = 2
MB = 2**20


def _memory(process: psutil.Process) -> tuple[float, float]:
    """(RSS, PSS) in MB; PSS falls back to RSS where the platform has no PSS."""
    try:
        info = process.memory_full_info()
        return info.rss / MB, getattr(info, "pss", info.rss) / MB
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0, 0.0


def _sample(coordinator: subprocess.Popen) -> tuple[dict[int, list[float]], set[int]]:
    """Peak [RSS, PSS] per process of the run until it ends, and the fork server's pid."""
    watched = psutil.Process(coordinator.pid)
    peaks: dict[int, list[float]] = {}
    servers: set[int] = set()  # the pool's fork server: it forks the workers
    while coordinator.poll() is None:
        try:
            children = watched.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        for process in [watched, *children]:
            try:
                # the fork server is the coordinator's child; the workers are its children
                parent = process.ppid() == coordinator.pid
                if parent and "forkserver" in " ".join(process.cmdline()):
                    servers.add(process.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss, pss = _memory(process)
            peak = peaks.setdefault(process.pid, [0.0, 0.0])
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
        time.sleep(0.2)
    return peaks, servers


def run_demo(checkout: Path) -> dict:
    """Run the demo from ``checkout`` and sample its processes until it ends."""
    out = Path(tempfile.mkdtemp()) / "demo"
    env = {**os.environ, "PYTHONPATH": str(checkout), "GENDESIGN_DATA": _data_root()}
    command = [sys.executable, "-m", "gendesign", "campaign", str(checkout / DEMO),
               "--workers", str(WORKERS), "--set", f"out_dir={out}"]  # fmt: skip
    printed_file = out.parent / "printed.txt"  # a file: a pipe could fill and block the run
    started = time.perf_counter()
    with open(printed_file, "w") as log:
        coordinator = subprocess.Popen(command, cwd=checkout, env=env, stdout=log, stderr=log)
        peaks, servers = _sample(coordinator)
    printed = printed_file.read_text()
    if coordinator.returncode != 0:
        raise RuntimeError(f"the demo failed from {checkout}:\n{printed[-2000:]}")
    workers = [peak for pid, peak in peaks.items() if pid != coordinator.pid and pid not in servers]
    server = max((peaks[pid] for pid in servers), default=None)
    # Short-lived helpers (the spawn machinery's resource tracker) are not workers.
    workers = sorted((w for w in workers if w[0] > 200), key=lambda w: -w[0])
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "coordinator_rss_mb": round(peaks[coordinator.pid][0]),
        "coordinator_pss_mb": round(peaks[coordinator.pid][1]),
        "worker_rss_mb": [round(w[0]) for w in workers],
        "worker_pss_mb": [round(w[1]) for w in workers],
        "fork_server_rss_mb": round(server[0]) if server else None,
        "fork_server_pss_mb": round(server[1]) if server else None,
        "third_party_notices": len(NOTICE.findall(printed)),
    }


def _data_root() -> str:
    from gendesign.paths import resolve_data_root

    return str(resolve_data_root())


def write_tables(results: dict) -> None:
    rows = []
    for label, r in results["runs"].items():
        rows.append([
            label, r["coordinator_rss_mb"], " / ".join(map(str, r["worker_rss_mb"])),
            " / ".join(map(str, r["worker_pss_mb"])),
            "–" if r.get("fork_server_rss_mb") is None
            else f"{r['fork_server_rss_mb']} / {r['fork_server_pss_mb']}",
            r["seconds"], r["third_party_notices"],
        ])  # fmt: skip
    body = (
        f"The demo campaign (`{DEMO}`, {WORKERS} worker processes), sampled every 0.2 s. "
        "Peak resident memory (RSS) of the coordinator and of each worker, and each "
        "worker's peak proportional share (PSS, shared pages split between the processes "
        "that map them), and of the fork server the workers are forked from (it holds "
        "the shared imports and read-only data). Target: at most 700 MB per worker. The "
        "last column counts the third-party notices the run printed (warnings, and the "
        "lines mace and CHGNet print when loaded).\n\n"
        + markdown_table(
            [
                "code",
                "coordinator RSS MB",
                "worker RSS MB",
                "worker PSS MB",
                "fork server RSS / PSS MB",
                "wall s",
                "third-party notices",
            ],
            rows,
        )  # fmt: skip
        + "\n\nWhat keeps a worker small: after every task it collects garbage and hands "
        "freed heap pages back to the system (glibc's `malloc_trim`); the fork server "
        "freezes its preloaded objects, so a worker's garbage collector never writes to "
        "(and copies) the shared pages; CHGNet single points keep no autograd graph; CPU "
        "relaxation batches hold 16 atoms, since larger ones cost memory (about 8 MB per "
        "atom) and gain no speed on one thread. Short-lived helper processes (under 200 MB "
        "RSS at peak) are not counted as workers.\n"
    )
    update_section("memory", "Memory per campaign worker", body)


def main() -> None:
    runs = side_by_side(__doc__.splitlines()[0], lambda: run_demo(ROOT), run_demo)
    results = {**previous_results("memory"), "runs": runs}
    publish("memory", results, write_tables)


if __name__ == "__main__":
    main()
