"""Generative models side by side, judged against real crystals (one run, same machine).

    python -m benchmarks.generators generation --models mp20 mp20-cdvae --samples 10000 1000
    python -m benchmarks.generators ceiling --dataset mp20 --samples 1000 9047
    python -m benchmarks.generators coverage --model perov5 --samples 1000 10000
    python -m benchmarks.generators stability --model mp20 --samples 1000 [--so-far]
    python -m benchmarks.generators system --model mp20 --elements Li,Fe,P,O --samples 200
    python -m benchmarks.generators steering --model mp20 --target band_gap=1.5:2.5 --samples 300
    python -m benchmarks.generators speed --model mp20 --steps 20 50 100

Protocol (CDVAE / DiffCSP, as published): ``n`` samples from the prior at each
model's default schedule; validity over all of them (SMACT-2014 oxidation states
as CDVAE computed it, ICSD-24 beside it as the stricter check); COV-R / COV-P
over all generated crystals against the test split; Wasserstein distances of
density and element count on 1,000 valid samples. Crystalflow figures come as
decoded inside space-group templates (raw), after the spglib snap (mp20's default
output), and decoded without templates (perov5's default output, unsnapped).
Symmetry: spglib space group at symprec 0.1 Å, P1 share and crystal-system
histogram against the test split. Results: ``benchmarks/results/generators.json``
and the "Generative models side by side" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from benchmarks import reporting
from gendesign.audit.runner import audit
from gendesign.model.common.constraints import Constraints
from gendesign.model.common.symmetrise import symmetrise
from gendesign.model.generator import Generator
from gendesign.notices import quiet_third_party

NAME = "generators"
# CDVAE (Xie et al. 2022, Table 2; 10,000 samples of models trained on the full train splits):
# struct. %, comp. %, COV-R %, COV-P %, wdist density, wdist #elements.
CDVAE_PUBLISHED = {
    "mp20": (100.0, 86.70, 99.15, 99.49, 0.688, 1.432),
    "perov5": (100.0, 98.59, 99.45, 98.46, 0.126, 0.063),
}
# DiffCSP (Jiao et al. 2023, Table 3, ab-initio generation on MP-20, 10,000 samples).
DIFFCSP_PUBLISHED = {"mp20": (100.0, 83.25, 99.71, 99.76, 0.350, 0.3398)}
PARTS = ("generation", "ceiling", "coverage", "stability", "system", "steering", "speed", "tables")
# Where the stability part keeps its finished relaxations, so a rerun resumes.
STABILITY_WORK = reporting.ROOT / "outputs" / "benchmarks"
CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal",
                   "hexagonal", "cubic")  # fmt: skip


def _sample(
    generator: Generator, n: int, seed: int = 0, **changes
) -> tuple[list[Structure], float]:
    sampling = generator.sampling_with(changes) if changes else generator.sampling_defaults
    start = time.perf_counter()
    structures = generator.sample(n, seed=seed, sampling=sampling)
    return structures, time.perf_counter() - start


def audit_figures(structures: list[Structure], dataset: str) -> dict:
    """CDVAE-protocol metrics plus the element-count and symmetry histograms."""
    result = audit(structures, reference=dataset, protocol="cdvae")
    summary, table = result.summary, result.table
    v = summary.validity
    return {
        "samples": len(structures),
        "structural_validity": 100 * v.structural,
        "compositional_validity": 100 * v.compositional,
        "compositional_validity_icsd24": 100 * (v.compositional_icsd24 or float("nan")),
        "cov_r": 100 * summary.coverage.cov_recall,
        "cov_p": 100 * summary.coverage.cov_precision,
        "wdist_density": summary.distribution.wdist_density,
        "wdist_n_elements": summary.distribution.wdist_n_elements,
        "uniqueness": 100 * summary.uniqueness,
        "novelty": 100 * (summary.novelty if summary.novelty is not None else float("nan")),
        **symmetry_figures(table),
        "audit_seconds": summary.timing_s["total"],
        "audit_stage_seconds": summary.timing_s,
    }


def symmetry_figures(table) -> dict:
    groups = table["spacegroup_0.1"].dropna().astype(int)
    systems = Counter(table["crystal_system"].dropna())
    elements = Counter(table["n_elements"].astype(int))
    n = len(table)
    return {
        "p1_share": 100 * float((groups == 1).sum() / n) if n else float("nan"),
        "crystal_systems": {s: 100 * systems.get(s, 0) / n for s in CRYSTAL_SYSTEMS},
        "n_elements": {str(k): 100 * elements[k] / n for k in sorted(elements)},
    }


def reference_symmetry(dataset: str) -> dict:
    """The test split's P1 share, crystal systems and element counts (the target shape)."""
    import pandas as pd

    from gendesign.audit.symmetry import symmetry_columns
    from gendesign.data.inputs import load_dataset_split

    structures = load_dataset_split(dataset, "test", None).structures
    rows = [{**symmetry_columns(s), "n_elements": len(s.composition.elements)} for s in structures]
    return symmetry_figures(pd.DataFrame(rows))


