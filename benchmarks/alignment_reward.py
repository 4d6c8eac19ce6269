"""How many FIRE steps the alignment reward needs: reward noise against cost.

    python -m benchmarks.alignment_reward run [--n 100] [--steps 0 10 30 60]

``mp20-base``'s (the model before alignment) first ``n`` valid unconditional samples (seed 21) are scored as the
alignment scores them (:mod:`gendesign.alignment.reward`: CHGNet 0.3.0, the full hull)
after 0 (a single point on the sample as drawn), 10, 30, 60 FIRE steps, and after a
full relaxation (fmax 0.05 eV/Å, ≤ 500 steps), the reference. Per step count: the
agreement of "stable" (E_hull ≤ 0.1 eV/atom) with the full relaxation's verdict, the
rank correlation and mean absolute difference of E_hull, and the compute per sample.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import spearmanr

from benchmarks import reporting
from gendesign.alignment.config import RewardSection
from gendesign.alignment.reward import REWARD_COLUMN, score

NAME = "alignment_reward"
FULL_STEPS = 500


def run(n: int, steps: list[int]) -> dict:
    from gendesign.audit.runner import audit
    from gendesign.model.generator import Generator

    generator = Generator.load("mp20-base", "cpu")  # the model the alignment started from
    drawn = generator.sample(int(n * 1.2) + 5, seed=21)
    valid = audit(drawn, reference=None, coverage="off").table["valid"].to_numpy(bool)
    samples = [s for s, ok in zip(drawn, valid, strict=True) if ok][:n]
    ids = [f"r{k:04d}" for k in range(len(samples))]
    figures: dict = {"samples": len(samples), "judge": "chgnet-0.3.0", "hull": "full"}
    by_steps: dict[int, tuple[np.ndarray, float]] = {}
    for count in [*steps, FULL_STEPS]:
        started = time.perf_counter()
        table = score(ids, samples, RewardSection(steps=count), folder=None)
        by_steps[count] = (table[REWARD_COLUMN].to_numpy(float), time.perf_counter() - started)
        print(count, "steps:", round(by_steps[count][1], 1), "s", flush=True)
    reference, full_seconds = by_steps[FULL_STEPS]
    rows = {}
    for count, (values, seconds) in by_steps.items():
        both = np.isfinite(values) & np.isfinite(reference)
        stable, truth = values[both] <= 0.1, reference[both] <= 0.1
        rows[str(count)] = {
            "scored": int(both.sum()),
            "stable_share": 100 * float(stable.mean()),
            "verdict_agreement": 100 * float((stable == truth).mean()),
            "false_stable": int((stable & ~truth).sum()),
            "missed_stable": int((~stable & truth).sum()),
            "spearman": float(spearmanr(values[both], reference[both]).statistic),
            "mae_eV_atom": float(np.abs(values[both] - reference[both]).mean()),
            "seconds_per_sample": seconds / len(samples),
            "cost_vs_full": seconds / full_seconds,
        }
    figures["by_steps"] = rows
    return figures


def write_tables(results: dict) -> None:
    run_ = results.get("run")
    if not run_:
        return
    rows = [
        [
            "full (≤ 500)" if steps == str(FULL_STEPS) else steps,
            f"{r['stable_share']:.1f} %",
            f"{r['verdict_agreement']:.1f} %",
            r["false_stable"],
            r["missed_stable"],
            f"{r['spearman']:.3f}",
            f"{r['mae_eV_atom']:.3f}",
            f"{r['seconds_per_sample']:.2f}",
            f"{r['cost_vs_full']:.2f}",
        ]
        for steps, r in run_["by_steps"].items()
    ]
    body = (
        f"{run_['samples']} valid unconditional samples of `mp20-base` (the model before alignment; seed 21), "
        f"scored as the alignment reward scores them: judge {run_['judge']} through its fitted "
        f"element references, {run_['hull']} hull (MP-20 + MPTS-52 + Materials Project "
        "formation energies). Reference: a full relaxation (fmax 0.05 eV/Å, ≤ 500 FIRE steps); "
        "stable: E_hull ≤ 0.1 eV/atom; a sample still moving is scored by its last energy.\n\n"
        + reporting.markdown_table(
            [
                "FIRE steps",
                "stable",
                "verdict = full",
                "false stable",
                "missed stable",
                "Spearman ρ",
                "MAE E_hull (eV/atom)",
                "s per sample",
                "cost / full",
            ],
            rows,
        )  # fmt: skip
    )
    reporting.update_section(NAME, "Alignment reward: FIRE steps against agreement", body)


def main(argv: list[str] | None = None) -> None:
    reporting.run_or_tables(
        NAME, __doc__, run, write_tables, {"n": 100, "steps": [0, 10, 30, 60]}, argv
    )


if __name__ == "__main__":
    main()
