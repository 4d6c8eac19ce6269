"""The bundled model's unconditional stability and S.U.N., re-scored on each reference hull.

    python -m benchmarks.stability_rescore

The 1,000-sample stability run of ``benchmarks/generators.py`` (model ``mp20``, seed 11,
CHGNet 0.3.0, MP-20 hull) kept the rows of its first 427 relaxations
(``benchmarks/results/mp20_1000_kept_rows.csv``: id, formula, status and CHGNet's
formation energy per sample); the relaxed structures of the rest were not kept. No
relaxation is repeated here: each kept formation energy is put on every reference hull
(:mod:`relax.reference_hull`).

Novelty and uniqueness come from the samples themselves: the same 1,000 valid samples
are drawn again (same model, seed and sampling; each kept formula is checked against
the regenerated sample of its id) and audited against every MP-20 crystal
(StructureMatcher), as generated, since the relaxed structures were not kept. A sample
is S.U.N. when it is stable (converged, E_hull ≤ 0.1 eV/atom), unique among the kept
samples and not a known MP-20 crystal; *new compound* also asks for a formula that
neither Materials Project (:func:`gendesign.data.energy_tables.materials_project_formulas`)
nor MP-20 holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from benchmarks import reporting
from benchmarks.generators import _sample
from gendesign.audit.runner import audit
from gendesign.data.energy_tables import materials_project_formulas, mp20_formulas
from gendesign.model.generator import Generator
from relax.reference_hull import HULLS, reference_hull
from relax.verdicts import STABLE

NAME = "stability_rescore"
KEPT = reporting.RESULTS / "mp20_1000_kept_rows.csv"
MODEL, N, SEED = "mp20", 1000, 11


def regenerated_samples(ids: list[str]) -> dict[str, object]:
    """The valid samples of the stability run, by id (``s00000`` is the first valid one)."""
    generator = Generator.load(MODEL, "cpu")
    structures, _ = _sample(generator, int(N * 1.3) + 10, seed=SEED)
    checked = audit(structures, reference=None).table
    valid = [s for s, ok in zip(structures, checked["valid"], strict=True) if ok][:N]
    wanted = set(ids)
    return {f"s{k:05d}": s for k, s in enumerate(valid) if f"s{k:05d}" in wanted}


def run() -> dict:
    kept = pd.read_csv(KEPT, dtype={"id": str})
    samples = regenerated_samples(kept["id"].tolist())
    same = [
        samples[i].composition.reduced_formula == f
        for i, f in zip(kept["id"], kept["formula"], strict=True)
    ]
    judged = audit([samples[i] for i in kept["id"]], reference="mp20", coverage="off").table
    novel = judged["novel"].fillna(False).to_numpy(bool)
    unique = judged["unique"].fillna(False).to_numpy(bool)
    framework = (judged["novelty_class"] == "novel-framework").to_numpy()
    known_formulas = materials_project_formulas() | mp20_formulas()
    new_compound = ~kept["formula"].isin(known_formulas).to_numpy()
    converged = (kept["status"] == "converged").to_numpy()
    e_form = kept["e_form_eV_atom"].to_numpy(float)
    out: dict = {
        "samples": int(len(kept)),
        "formulas_reproduced": int(sum(same)),
        "converged": int(converged.sum()),
        "judge": "chgnet-0.3.0 (relaxed, through its fitted element references)",
        "novelty": "StructureMatcher against every MP-20 crystal, on the sample as generated",
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
        stable = np.isfinite(e_hull) & (e_hull <= STABLE)
        sun = stable & novel & unique
        out["hulls"][name] = {
            "hull": hull.label,
            "stable_share": 100 * float(stable.mean()),
            "sun_share": 100 * float(sun.mean()),
            "sun_novel_framework_share": 100 * float((sun & framework).mean()),
            "sun_new_compound_share": 100 * float((sun & new_compound).mean()),
            "median_e_hull": float(np.nanmedian(e_hull)),
            "below_hull_by_more_than_0.05": int((e_hull < -0.05).sum()),
        }
    return out


def write_tables(results: dict) -> None:
    r = results["rescore"]
    rows = [
        [h["hull"], f"{h['stable_share']:.1f} %", f"{h['sun_share']:.1f} %",
         f"{h['sun_novel_framework_share']:.1f} %", f"{h['sun_new_compound_share']:.1f} %",
         f"{h['median_e_hull']:.3f}", h["below_hull_by_more_than_0.05"]]
        for h in r["hulls"].values()
    ]  # fmt: skip
    text = (
        f"The bundled `mp20` model's unconditional samples (seed {SEED}): the {r['samples']} "
        f"of the 1,000-sample stability run whose relaxation rows were kept ({r['converged']} "
        f"converged), re-scored without relaxing again. Judge: {r['judge']}. Novelty: "
        f"{r['novelty']} ({r['formulas_reproduced']} of {r['samples']} regenerated samples "
        "have the kept formula). S.U.N.: stable (≤ 0.1 eV/atom), unique among these samples, "
        "not a known MP-20 crystal; new framework: no known crystal of its prototype either; "
        "new compound: a formula neither MP-20 nor Materials Project holds.\n\n"
        + reporting.markdown_table(
            [
                "hull",
                "stable",
                "S.U.N.",
                "S.U.N., new framework",
                "S.U.N., new compound",
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