def _snapped(generator: Generator, structures: list[Structure]) -> list[Structure]:
    """The sampler's spglib snap on raw samples (the raw one where it clashes)."""
    atoms, symprec = (1, generator.model.max_atoms), generator.sampling_defaults.symprec
    return [symmetrise(s, symprec=symprec, atoms=atoms) or s for s in structures]


def generation(models: list[str], sizes: list[int], raw_sizes: list[int], cdvae: str) -> dict:
    """Each model's samples at its default schedule (``cdvae``, e.g. "10x20", for the
    first-generation models, whose default 50×100 takes hours on a CPU). Crystalflow
    rows, whatever a model's own sampler defaults: ``templates + snap`` at ``sizes``; at
    ``raw_sizes`` the same samples before the snap (``templates, raw``) and, from the same
    model, samples decoded without templates (``free, raw``: the previous decoder).
    ``models``: bundled names or ``model.pt`` paths."""
    out: dict = {}
    for name in models:
        generator = Generator.load(name, "cpu")
        dataset = generator.checkpoint.dataset
        if generator.is_flow:  # templated whatever the model's default, so rows mean their label
            changes = {"symmetrise": False, "space_group_templates": True}
        else:
            levels, steps = (int(v) for v in cdvae.split("x"))
            changes = {"levels": levels, "steps_per_level": steps}
        structures, seconds = _sample(generator, max(sizes + raw_sizes), **changes)
        sampling = generator.sampling_with(changes)
        entry = {"dataset": dataset, "kind": "crystalflow" if generator.is_flow else "cdvae",
                 "schedule": generator.schedule_text(sampling),
                 "samples_per_s": len(structures) / seconds, "rows": []}  # fmt: skip
        if not generator.is_flow:
            variants = {"raw": (structures, sizes)}
        elif not raw_sizes:  # the templated, snapped output only
            variants = {"templates + snap": (_snapped(generator, structures[: max(sizes)]), sizes)}
        else:
            free, free_seconds = _sample(
                generator, max(raw_sizes), symmetrise=False, space_group_templates=False
            )
            entry["free_samples_per_s"] = len(free) / free_seconds
            start = time.perf_counter()
            snapped = _snapped(generator, structures[: max(sizes)])
            entry["symmetrise_seconds_per_sample"] = (time.perf_counter() - start) / len(snapped)
            variants = {"templates + snap": (snapped, sizes),
                        "templates, raw": (structures, raw_sizes),
                        "free, raw": (free, raw_sizes)}  # fmt: skip
        for label, (crystals, counts) in variants.items():
            for n in counts:
                entry["rows"].append({"variant": label, **audit_figures(crystals[:n], dataset)})
        out[name] = entry
        out.setdefault("reference", {})[dataset] = reference_symmetry(dataset)
    return out


