"""Campaign benchmarks: the demo's wall time per stage, Dask vs local processes, targeting lift.

    python -m benchmarks.campaign --demo        # demo config, local processes, time per stage
    python -m benchmarks.campaign --dask        # the same on a Dask LocalCluster: identical? ratio
    python -m benchmarks.campaign --lift        # steered vs unsteered vs untargeted campaigns

Each arm runs into a fresh folder under benchmarks/results/campaign-runs/ (git-ignored);
results merge into benchmarks/results/campaign.json and the BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np
import pandas as pd

from benchmarks.reporting import (
    RESULTS,
    markdown_table,
    previous_results,
    publish,
    update_section,
)
from gendesign.campaign.config import STAGES, CampaignConfig
from gendesign.campaign.pipeline import run_campaign
from gendesign.config import load_config

RUNS = RESULTS / "campaign-runs"
DEMO = "configs/campaign/demo.yaml"
TIMING_COLUMNS = {"relax_seconds"}


def _run(arm: str, overrides: dict | None = None, **options) -> tuple[dict, pd.DataFrame]:
    folder = RUNS / arm
    shutil.rmtree(folder, ignore_errors=True)
    config = load_config(CampaignConfig, DEMO, {"out_dir": str(folder), **(overrides or {})})
    started = time.perf_counter()
    run = run_campaign(config, **options)
    wall = time.perf_counter() - started
    table = run.store.table()
    facts = {
        "candidates": config.generate.n,
        "wall_s": round(wall, 1),
        "candidates_per_min": round(config.generate.n / wall * 60, 1),
        "stage_s": {k: round(v, 1) for k, v in run.seconds.items()},
        "funnel": _funnel(table),
        **_targeting(config, table),
    }
    return facts, table


def _funnel(table: pd.DataFrame) -> dict[str, int]:
    return {
        stage: int((table.get(f"{stage}_status") == "passed").sum())
        if f"{stage}_status" in table
        else 0
        for stage in STAGES
    }


def _targeting(config: CampaignConfig, table: pd.DataFrame) -> dict:
    """Share of candidates whose GNN prediction meets band_gap 0.5–3 eV (the demo's
    target): among all valid generated candidates, and among the final ranked ones."""
    low, high = 0.5, 3.0
    screened = table["screen_band_gap"].dropna() if "screen_band_gap" in table else pd.Series([])
    final = table[table.get("rank_status") == "passed"] if "rank_status" in table else table[:0]
    relaxed_gap = final["reaudit_band_gap"] if "reaudit_band_gap" in final else pd.Series([])
    e_hull = final["relax_e_above_hull_eV_atom"] if len(final) else pd.Series([])
    return {
        "valid_in_range": round(float(screened.between(low, high).mean()), 3)
        if len(screened)
        else None,
        "valid_screened": len(screened),
        "final": len(final),
        "final_in_range": round(float(relaxed_gap.between(low, high).mean()), 3)
        if len(final)
        else None,
        "final_stable": round(float((e_hull <= 0.1).mean()), 3) if len(final) else None,
        "final_in_range_and_stable": round(
            float((relaxed_gap.between(low, high) & (e_hull <= 0.1)).mean()), 3
        )
        if len(final)
        else None,
    }


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    columns = sorted(c for c in table.columns if c not in TIMING_COLUMNS)
    return table[columns].sort_values("cid").reset_index(drop=True)


def demo_and_dask(with_dask: bool) -> dict:
    local, local_table = _run("local-processes", workers=2)
    results = {"local": local}
    if with_dask:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
            dask, dask_table = _run("dask", scheduler=cluster.scheduler_address)
        a, b = _comparable(local_table), _comparable(dask_table)
        identical = a.columns.equals(b.columns) and a.equals(b)
        numeric = a.select_dtypes("number").columns
        dask["identical_to_local"] = bool(identical)
        dask["max_abs_difference"] = (
            float(np.nanmax(np.abs(a[numeric].to_numpy(float) - b[numeric].to_numpy(float))))
            if a.columns.equals(b.columns)
            else None
        )
        dask["throughput_ratio_vs_local"] = round(
            dask["candidates_per_min"] / local["candidates_per_min"], 2
        )
        results["dask"] = dask
    return results


def lift() -> dict:
    """Steered (the demo), unsteered (no latent steering, same screening) and
    untargeted (no targets at all) campaigns of the same size."""
    arms = {
        "steered": {},
        "unsteered": {"generate.steering_steps": 0},
        "untargeted": {"targets": {}},
    }
    return {name: _run(f"lift-{name}", overrides, workers=2)[0] for name, overrides in arms.items()}


def write_tables(results: dict) -> None:
    parts = []
    if "local" in results:
        header = ["run", "candidates", "wall (s)", "candidates/min", *STAGES, "report"]
        rows = []
        for name in ("local", "dask"):
            if name in results:
                r = results[name]
                rows.append(
                    [name, r["candidates"], r["wall_s"], r["candidates_per_min"]]
                    + [r["stage_s"].get(s, "") for s in (*STAGES, "report")]
                )
        parts.append(
            "Demo campaign (`configs/campaign/demo.yaml`: 200 candidates, 10×20 schedule, "
            "CHGNet relaxation of the best 16), seconds per stage on 2 local worker processes "
            "and on a Dask LocalCluster of 2 single-threaded workers, in one run:\n\n"
            + markdown_table(header, rows)
        )
        funnel = results["local"]["funnel"]
        parts.append(
            "Funnel (passed per stage): " + ", ".join(f"{k} {v}" for k, v in funnel.items()) + "."
        )
        if "dask" in results:
            d = results["dask"]
            parts.append(
                f"Dask vs local processes: identical stores (ids and every value but the "
                f"relaxation seconds): **{'yes' if d['identical_to_local'] else 'no'}**"
                f" (largest numeric difference {d['max_abs_difference']}); throughput ratio "
                f"Dask / local = **{d['throughput_ratio_vs_local']}**."
            )
    if "lift" in results:
        header = ["campaign", "valid screened", "valid in range", "final", "final in range",
                  "final stable", "final in range and stable"]  # fmt: skip
        rows = [
            [name, r["valid_screened"], r["valid_in_range"], r["final"], r["final_in_range"],
             r["final_stable"], r["final_in_range_and_stable"]]
            for name, r in results["lift"].items()
        ]  # fmt: skip
        parts.append(
            "Targeting (band gap 0.5–3 eV, judged by the GNN ensemble's mean; final = ranked after "
            "relaxation, band gap predicted on the relaxed structure, stable = E_hull ≤ 0.1 eV/atom). "
            "steered = the demo; unsteered = no latent steering, same screening; untargeted = no "
            "targets (screening ranks by predicted formation energy):\n\n"
            + markdown_table(header, rows)
        )
    update_section("campaign", "Discovery campaigns", "\n\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--dask", action="store_true")
    parser.add_argument("--lift", action="store_true")
    args = parser.parse_args()
    results = previous_results("campaign")
    if args.demo or args.dask:
        results.update(demo_and_dask(args.dask))
    if args.lift:
        results["lift"] = lift()
    publish("campaign", results, write_tables)


if __name__ == "__main__":
    main()
