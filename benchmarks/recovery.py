"""Constrained generation: does `--elements` find a chemical system's known compounds?

    python -m benchmarks.recovery run [--models mp20 ...] [--n 40]
    python -m benchmarks.recovery tables

Eight systems, fixed before any alignment: Mg-Al-O (spinel MgAl2O4), Li-Fe-P-O
(olivine LiFePO4; Li3PO4 lies in the Li-P-O subsystem and needs ``--within``) and
the six of "Chemistry under element constraints", whose compounds occur only in
MP-20's test split. Per system and model, ``n`` samples as ``gendesign sample
--elements`` makes them (every element present, formulas planned toward the hull,
every other sample of a formula decoded through a known framework of its
stoichiometry), with the system held out twice: the composition planner's hull and
the framework library lack every phase and crystal of the system itself, so a
recovered compound is one the generator was not shown.

Relaxed by CHGNet 0.3.0 (≤ 300 FIRE steps, fmax 0.05 eV/Å): the first
``targeted`` samples with a known compound's formula and ``others`` drawn at random;
E_hull through CHGNet's fitted element references on the full hull. A known
compound is recovered when a relaxed sample of its formula matches one of its known
crystals with positions (StructureMatcher, audit tolerances; MP-20 val/test, MPTS-52)
and is stable (E_hull ≤ 0.1 eV/atom), or, where no position-bearing crystal of a
stable phase exists, when it has the formula and E_hull ≤ 0.05 eV/atom. S.U.N. in
the system: relaxed, stable, of a formula neither MP-20 nor Materials Project holds,
and unique among the relaxed.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from benchmarks import reporting
from benchmarks.relaxing import relax_by_index

NAME = "recovery"
# system → the known stable compounds it is asked to find
SYSTEMS = {
    "Al-Mg-O": ["MgAl2O4"],
    "Fe-Li-O-P": ["LiFePO4", "Li3PO4"],
    "Ca-N-Si": ["CaSiN2"],
    "Cl-Li-O": ["Li3ClO"],
    "Cd-P-Si": ["CdSiP2"],
    "K-La-S": ["KLaS2"],
    "B-In-O": ["InBO3"],
    "F-Ga-Na": ["Na3GaF6"],
}
E_HULL_STABLE = 0.1  # eV/atom
E_HULL_FORMULA_ONLY = 0.05  # eV/atom: recovery by formula where no structure is known


def system_of(composition) -> str:
    return "-".join(sorted(el.symbol for el in composition.elements))


def known_structures(data_root=None) -> dict[str, list]:
    """Position-bearing crystals of each target formula: MP-20 val/test and MPTS-52
    (DFT E_hull ≤ 0.1 eV/atom)."""
    import warnings

    from pymatgen.core import Structure

    from gendesign.data.datasets import load_dataset
    from gendesign.data.energy_tables import MPTS52_SPLITS, read_mpts52

    targets = {f for formulas in SYSTEMS.values() for f in formulas}
    found: dict[str, list] = {f: [] for f in targets}
    data = load_dataset("mp20")
    for split in ("train", "holdout", "test"):  # train + holdout: MP-20 val, positions
        if split in data.splits:
            for s in data.crystal_set(split).structures:
                if s.composition.reduced_formula in targets:
                    found[s.composition.reduced_formula].append(s)
    for split in MPTS52_SPLITS:
        table = read_mpts52(split, data_root)
        rows = table[table["formula"].isin(targets) & (table["energy_above_hull"] <= 0.1)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in rows.itertuples():
                found[row.formula].append(Structure.from_str(row.cif, fmt="cif"))
    return found


def hull_without(hull, system: str):
    """``hull`` without the phases of ``system`` itself (its subsystems stay)."""
    from relax.hull import HullReference

    held_out = HullReference((), f"{hull.name} without {system}", hull.sources)
    held_out.by_system = {
        k: v for k, v in hull.by_system.items() if k != frozenset(system.split("-"))
    }
    held_out.elements = hull.elements
    return held_out


def run(models: list[str], n: int, seed: int = 0, targeted: int = 8, others: int = 4) -> dict:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from gendesign.audit.composition import structure_balanced
    from gendesign.audit.matching import MATCHER_TOLERANCES
    from gendesign.campaign import resources
    from gendesign.data.energy_tables import materials_project_formulas, mp20_formulas
    from gendesign.model.common.constraints import Constraints
    from gendesign.model.generator import Generator
    from gendesign.sources.formula_decodes import FormulaDecoder, framework_crystals, sample_planned
    from gendesign.sources.hull_compositions import (
        HullCompositionPlanner,
        plan_compositions,
        stoichiometry_type,
    )
    from predictors.composition import bundled_judge
    from relax.potentials import load_potential
    from relax.reference_hull import reference_hull
    from relax.runner import stability_references

    potential = load_potential("chgnet-0.3.0")
    references, hull = stability_references(potential, hull="full")
    matcher = StructureMatcher(**MATCHER_TOLERANCES)
    known = known_structures()
    known_formulas = materials_project_formulas() | mp20_formulas()
    results: dict = {}
    for model in models:
        generator = Generator.load(model, "cpu")
        training = resources.known_crystals(generator.checkpoint.dataset, None)
        results[model] = {}
        for system, targets in SYSTEMS.items():
            started = time.perf_counter()
            constraints = Constraints.parse(elements=system.replace("-", ","))
            planner = HullCompositionPlanner(
                bundled_judge(), hull_without(reference_hull("full"), system)
            )
            planned = plan_compositions(
                planner, n, seed, constraints, generator.model.max_atoms,
                lambda count, at, c=constraints, g=generator: g.propose_compositions(count, at, c),
            )  # fmt: skip
            compositions = [p.composition for p in planned]
            kinds = {stoichiometry_type(c.reduced_formula) for c in compositions}
            decoder = FormulaDecoder(
                framework_crystals(kinds, training), constraints, leave_out={system}
            )
            structures, table = sample_planned(
                generator, compositions, seed, constraints, generator.sampling_defaults, decoder
            )
            generate_seconds = time.perf_counter() - started
            formulas = [s.composition.reduced_formula for s in structures]
            aimed = [k for k, f in enumerate(formulas) if f in targets][:targeted]
            rest = [k for k in range(len(structures)) if k not in set(aimed)]
            drawn = np.random.default_rng(seed).permutation(rest)[:others].tolist()
            chosen = sorted(aimed + drawn)
            rows, relaxed, relax_seconds = relax_by_index(
                {k: structures[k] for k in chosen}, potential, references, hull
            )
            e_hull = {
                k: float(row["e_above_hull_eV_atom"])
                for k, row in rows.items()
                if row["status"] != "failed" and relaxed[k] is not None
            }
            stable = {k for k, e in e_hull.items() if e <= E_HULL_STABLE}
            recovered = []
            for formula in targets:
                candidates = [k for k in stable if formulas[k] == formula]
                if known[formula]:
                    hit = any(
                        matcher.fit(relaxed[k], ref) for k in candidates for ref in known[formula]
                    )
                else:
                    hit = any(e_hull[k] <= E_HULL_FORMULA_ONLY for k in candidates)
                if hit:
                    recovered.append(formula)
            new = [
                k for k in stable if relaxed[k].composition.reduced_formula not in known_formulas
            ]
            unique_new = len({relaxed[k].composition.reduced_formula for k in new})
            counts = Counter(formulas)
            by_framework = table["decoder"] == "framework"
            results[model][system] = {
                "targets": targets,
                "n": len(structures),
                "all_present": 100
                * float(
                    np.mean(
                        [
                            {el.symbol for el in s.composition.elements} == set(system.split("-"))
                            for s in structures
                        ]
                    )
                ),  # fmt: skip
                "balanced": 100 * float(np.mean([structure_balanced(s) for s in structures])),
                "distinct_formulas": len(counts),
                "top_formulas": counts.most_common(4),
                "target_samples": sum(counts[f] for f in targets),
                "framework_decodes": int(by_framework.sum()),
                "relaxed": len(chosen),
                "stable": len(stable),
                "stable_formulas": sorted({formulas[k] for k in stable}),
                "target_best_e_hull": {
                    f: min((e_hull[k] for k in e_hull if formulas[k] == f), default=None)
                    for f in targets
                },
                "recovered": recovered,
                "sun": unique_new,
                "seconds": {"generate": generate_seconds, "relax": relax_seconds},
            }
            print(model, system, results[model][system], flush=True)
    return {
        "n": n,
        "seed": seed,
        "targeted": targeted,
        "others": others,
        "judge": "chgnet-0.3.0 (≤ 300 FIRE steps), fitted element references, full hull",
        "planner_hull": "full hull without the system's own phases",
        "frameworks": "the model's training crystals + MPTS-52, the system's own crystals left out",
        "models": results,
    }


def write_tables(results: dict) -> None:
    run_ = results.get("run")
    if not run_:
        return
    rows = []
    for model, systems in run_["models"].items():
        for system, r in systems.items():
            best = ", ".join(
                f"{f} {e:.3f}" if e is not None else f"{f} –"
                for f, e in r["target_best_e_hull"].items()
            )
            rows.append([
                system, f"`{model}`", f"{r['all_present']:.0f} %", f"{r['balanced']:.0f} %",
                r["distinct_formulas"], r["target_samples"], r["framework_decodes"],
                f"{r['relaxed']} / {r['stable']}", best, ", ".join(r["recovered"]) or "none",
                r["sun"],
            ])  # fmt: skip
    totals = []
    for model, systems in run_["models"].items():
        found = sum(bool(r["recovered"]) for r in systems.values())
        totals.append(f"`{model}`: {found} of {len(systems)}")
    body = (
        f"{run_['n']} samples per system and model (seed {run_['seed']}) as `gendesign sample "
        "--elements` makes them: every element present, formulas planned toward the hull by the "
        "composition estimate, every other sample of a formula decoded through a known framework "
        f"of its stoichiometry. Planner hull: {run_['planner_hull']}; frameworks: "
        f"{run_['frameworks']}. Judge: {run_['judge']}. Relaxed: up to {run_['targeted']} samples "
        f"of a target formula and {run_['others']} others at random. Recovered: a stable relaxed "
        "sample matches a known crystal of the target (StructureMatcher) or, with no known "
        "structure, has its formula and E_hull ≤ 0.05 eV/atom. S.U.N.: stable relaxed formulas "
        "that neither MP-20 nor Materials Project holds.\n\n"
        + reporting.markdown_table(
            [
                "system",
                "model",
                "all elements",
                "balanced",
                "distinct formulas",
                "samples of a target",
                "framework decodes",
                "relaxed / stable",
                "best E_hull of a target (eV/atom)",
                "recovered",
                "S.U.N. formulas",
            ],
            rows,
        )  # fmt: skip
        + "\n\nSystems with a known compound recovered: "
        + "; ".join(totals)
        + "."
    )
    reporting.update_section(NAME, "Known compounds recovered under element constraints", body)


def main(argv: list[str] | None = None) -> None:
    reporting.run_or_tables(
        NAME, __doc__, run, write_tables,
        {"models": ["mp20"], "n": 40, "seed": 0, "targeted": 8, "others": 4}, argv,
    )  # fmt: skip


if __name__ == "__main__":
    main()