def ceiling(dataset: str, sizes: list[int]) -> dict:
    """Real crystals of the val split through the same protocol (what a perfect model gets)."""
    from gendesign.data.inputs import load_dataset_split

    # "train" is the whole training file (for mp20: MP-20's val split, holdout included)
    structures = load_dataset_split(dataset, "train", None).structures
    order = np.random.default_rng(0).permutation(len(structures))
    return {dataset: [audit_figures([structures[i] for i in order[:n]], dataset) for n in sizes]}


def stability(name: str, n: int, so_far: bool = False) -> dict:
    """The first ``n`` valid samples relaxed with the default potential; E_hull vs the
    MP-20 hull; S.U.N. = E_hull ≤ 0.1 eV/atom after relaxation, unique among the relaxed
    and not a known MP-20 crystal (val and test by StructureMatcher, train by formula and
    cell: :mod:`gendesign.audit.novelty_reference`). ``sun_new_formula_share`` also asks
    for a reduced formula absent from MP-20 train (the stricter figure reported before
    train crystals could be matched); ``sun_val_only_share`` is the definition of the
    time before (no StructureMatcher match in val and a formula absent from train), on
    the same samples.

    Resumable: each relaxation lands in ``outputs/benchmarks/<model>-<n>`` as it
    finishes (samples are reproducible per seed), and a rerun relaxes only the rest.
    ``so_far`` judges only what that folder holds, without sampling or relaxing more
    (a failed relaxation, which has no structure to judge, is not stable either way).
    """
    from gendesign.data.crystal_set import CrystalSet
    from relax.potentials import load_potential
    from relax.runner import RELAXED_FOLDER, RESULTS_FILE, relax_structures, safe_name

    generator = Generator.load(name, "cpu")
    work = STABILITY_WORK / f"{safe_name(name)}-{n}"
    potential = load_potential("auto")
    if so_far:
        table = pd.read_csv(work / RESULTS_FILE).drop_duplicates("id", keep="last")
        ids = sorted(table["id"])
        table = table.set_index("id").loc[ids]
        cifs = [work / RELAXED_FOLDER / f"{safe_name(i)}.cif" for i in ids]
        final = [Structure.from_file(c) if c.is_file() else None for c in cifs]
    else:
        structures, _ = _sample(generator, int(n * 1.3) + 10, seed=11)
        checked = audit(structures, reference=None).table
        valid = [s for s, ok in zip(structures, checked["valid"], strict=True) if ok][:n]
        ids = [f"s{k:05d}" for k in range(len(valid))]
        table = relax_structures(CrystalSet(ids, valid), potential, out_dir=work)
        table = table.set_index("id").loc[ids]
        cifs = [work / RELAXED_FOLDER / f"{safe_name(i)}.cif" for i in ids]
        # a failed relaxation leaves no CIF: its novelty is judged on the sample as generated
        final = [
            Structure.from_file(c) if c.is_file() else s for c, s in zip(cifs, valid, strict=True)
        ]
    e_hull = table["e_above_hull_eV_atom"].to_numpy(float)
    converged = (table["status"] == "converged").to_numpy()
    stable = np.isfinite(e_hull) & (e_hull <= 0.1) & converged
    judgeable = [k for k, s in enumerate(final) if s is not None]
    judged = audit(
        [final[k] for k in judgeable], reference=generator.checkpoint.dataset, coverage="off"
    ).table

    def over_all(column: str, fill) -> np.ndarray:
        values = np.full(len(final), fill, dtype=object)
        values[judgeable] = judged[column].to_numpy()
        return values

    novel = over_all("novel", False).astype(bool)
    new_formula = (
        pd.Series(over_all("novel_composition_mp20_train", False)).fillna(False).to_numpy(bool)
    )
    known = over_all("novelty_class", "") == "known"
    splits = over_all("matched_split", "")
    unique = pd.Series(over_all("unique", False)).fillna(False).to_numpy(bool)
    sun = stable & novel & unique
    label = name if len(ids) >= n else f"{name} (first {len(ids)} of {n}, run in progress)"
    return {
        label: {
            "relaxed": len(ids),
            "converged": int(converged.sum()),
            "potential": potential.info.name,
            "stable_share": 100 * float(stable.mean()),
            "sun_share": 100 * float(sun.mean()),
            "sun_new_formula_share": 100 * float((sun & new_formula).mean()),
            "sun_val_only_share": 100
            * float((stable & unique & new_formula & ~(known & (splits == "mp20:val"))).mean()),
            "novel_share": 100 * float(novel.mean()),
            "known_stable_by_split": {
                split: int((stable & unique & known & (splits == split)).sum())
                for split in ("mp20:train", "mp20:val", "mp20:test")
            },
            "novelty_reference": "MP-20 train (formula + cell), val, test (StructureMatcher)",
            "median_e_hull": float(np.nanmedian(e_hull)),
            # each relaxation's share of the batch wall time, summed: the whole run's
            # relaxation time, also when it was resumed
            "relax_seconds": float(table["seconds"].sum()),
            "judge": f"{potential.info.name} energies, MP-20 hull (DFT formation energies of all splits) "
            "through the potential's fitted element references",
        }
    }


