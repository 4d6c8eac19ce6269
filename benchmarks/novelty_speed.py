"""Novelty at speed: a 10,000-sample mp20 audit, novelty included, this code beside an
earlier checkout in one run, and how their verdicts differ.

    python -m benchmarks.novelty_speed --before PATH [--before-label LABEL]

Both audit the same samples of the bundled mp20 model (``gendesign sample --n 10000
--seed 0``, made once) with ``gendesign audit SAMPLES --reference mp20 --no-coverage
--workers 2``: per-structure checks (site fingerprints included), uniqueness and novelty
against every MP-20 crystal. Coverage itself is left out: it adds only a comparison of
fingerprints (11 s at 10,000 samples) once the reference's fingerprints are cached, and
building that cache (about 15 minutes, once per machine) is no part of either code's
audit. The known crystals' descriptors are cached by an untimed audit of 150 other
samples first, for each checkout, so neither run pays for them.
Set ``GENDESIGN_NOVELTY_SAMPLES`` to use another count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks import reporting

NAME = "novelty_speed"
WORK = reporting.ROOT / "outputs" / "benchmarks" / "novelty-speed"
SAMPLES = int(os.environ.get("GENDESIGN_NOVELTY_SAMPLES", "10000"))
WORKERS = 2


def _gendesign(checkout: Path, *args: str, log: Path) -> float:
    """Run ``gendesign ARGS`` from ``checkout``'s code; wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    started = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, "-m", "gendesign", *args],
            cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, check=True,
        )  # fmt: skip
    return time.perf_counter() - started


def _samples(folder: Path, n: int, seed: int) -> Path:
    if not (folder / "structures.extxyz").exists():
        args = [
            "sample",
            "--model",
            "mp20",
            "--n",
            str(n),
            "--seed",
            str(seed),
            "--out",
            str(folder),
        ]
        _gendesign(reporting.ROOT, *args, log=folder.parent / f"{folder.name}.log")
    return folder


def measure(checkout: Path, label: str) -> dict:
    """Warm the caches, then time the audit of the benchmark's samples."""
    samples = _samples(WORK / f"samples-{SAMPLES}", SAMPLES, seed=0)
    warm_samples = _samples(WORK / "warm-samples", 150, seed=1)
    out = WORK / f"audit-{label}"
    _gendesign(checkout, "audit", str(warm_samples), "--reference", "mp20", "--no-coverage",
               "--out", str(WORK / f"warm-{label}"), log=WORK / f"warm-{label}.log")  # fmt: skip
    wall = _gendesign(checkout, "audit", str(samples), "--reference", "mp20", "--no-coverage",
                      "--workers", str(WORKERS), "--out", str(out),
                      log=WORK / f"audit-{label}.log")  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    table = pd.read_csv(out / "structures.csv", usecols=["novelty_class"])
    return {
        "wall_s": round(wall, 1),
        "stages_s": summary["timing_s"],
        "classes": table["novelty_class"].fillna("").value_counts().to_dict(),
        "n_items": summary["n_items"],
        "table": str(out / "structures.csv"),
    }


def verdict_differences(before: dict, now: dict) -> dict:
    """Per structure, how the two audits' novelty classes differ."""
    columns = ["id", "novelty_class"]
    old = pd.read_csv(before["table"], usecols=columns).fillna("")
    new = pd.read_csv(now["table"], usecols=columns).fillna("")
    joined = old.merge(new, on="id", suffixes=("_before", "_now"))
    changed = joined[joined["novelty_class_before"] != joined["novelty_class_now"]]
    pairs = changed.groupby(["novelty_class_before", "novelty_class_now"]).size()
    known_before = joined["novelty_class_before"] == "known"
    known_now = joined["novelty_class_now"] == "known"
    return {
        "compared": len(joined),
        "changed": len(changed),
        "known_changed": int((known_before != known_now).sum()),
        "changes": {f"{a} → {b}": int(n) for (a, b), n in pairs.items()},
    }


def write_tables(results: dict) -> None:
    runs = results.get("runs")
    if not runs:
        return
    rows = []
    for label, run in runs.items():
        stages = run["stages_s"]
        rows.append([
            label, f"{run['n_items']:,}", f"{run['wall_s']:.0f}", f"{stages.get('checks', 0):.0f}",
            f"{stages.get('novelty', 0):.0f}", f"{stages.get('uniqueness', 0):.0f}",
            ", ".join(f"{k or 'invalid'} {v:,}" for k, v in sorted(run["classes"].items())),
        ])  # fmt: skip
    diff = results["differences"]
    changes = "; ".join(f"{k}: {v}" for k, v in diff["changes"].items()) or "none"
    labels = list(runs)
    ratio = runs[labels[0]]["stages_s"]["novelty"] / max(runs["now"]["stages_s"]["novelty"], 1e-9)
    body = "\n\n".join([
        f"{results['samples']:,} samples of the bundled mp20 model (seed 0), audited with "
        f"`gendesign audit SAMPLES --reference mp20 --no-coverage --workers {WORKERS}` "
        "(per-structure checks, uniqueness, novelty against all three MP-20 splits), each "
        "checkout after an untimed warm-up that caches the known crystals' descriptors. "
        "Target: the audit, novelty included, in at most 10 minutes on 2 cores. The checks "
        "include the site fingerprints that coverage compares; coverage itself is left out, "
        "as with the reference's fingerprints cached it adds about 11 s at this size, and "
        "building that cache once per machine (about 15 minutes) is no part of the audit.",
        reporting.markdown_table(
            ["code", "structures", "audit s", "checks s", "novelty s", "uniqueness s",
             "novelty classes"], rows),
        f"Novelty matching {ratio:.1f}× faster. Verdicts of the {diff['compared']:,} structures: "
        f"{diff['changed']:,} changed class, {diff['known_changed']} of them to or from `known` "
        f"({changes}). What changed: a substitution-derived crystal now needs a known crystal of "
        "its own prototype (space group and Wyckoff letters per element), and a pair is fitted "
        "only where StructureMatcher's lattice search can succeed (exact) and where its formula "
        "or prototype agrees; the `known` verdict is StructureMatcher's on every known crystal "
        "of the same formula, as before.",
    ])  # fmt: skip
    reporting.update_section(NAME, "Novelty at speed", body)


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    facts = reporting.measurement_facts()
    runs = reporting.side_by_side(
        __doc__.splitlines()[0],
        lambda: measure(reporting.ROOT, "now"),
        lambda checkout: measure(checkout, "before"),
    )
    results = reporting.previous_results(NAME)
    results.update({"samples": SAMPLES, "runs": runs})
    before = next(label for label in runs if label != "now")
    results["differences"] = verdict_differences(runs[before], runs["now"])
    reporting.mark_measured(results, "runs", [f"{SAMPLES} mp20 samples"], facts)
    reporting.publish(NAME, results, write_tables)


if __name__ == "__main__":
    main()
