"""Campaign store at scale: time per candidate to find pending work and to write results.

    python -m benchmarks.store                          # SQLite and PostgreSQL, 10³–10⁵ rows
    python -m benchmarks.store --rows 1000 10000        # fewer sizes
    python -m benchmarks.store --postgres postgresql://USER:PW@HOST/postgres

For each backend and size, a store of N candidates is filled where every candidate
passed the audit and all but the last ``BATCH`` went through the pre-screen. Then
the pre-screen's pending work is looked up (``candidates``) and its results are
written (``record``), as the campaign does for every batch; both are timed per
candidate, best of three. The previous store (commit ``BEFORE``: a Python scan
of every row with its data, no pending markers, no extra indexes) is measured
in the same run, side by side, at the sizes where it finishes in reasonable
time. Results: benchmarks/results/store.json and the BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import ase.db
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from benchmarks.reporting import ROOT, markdown_table, previous_results, publish, update_section
from gendesign.campaign.candidates import Outcome
from gendesign.campaign.config import STAGES
from gendesign.campaign.store import PENDING, STORE_VERSION, CampaignStore

BATCH = 32  # candidates per campaign batch (the default batch_size)
BEFORE = "fa4622b"  # the store before indexed pending queries
BEFORE_MAX_ROWS = 10_000  # it reads every row per query; larger sizes take minutes each
REPEATS = 3


def _structure(k: int) -> Structure:
    a = 4.0 + (k % 100) / 100
    return Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def fill(url: str, rows: int, pending_markers: bool) -> float:
    """Write ``rows`` candidates straight into the ASE database; returns seconds per row."""
    db = ase.db.connect(url)
    later = [f"{stage}_status" for stage in STAGES[2:]]
    started = time.perf_counter()
    with db:
        for k in range(rows):
            structure = _structure(k)
            keys = {"cid": f"c{k:06d}", "generate_status": "passed", "audit_status": "passed"}
            if pending_markers:
                keys.update(dict.fromkeys(later, PENDING))
            if k < rows - BATCH:
                keys["prescreen_status"] = "passed"
                keys["prescreen_e_hull_estimate"] = 0.1
            db.write(
                AseAtomsAdaptor.get_atoms(structure),
                key_value_pairs=keys,
                data={"generate": structure.as_dict()},
            )
    if pending_markers:
        db.metadata = {"store_version": STORE_VERSION}
    return (time.perf_counter() - started) / rows


def measure(store) -> dict:
    """Seconds per candidate to find the pending batch and to record its results."""
    find, write = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        pending = store.candidates({"audit_status": "passed", "prescreen_status": None})
        find.append((time.perf_counter() - started) / len(pending))
        assert len(pending) == BATCH, len(pending)
        outcomes = [Outcome(c.cid, "passed", values={"probe": 1.0}) for c in pending]
        started = time.perf_counter()
        store.record("screen", outcomes)  # a later stage: the pending batch stays pending
        write.append((time.perf_counter() - started) / len(outcomes))
    return {"find_ms_per_candidate": 1e3 * min(find), "write_ms_per_candidate": 1e3 * min(write)}


def previous_store_class():
    """``CampaignStore`` as it was at ``BEFORE``, loaded from git for a side-by-side run."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:gendesign/campaign/store.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "store_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("store_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CampaignStore


class _Postgres:
    """Fresh databases on a PostgreSQL server (``admin``: its maintenance URL)."""

    def __init__(self, admin: str):
        import psycopg2

        self.base = admin.rsplit("/", 1)[0]
        self.connection = psycopg2.connect(admin)
        self.connection.autocommit = True

    def new(self) -> str:
        name = f"gendesign_bench_{uuid.uuid4().hex[:10]}"
        self.connection.cursor().execute(f"CREATE DATABASE {name}")
        return f"{self.base}/{name}"

    def drop(self, url: str) -> None:
        self.connection.cursor().execute(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")


def run(rows: list[int], postgres: str | None) -> dict:
    before_class = previous_store_class()
    backends = ["sqlite"] + (["postgresql"] if postgres else [])
    server = _Postgres(postgres) if postgres else None
    results: dict = {}
    for backend in backends:
        for n in rows:
            for version in ("after", "before"):
                if version == "before" and n > BEFORE_MAX_ROWS:
                    continue
                if backend == "sqlite":
                    url = str(Path(tempfile.mkdtemp()) / "campaign.db")
                else:
                    url = server.new()
                fill_s = fill(url, n, pending_markers=version == "after")
                store = CampaignStore(url) if version == "after" else before_class(url)
                figures = {"rows": n, "fill_ms_per_row": 1e3 * fill_s, **measure(store)}
                results[f"{backend}/{n}/{version}"] = figures
                print(backend, version, figures, flush=True)
                if backend == "postgresql":
                    server.drop(url)
    return {"batch": BATCH, "before_commit": BEFORE, "runs": results}


def write_tables(results: dict) -> None:
    rows = []
    for key, r in results["runs"].items():
        backend, n, version = key.split("/")
        rows.append([
            backend, f"{int(n):,}", "indexed query (now)" if version == "after" else f"row scan ({BEFORE})",
            f"{r['find_ms_per_candidate']:.2f}", f"{r['write_ms_per_candidate']:.2f}",
            f"{r['fill_ms_per_row']:.2f}",
        ])  # fmt: skip
    body = (
        f"A store of N candidates (all audited, all but the last {results['batch']} pre-screened); "
        "the time per candidate to find the pending batch (`candidates`) and to write its results "
        "(`record`, one transaction), best of three. `row scan` is the store before indexed "
        "queries, measured in the same run (up to 10⁴ rows).\n\n"
        + markdown_table(
            ["backend", "rows", "store", "find ms/candidate", "write ms/candidate", "fill ms/row"],
            rows,
        )  # fmt: skip
    )
    update_section("store", "Campaign store at scale", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--postgres", help="maintenance URL of a PostgreSQL server")
    args = parser.parse_args()
    results = {**previous_results("store"), **run(args.rows, args.postgres)}
    publish("store", results, write_tables)


if __name__ == "__main__":
    sys.exit(main())