def coverage_only(name: str, sizes: list[int]) -> dict:
    """A model's default output at ``sizes`` (first n of one draw, seed 0): validity and
    COV-R / COV-P under protocol cdvae (all samples in the denominator), without the
    novelty stage, which takes hours at 10,000 perov5 samples."""
    from gendesign.audit.fingerprints import (
        COMPOSITION_FINGERPRINT_SIZE,
        STRUCTURE_FINGERPRINT_SIZE,
    )
    from gendesign.audit.reference import resolve_reference
    from gendesign.audit.reference_cache import reference_profile, stack_fingerprints
    from gendesign.audit.set_metrics import CompositionStandardizer, coverage
    from gendesign.audit.structure_audit import audit_structures
    from gendesign.audit.validity import oxidation_states_for

    generator = Generator.load(name, "cpu")
    structures, seconds = _sample(generator, max(sizes))
    audits = audit_structures(structures, oxidation_states=oxidation_states_for("cdvae"))
    reference = resolve_reference(generator.checkpoint.dataset)
    profile, _ = reference_profile(reference)
    standardize = CompositionStandardizer.fit(profile.composition_fps)
    structure_fps = stack_fingerprints([a.structure_fp for a in audits], STRUCTURE_FINGERPRINT_SIZE)
    composition_fps = stack_fingerprints(
        [a.composition_fp for a in audits], COMPOSITION_FINGERPRINT_SIZE
    )
    rows = []
    for n in sorted(sizes):
        found = coverage(structure_fps[:n], composition_fps[:n], profile.structure_fps,
                         profile.composition_fps, reference.coverage_cutoffs, standardize, n)  # fmt: skip
        checked = [a.row for a in audits[:n]]
        rows.append({
            "samples": n,
            "structural_validity": 100 * float(np.mean([r["struct_valid"] for r in checked])),
            "compositional_validity": 100 * float(np.mean([r["comp_valid"] for r in checked])),
            "cov_r": 100 * found.recall,
            "cov_p": 100 * found.precision,
        })  # fmt: skip
    return {name: {"samples_per_s": max(sizes) / seconds, "rows": rows}}


def system(name: str, elements: str, n: int) -> dict:
    generator = Generator.load(name, "cpu")
    structures, table = generator.sample_table(
        n, seed=21, constraints=Constraints.parse(elements=elements)
    )
    result = audit(
        structures, reference=generator.checkpoint.dataset, protocol="cdvae", coverage="off"
    ).table
    neutral = result["comp_valid"].astype(bool) & result.get(
        "comp_valid_icsd24", result["comp_valid"]
    ).astype(bool)
    formulas = Counter(result["reduced_formula"])
    return {
        f"{name}:{elements}": {
            "samples": n,
            "charge_neutral_share": 100 * float(neutral.mean()),
            "valid_share": 100 * float(result["valid"].astype(bool).mean()),
            "novel_share": 100 * float(result["novel"].fillna(False).astype(bool).mean()),
            "new_formula_share": 100
            * float(result["novel_composition_mp20_train"].fillna(False).astype(bool).mean()),
            "commonest": formulas.most_common(10),
        }
    }


