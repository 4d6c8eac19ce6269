"""Large inputs in bounded time, and how fast a command stops on SIGTERM.

python -m benchmarks.bounded_time [--sizes 1000 5000 6000 9600] [--stop-after 8 30]

Large cells: rock-salt supercells (every atom moved at random, σ 0.05 Å, seed 0: no
symmetry left) written as P1 CIFs and audited by the CLI as a user runs it
(``gendesign audit cell.cif``, default reference mp20), one process each: wall time and
the audit's own stage seconds, or the sentence it declines the cell with.
Stopping: ``gendesign audit`` on the largest cell within the limit and the README's demo campaign
are sent SIGTERM (as ``timeout`` or a batch scheduler does) after the given seconds;
the time until the process has exited, its exit code, and whether any process it
started is left behind.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.reporting import (
    ROOT,
    markdown_table,
    measurement_facts,
    update_section,
    write_result,
)

NAME = "bounded_time"
COMMAND = [sys.executable, "-m", "gendesign"]


def rocksalt_cif(atoms: int, folder: Path) -> tuple[Path, int]:
    """A low-symmetry rock-salt supercell of about ``atoms`` atoms as a P1 CIF."""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    cell = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    side = (atoms / 8) ** (1 / 3)
    repeat = [max(1, round(side))] * 2
    repeat.append(max(1, round(atoms / (8 * repeat[0] * repeat[1]))))
    cell.make_supercell(repeat)
    noise = np.random.default_rng(0).normal(0, 0.05, (len(cell), 3))
    cell = Structure(
        cell.lattice, cell.species, cell.cart_coords + noise, coords_are_cartesian=True
    )
    path = folder / f"rocksalt-{len(cell)}.cif"
    cell.to(filename=str(path))
    return path, len(cell)


def audit_cell(path: Path, atoms: int, folder: Path) -> dict:
    out = folder / f"audit-{atoms}"
    started = time.perf_counter()
    done = subprocess.run([*COMMAND, "audit", str(path), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - started
    summary = (
        json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    )
    declined = next(
        (line.strip() for line in done.stdout.splitlines() if "not audited:" in line), ""
    )
    return {
        "atoms": atoms,
        "wall_s": round(wall, 1),
        "exit_code": done.returncode,
        "audited": summary.get("counts", {}).get("readable", 0) == 1,
        "stage_s": summary.get("timing_s", {}),
        "declined": declined,
    }


def stop_on_sigterm(command: list[str], after_s: float) -> dict:
    """Seconds from SIGTERM to exit, the exit code, and processes left behind."""
    import psutil

    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    time.sleep(after_s)
    children = psutil.Process(process.pid).children(recursive=True)
    sent = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    stopped = time.perf_counter() - sent
    time.sleep(1.0)
    left = [child.pid for child in children if child.is_running() and child.status() != "zombie"]
    last = (process.stderr.read().strip().splitlines() or [""])[-1]
    return {"after_s": after_s, "stop_s": round(stopped, 2), "exit_code": code,
            "left_running": len(left), "said": last[:160]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[1000, 4600, 5000, 6000, 9600])
    parser.add_argument("--stop-after", nargs="*", type=float, default=[8.0, 30.0])
    args = parser.parse_args()
    facts = measurement_facts()
    results: dict = {"cells": [], "stops": []}
    with tempfile.TemporaryDirectory(prefix="gendesign-bounded-") as name:
        folder = Path(name)
        cells = [rocksalt_cif(size, folder) for size in args.sizes]
        for path, atoms in cells:
            results["cells"].append(audit_cell(path, atoms, folder))
            print(results["cells"][-1], flush=True)
        five = max((c for c in cells if c[1] <= 5000), key=lambda c: c[1])[0]
        for after in args.stop_after:
            for label, command in (
                (f"audit {five.stem}", [*COMMAND, "audit", str(five), "--out", str(folder / "stopped")]),
                ("campaign demo", [*COMMAND, "campaign", "configs/campaign/demo.yaml",
                                   "--out", str(folder / f"demo-{after:g}")]),
            ):  # fmt: skip
                row = {"command": label, **stop_on_sigterm(command, after)}
                results["stops"].append(row)
                print(row, flush=True)
    results["measured"] = {"large cells and SIGTERM `all`": facts}
    write_result(NAME, results)
    write_tables(results)


def write_tables(results: dict) -> None:
    cells = markdown_table(
        ["atoms", "wall (s)", "answer", "audit stages (s)"],
        [
            [
                f"{c['atoms']:,}",
                f"{c['wall_s']:.1f}",
                "audited" if c["audited"] else (c["declined"] or f"exit {c['exit_code']}"),
                ", ".join(f"{k} {v:.1f}" for k, v in c["stage_s"].items()) or "–",
            ]
            for c in results["cells"]
        ],
    )
    stops = markdown_table(
        ["command", "SIGTERM after (s)", "stopped in (s)", "exit code", "processes left", "last line"],
        [[s["command"], f"{s['after_s']:g}", f"{s['stop_s']:.2f}", s["exit_code"], s["left_running"], s["said"]]
         for s in results["stops"]],
    )  # fmt: skip
    body = (
        "Large cells: low-symmetry rock-salt supercells as P1 CIFs, each audited by the CLI "
        "(`gendesign audit cell.cif`, reference mp20, warm cache), wall time including start-up. "
        "Cells over `--max-atoms` (5,000) are declined from the CIF's atom-site rows before "
        "they are parsed. Target: every input answered or declined within 60 s.\n\n"
        + cells
        + "\n\nStopping: SIGTERM (as `timeout` or a batch scheduler sends it) to the audit of "
        "the largest cell within the limit and to the demo campaign, some seconds after they start. "
        "Target: stopped within 10 s, no process left behind.\n\n" + stops
    )
    update_section(NAME, "Large inputs in bounded time, and stopping on SIGTERM", body)


if __name__ == "__main__":
    main()
