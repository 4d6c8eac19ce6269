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
compound is recovered when a stable relaxed sample of its formula (E_hull ≤ 0.1
eV/atom) matches its ground state's crystal (StructureMatcher, audit tolerances)
where our data holds the ground state's positions (a crystal of MP-20 val/test or
MPTS-52 with DFT E_hull ≤ 0.01 eV/atom on the full hull), or, where it holds only
polymorphs above the ground state or none, when the sample has the formula and
E_hull ≤ 0.05 eV/atom. LiFePO4 is such a case: our positions are of its Fdd2, Cmcm
and Li/Fe-swapped Pnma polymorphs (DFT E_hull 0.055, 0.016, 0.056), not of
triphylite, so a relaxed triphylite matches none. A match with any known polymorph is reported
beside. S.U.N. in the system: relaxed, stable, of a formula neither MP-20 nor
Materials Project holds, and unique among the relaxed. Relaxations are kept under
``outputs/benchmarks/recovery/`` and read back on a rerun.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

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
E_HULL_GROUND_STATE = (
    0.01  # eV/atom, DFT: a known crystal this close to the hull is the ground state
)
KEPT = Path("outputs/benchmarks/recovery")


def system_of(composition) -> str:
    return "-".join(sorted(el.symbol for el in composition.elements))


def known_structures(data_root=None) -> dict[str, list[tuple]]:
    """Position-bearing crystals of each target formula with their DFT E_hull (eV/atom):
    MP-20 val/test (formation energy against the full hull) and MPTS-52 (its
    ``energy_above_hull``, ≤ 0.1)."""
    import warnings

    from pymatgen.core import Structure

    from gendesign.data.datasets import load_dataset
    from gendesign.data.energy_tables import MPTS52_SPLITS, read_mpts52
    from relax.reference_hull import reference_hull

    hull = reference_hull("full", data_root)
    targets = {f for formulas in SYSTEMS.values() for f in formulas}
    found: dict[str, list[tuple]] = {f: [] for f in targets}
    data = load_dataset("mp20")
    for split in ("train", "holdout", "test"):  # train + holdout: MP-20 val, positions
        if split in data.splits:
            crystals = data.crystal_set(split)
            energies = crystals.properties["formation_energy_per_atom"]
            for s, energy in zip(crystals.structures, energies, strict=True):
                if s.composition.reduced_formula in targets:
                    e_hull = hull.e_above_hull(s.composition, float(energy)).e_above_hull
                    found[s.composition.reduced_formula].append((s, e_hull))
    for split in MPTS52_SPLITS:
        table = read_mpts52(split, data_root)
        rows = table[table["formula"].isin(targets) & (table["energy_above_hull"] <= 0.1)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in rows.itertuples():
                structure = Structure.from_str(row.cif, fmt="cif")
                found[row.formula].append((structure, float(row.energy_above_hull)))
    return found


def relaxed_once(folder: Path, structures: dict, potential, references, hull):
    """``relax_by_index`` kept in ``folder``: rows and relaxed structures read back when
    the same samples were relaxed before."""
    from pymatgen.core import Structure

    kept = folder / "relaxed.json"
    if kept.is_file():
        stored = json.loads(kept.read_text())
        if stored["chosen"] == sorted(structures):
            rows = {int(k): v for k, v in stored["rows"].items()}
            relaxed = {
                int(k): Structure.from_dict(v) if v else None for k, v in stored["relaxed"].items()
            }
            return rows, relaxed, stored["seconds"]
    rows, relaxed, seconds = relax_by_index(structures, potential, references, hull)
    folder.mkdir(parents=True, exist_ok=True)
    partial = kept.with_suffix(".partial")
    partial.write_text(
        json.dumps(
            {
                "chosen": sorted(structures),
                "seconds": seconds,
                "rows": rows,
                "relaxed": {k: s.as_dict() if s is not None else None for k, s in relaxed.items()},
            },
            default=lambda value: value.item() if hasattr(value, "item") else str(value),
        )  # fmt: skip
    )
    partial.replace(kept)
    return rows, relaxed, seconds


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
            rows, relaxed, relax_seconds = relaxed_once(
                KEPT / model.replace("/", "_") / system,
                {k: structures[k] for k in chosen}, potential, references, hull,
            )  # fmt: skip
            e_hull = {
                k: float(row["e_above_hull_eV_atom"])
                for k, row in rows.items()
                if row["status"] != "failed" and relaxed[k] is not None
            }
            stable = {k for k, e in e_hull.items() if e <= E_HULL_STABLE}
            decoders = table["decoder"].to_numpy()
            recovered, polymorphs, recovered_by = [], [], {}
            for formula in targets:
                candidates = [k for k in stable if formulas[k] == formula]
                ground = [c for c, e in known[formula] if e <= E_HULL_GROUND_STATE]
                if any(matcher.fit(relaxed[k], c) for k in candidates for c, _ in known[formula]):
                    polymorphs.append(formula)
                if ground:
                    hits = [
                        k for k in candidates if any(matcher.fit(relaxed[k], c) for c in ground)
                    ]
                else:
                    hits = [k for k in candidates if e_hull[k] <= E_HULL_FORMULA_ONLY]
                if hits:
                    recovered.append(formula)
                    recovered_by[formula] = sorted({str(decoders[k]) for k in hits})
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
                "recovered_by": recovered_by,  # which decoder made the recovering samples
                "matches_a_known_polymorph": polymorphs,
                "ground_state_positions": {
                    f: any(e <= E_HULL_GROUND_STATE for _, e in known[f]) for f in targets
                },
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
                f"{r['relaxed']} / {r['stable']}", best,
                ", ".join(
                    f"{f} ({' + '.join(r.get('recovered_by', {}).get(f, []))})"
                    for f in r["recovered"]
                ) or "none",
                ", ".join(r.get("matches_a_known_polymorph", [])) or "none", r["sun"],
            ])  # fmt: skip
    totals = []
    for model, systems in run_["models"].items():
        found = sum(bool(r["recovered"]) for r in systems.values())
        by_flow = sum(
            any("flow" in by for by in r.get("recovered_by", {}).values()) for r in systems.values()
        )
        totals.append(
            f"`{model}`: {found} of {len(systems)} ({by_flow} by a flow decode, the rest "
            "by a framework decode only)"
        )
    first = next(iter(run_["models"].values()))
    without_ground_state = ", ".join(
        formula
        for r in first.values()
        for formula, held in r.get("ground_state_positions", {}).items()
        if not held
    )
    body = (
        f"{run_['n']} samples per system and model (seed {run_['seed']}) as `gendesign sample "
        "--elements` makes them: every element present, formulas planned toward the hull by the "
        "composition estimate, every other sample of a formula decoded through a known framework "
        f"of its stoichiometry. Planner hull: {run_['planner_hull']}; frameworks: "
        f"{run_['frameworks']}. Judge: {run_['judge']}. Relaxed: up to {run_['targeted']} samples "
        f"of a target formula and {run_['others']} others at random. Recovered: a stable relaxed "
        "sample matches the target's ground-state crystal (StructureMatcher) where our data "
        "holds its positions (DFT E_hull ≤ 0.01 eV/atom), or, where it holds none "
        f"({without_ground_state}), has its formula and E_hull ≤ 0.05 eV/atom. S.U.N.: "
        "stable relaxed formulas that neither MP-20 nor Materials Project holds.\n\n"
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
                "recovered (by decoder)",
                "matches a known polymorph",
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