def steering(name: str, target: str, n: int) -> dict:
    """Share of valid samples whose GNN-ensemble estimate lands in the range."""
    from predictors.inference import Predictor

    generator = Generator.load(name, "cpu")
    predictor = Predictor.pretrained(generator.checkpoint.dataset, device="cpu")
    constraints = Constraints.parse(targets=[target])
    prop, bounds = next(iter(constraints.targets.items()))
    arms = {"unsteered": (Constraints(), 0), "latent optimisation only": (constraints, 300)}
    if generator.is_flow:
        arms = {"unsteered": (Constraints(), 0), "conditioned (guidance)": (constraints, 0),
                "latent optimisation only": ("latent", 300), "both (default)": (constraints, 300)}  # fmt: skip
    out = {}
    for arm, (used, steps) in arms.items():
        if used == "latent":  # steer z by the property head, decode unconditioned
            sampling = generator.sampling_with({"guidance": 0.0})
            structures = generator.sample(
                n, seed=31, constraints=constraints, steering_steps=steps, sampling=sampling
            )
        else:
            structures = generator.sample(n, seed=31, constraints=used, steering_steps=steps)
        valid_flags = audit(structures, reference=None).table["valid"].astype(bool).to_numpy()
        valid = [s for s, ok in zip(structures, valid_flags, strict=True) if ok]
        predicted = predictor.predict(valid)[f"{prop}_mean"].to_numpy() if valid else np.array([])
        out[arm] = {
            "valid": len(valid),
            "in_range": 100 * float(np.mean([bounds.contains(v) for v in predicted]))
            if len(valid)
            else 0.0,
        }
    base = out["unsteered"]["in_range"]
    for arm in out:
        out[arm]["lift"] = out[arm]["in_range"] / base if base else float("nan")
    return {f"{name}:{target}": out}


def speed(name: str, steps: list[int], n: int = 1000) -> dict:
    generator = Generator.load(name, "cpu")
    rows = []
    for k in steps:
        structures, seconds = _sample(generator, n, seed=41, coordinate_steps=k)
        figures = audit_figures(structures, generator.checkpoint.dataset)
        rows.append({"coordinate_steps": k, "samples_per_s": n / seconds, **figures})
    return {name: rows}


# ----------------------------------------------------------------------------- tables


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.1f}"


