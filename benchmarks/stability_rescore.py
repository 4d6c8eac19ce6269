"""The bundled model's unconditional stability and S.U.N., re-scored on each reference hull.

    python -m benchmarks.stability_rescore

The 1,000-sample stability run of ``benchmarks/generators.py`` (model ``mp20``, seed 11,
CHGNet 0.3.0, MP-20 hull: 34.6 % stable, 20.9 % S.U.N.) kept the rows of its first 427
relaxations (``benchmarks/results/mp20_1000_kept_rows.csv``: id, formula, status and
CHGNet's formation energy per sample); the relaxed structures were not kept, and the
samples cannot be drawn again identically (the sampler's defaults have changed since).
No relaxation is repeated: each kept formation energy is put on every reference hull
(:mod:`relax.reference_hull`). Per hull:

- stable: converged and E_hull ≤ 0.1 eV/atom (exact, on the 427);
- stable new compound: stable with a reduced formula neither MP-20 nor Materials
  Project holds (exact: a formula needs no structure);
- S.U.N., estimated: the run's published S.U.N. share (novelty by StructureMatcher
  against every MP-20 crystal, on the relaxed structures) times the share of its
  MP-20-stable samples that stay stable on this hull, on the 427; novelty and
  uniqueness do not depend on the hull, so only the stable part moves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from benchmarks import reporting
from gendesign.data.energy_tables import materials_project_formulas, mp20_formulas
from relax.reference_hull import HULLS, reference_hull
from relax.verdicts import STABLE

NAME = "stability_rescore"
KEPT = reporting.RESULTS / "mp20_1000_kept_rows.csv"
MODEL, SEED = "mp20", 11


def published_sun() -> float:
    """The 1,000-sample run's S.U.N. share (%) on the MP-20 hull, as benchmarks/generators.py
    published it."""
    import json

    generators = json.loads((reporting.RESULTS / "generators.json").read_text())
    return float(generators["stability"][MODEL]["sun_share"])


def run() -> dict:
    kept = pd.read_csv(KEPT, dtype={"id": str})
    converged = (kept["status"] == "converged").to_numpy()
    e_form = kept["e_form_eV_atom"].to_numpy(float)
    known_formulas = materials_project_formulas() | mp20_formulas()
    new_compound = ~kept["formula"].isin(known_formulas).to_numpy()
    stable = {}
    out: dict = {
        "samples": int(len(kept)),
        "converged": int(converged.sum()),
        "judge": "chgnet-0.3.0 (relaxed, through its fitted element references)",
        "published_sun_mp20": published_sun(),
        "hulls": {},
    }
    for name in HULLS:
        hull = reference_hull(name)
        e_hull = np.array(
            [
                hull.e_above_hull(Composition(f), e).e_above_hull
                if ok and np.isfinite(e)
                else np.nan
                for f, e, ok in zip(kept["formula"], e_form, converged, strict=True)
            ]
        )
        stable[name] = np.isfinite(e_hull) & (e_hull <= STABLE)
        out["hulls"][name] = {
            "hull": hull.label,
            "stable_share": 100 * float(stable[name].mean()),
            "stable_new_compound_share": 100 * float((stable[name] & new_compound).mean()),
            "median_e_hull": float(np.nanmedian(e_hull)),
            "below_hull_by_more_than_0.05": int((e_hull < -0.05).sum()),
        }
    for name in HULLS:
        kept_stable = (stable[name] & stable["mp20"]).sum() / max(stable["mp20"].sum(), 1)
        out["hulls"][name]["sun_share_estimated"] = out["published_sun_mp20"] * float(kept_stable)
        out["hulls"][name]["stays_stable_of_mp20_stable"] = float(kept_stable)
    return out


def write_tables(results: dict) -> None:
    r = results["rescore"]
    rows = [
        [h["hull"], f"{h['stable_share']:.1f} %", f"{h['stable_new_compound_share']:.1f} %",
         f"{h['sun_share_estimated']:.1f} %", f"{h['median_e_hull']:.3f}",
         h["below_hull_by_more_than_0.05"]]
        for h in r["hulls"].values()
    ]  # fmt: skip
    text = (
        f"The bundled `mp20` model's unconditional samples (seed {SEED}): the {r['samples']} "
        f"of the 1,000-sample stability run whose relaxation rows were kept ({r['converged']} "
        f"converged), re-scored without relaxing again. Judge: {r['judge']}. Stable: E_hull ≤ "
        f"{STABLE} eV/atom. New compound: a formula neither MP-20 nor Materials Project holds "
        "(formula-level novelty, exact). S.U.N. (structural novelty against every MP-20 "
        f"crystal, unique): the run's published {r['published_sun_mp20']:.1f} % on the MP-20 "
        "hull times the share of its MP-20-stable samples that stay stable on the hull "
        "(an estimate: the relaxed structures were not kept).\n\n"
        + reporting.markdown_table(
            [
                "hull",
                "stable",
                "stable, new compound",
                "S.U.N. (estimated)",
                "median E_hull (eV/atom)",
                "more than 0.05 below the hull",
            ],
            rows,
        )  # fmt: skip
    )
    reporting.update_section(NAME, "Unconditional stability on each reference hull", text)


def main() -> None:
    results = reporting.previous_results(NAME)
    results["rescore"] = run()
    reporting.publish(NAME, results, write_tables)


if __name__ == "__main__":
    main()