def write_tables(results: dict) -> None:
    parts = []
    generation_rows, histogram_rows = [], []
    reference = results.get("generation", {}).get("reference", {})
    for name, entry in results.get("generation", {}).items():
        if name == "reference":
            continue
        for r in entry["rows"]:
            generation_rows.append([
                f"`{name}` ({entry['kind']})", r["variant"], f"{r['samples']:,}", _pct(r["structural_validity"]),
                _pct(r["compositional_validity"]), _pct(r["compositional_validity_icsd24"]), _pct(r["cov_r"]),
                _pct(r["cov_p"]), f"{r['wdist_density']:.3f}", f"{r['wdist_n_elements']:.3f}", _pct(r["p1_share"]),
            ])  # fmt: skip
            largest = max(x["samples"] for x in entry["rows"] if x["variant"] == r["variant"])
            if r["samples"] == largest:  # one histogram row per output variant
                histogram_rows.append([f"`{name}` {r['variant']}", *(_pct(v) for v in r["crystal_systems"].values()),
                                       *(_pct(r["n_elements"].get(str(k), 0.0)) for k in range(1, 7))])  # fmt: skip
    for dataset, figures in reference.items():
        histogram_rows.append([f"{dataset} test split", *(_pct(v) for v in figures["crystal_systems"].values()),
                               *(_pct(figures["n_elements"].get(str(k), 0.0)) for k in range(1, 7))])  # fmt: skip
    for dataset, rows in results.get("ceiling", {}).items():
        for r in rows:
            generation_rows.append([f"{dataset} val crystals (ceiling)", "real", f"{r['samples']:,}",
                _pct(r["structural_validity"]), _pct(r["compositional_validity"]),
                _pct(r["compositional_validity_icsd24"]), _pct(r["cov_r"]), _pct(r["cov_p"]),
                f"{r['wdist_density']:.3f}", f"{r['wdist_n_elements']:.3f}", _pct(r["p1_share"])])  # fmt: skip
    for dataset, values in CDVAE_PUBLISHED.items():
        generation_rows.append([f"CDVAE paper ({dataset}, full train)", "", "10,000", *(f"{v:g}" for v in values[:2]), "–",
                                *(f"{v:g}" for v in values[2:]), "–"])  # fmt: skip
    for dataset, values in DIFFCSP_PUBLISHED.items():
        generation_rows.append([f"DiffCSP paper ({dataset}, full train)", "", "10,000", *(f"{v:g}" for v in values[:2]), "–",
                                *(f"{v:g}" for v in values[2:]), "–"])  # fmt: skip
    if generation_rows:
        parts.append(
            "Generation against the test split (CDVAE protocol; validity over all samples, SMACT-2014 "
            "and ICSD-24 oxidation states; COV over all samples; Wasserstein distances on 1,000 valid). "
            "Our models: protocol mp20-reduced (positions from the val split; crystalflow's "
            "compositions and lattices also from the 27,136 train crystals).\n\n"
            + reporting.markdown_table(
                [
                    "model",
                    "output",
                    "samples",
                    "struct. %",
                    "comp. % (SMACT-2014)",
                    "comp. % (ICSD-24)",
                    "COV-R %",
                    "COV-P %",
                    "wdist ρ",
                    "wdist #el",
                    "P1 %",
                ],
                generation_rows,
            )  # fmt: skip
        )
    if histogram_rows:
        parts.append(
            "Crystal systems (spglib, symprec 0.1 Å) and distinct elements per crystal, % of samples:\n\n"
            + reporting.markdown_table(
                ["set", *CRYSTAL_SYSTEMS, *(f"{k} el." for k in range(1, 7))], histogram_rows
            )
        )
    for name, entry in results.get("coverage", {}).items():
        figures = "; ".join(
            f"{r['samples']:,} samples: structural {r['structural_validity']:.2f} %, compositional "
            f"{r['compositional_validity']:.2f} %, COV-R {r['cov_r']:.1f} %, COV-P {r['cov_p']:.1f} %"
            for r in entry["rows"]
        )
        parts.append(f"Default output of `{name}`, validity and coverage only (CDVAE protocol, no novelty "
                     f"stage): {figures}.")  # fmt: skip
    for name, s in results.get("stability", {}).items():
        if "novelty_reference" in s:
            known = ", ".join(f"{n} {split}" for split, n in s["known_stable_by_split"].items())
            novelty = (
                f"S.U.N. (stable, unique, not a known crystal of {s['novelty_reference']}): "
                f"**{s['sun_share']:.1f} %**, {s['sun_new_formula_share']:.1f} % with a formula "
                f"absent from MP-20 train as well; stable and unique but known: {known}"
            )
            if "sun_val_only_share" in s:
                novelty += (
                    f"; by the novelty before (val split only, formula absent from train) the same "
                    f"samples give {s['sun_val_only_share']:.1f} %"
                )
        else:
            novelty = (
                "S.U.N. (stable, unique, no match in the val split and a formula absent from the "
                f"train split, the novelty of the time): **{s['sun_share']:.1f} %**"
            )
        parts.append(
            f"Stability of `{name}`: {s['relaxed']:,} valid samples relaxed with {s['potential']} "
            f"({s['converged']} converged, {s['relax_seconds'] / 60:.0f} min); judge: {s['judge']}. "
            f"Within 0.1 eV/atom of the hull: **{s['stable_share']:.1f} %**; {novelty}; "
            f"median E_hull {s['median_e_hull']:.3f} eV/atom."
        )
    for key, s in results.get("system", {}).items():
        common = ", ".join(f"{f} ({c})" for f, c in s["commonest"][:8])
        parts.append(
            f"Chemical system `{key}`, {s['samples']} samples: charge-neutral by SMACT (both lists) "
            f"**{s['charge_neutral_share']:.1f} %**, valid {s['valid_share']:.1f} %, novel (no val-split "
            f"match) {s['novel_share']:.1f} %, formula absent from MP-20 train {s['new_formula_share']:.1f} %. "
            f"Commonest formulas: {common}."
        )
    for key, arms in results.get("steering", {}).items():
        rows = [
            [arm, a["valid"], _pct(a["in_range"]), f"{a['lift']:.2f}×"] for arm, a in arms.items()
        ]
        parts.append(f"Range steering `{key}`, judged by the bundled GNN ensemble on valid samples:\n\n"
                     + reporting.markdown_table(["arm", "valid samples", "in range %", "lift vs unsteered"], rows))  # fmt: skip
    for name, rows in results.get("speed", {}).items():
        table = [[r["coordinate_steps"], f"{r['samples_per_s']:.1f}", _pct(r["structural_validity"]),
                  _pct(r["compositional_validity"]), _pct(r["cov_r"]), _pct(r["cov_p"]),
                  f"{r['wdist_density']:.3f}", _pct(r["p1_share"])] for r in rows]  # fmt: skip
        parts.append(f"Speed and quality of `{name}` by schedule ({rows[0]['samples']:,} samples each, 2 CPU cores):\n\n"
                     + reporting.markdown_table(["coordinate steps", "samples/s", "struct. %", "comp. %", "COV-R %",
                                       "COV-P %", "wdist ρ", "P1 %"], table))  # fmt: skip
    if results.get("notes"):
        parts.append("Notes on this run:\n" + "\n".join(f"- {note}" for note in results["notes"]))
    reporting.update_section(NAME, "Generative models side by side", "\n\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "part",
        choices=PARTS,
    )
    parser.add_argument("--models", nargs="*", default=["mp20", "mp20-cdvae"])
    parser.add_argument("--model", default="mp20")
    parser.add_argument("--dataset", default="mp20")
    parser.add_argument("--samples", nargs="*", type=int, default=[1000])
    parser.add_argument("--raw-samples", nargs="*", type=int, default=[1000])
    parser.add_argument("--cdvae-schedule", default="10x20", help="levels x steps for *-cdvae")
    parser.add_argument("--elements", default="Li,Fe,P,O")
    parser.add_argument("--target", default="band_gap=1.5:2.5")
    parser.add_argument("--steps", nargs="*", type=int, default=[20, 50, 100])
    parser.add_argument(
        "--so-far", action="store_true", help="stability: judge what is relaxed, relax no more"
    )
    args = parser.parse_args()
    quiet_third_party()
    part = args.part
    if part == "tables":  # re-render what is stored; nothing is re-measured or re-dated
        write_tables(reporting.previous_results(NAME))
        return
    facts = reporting.measurement_facts()
    found_reference = {}
    if part == "generation":
        found = generation(args.models, args.samples, args.raw_samples, args.cdvae_schedule)
        found_reference = found.pop("reference", {})
    else:
        found = {
            "ceiling": lambda: ceiling(args.dataset, args.samples),
            "coverage": lambda: coverage_only(args.model, args.samples),
            "stability": lambda: stability(args.model, args.samples[0], args.so_far),
            "system": lambda: system(args.model, args.elements, args.samples[0]),
            "steering": lambda: steering(args.model, args.target, args.samples[0]),
            "speed": lambda: speed(args.model, args.steps, args.samples[0]),
        }[part]()
    # Parts run in parallel and for hours: merge only what this part measured into the
    # results as they are now, so another part's newer figures are never overwritten.
    latest = reporting.previous_results(NAME)
    section = latest.setdefault(part, {})
    section.update(found)
    if found_reference:
        section["reference"] = {**section.get("reference", {}), **found_reference}
    reporting.mark_measured(latest, part, found, facts)
    reporting.publish(NAME, latest, write_tables)


if __name__ == "__main__":
    main()
