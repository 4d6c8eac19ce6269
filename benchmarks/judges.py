"""How often "stable" is right: each stability judge against DFT on MPTS-52 test.

    python -m benchmarks.judges [--per-class 150] [--max-atoms 20] [--seed 0] [--judges chgnet-0.3.0 tensornet-matpes-pbe]

MPTS-52 test holds 8,096 DFT-relaxed Materials Project crystals with their DFT
energy above the full MP hull; 961 lie above 0.1 eV/atom. Parts:

- hull: the project's MP-20 hull with the file's own DFT formation energies, against
  the file's E_hull (all 8,096 rows): what judging on MP-20 instead of all of MP
  shifts, before any potential.
- judges: a stratified sample (``--per-class`` crystals drawn at random, seeded, from
  each side of 0.1 eV/atom, among those of at most ``--max-atoms`` atoms per cell: the
  size of the candidates a campaign makes, and what 2 CPU cores relax in an hour) relaxed by each judge from the DFT structure and from a
  perturbed start (rattle σ 0.1 Å, every length strained +5 %), then put on the
  MP-20 hull through the judge's fitted element references. "Stable" means
  E_hull ≤ 0.1 eV/atom; an unconverged or failed relaxation counts as not stable.
  Precision, recall and F1 against the DFT label, E_hull MAE, raw counts, and the
  precision re-weighted to a 30 % stable share (the share typical of generated
  candidates): P = r·π / (r·π + f·(1 − π)), r the recall on the stable stratum, f the
  false-stable rate on the unstable one. The consensus calls a crystal stable when
  every judge does.

- properties: band gaps of the 9,046 MP-20 test crystals (DFT-relaxed structures)
  by the screening GNN ensemble (``mp20``, trained on MP-20 val) and by the
  independent composition-only judge (trained on MP-20 train): MAE against DFT, and
  for target ranges, the precision and recall of "in range" by each judge and by both.

Relaxations land in outputs/benchmarks/judges/<judge>-<start>/ and resume; each
judge's E_hull per crystal is kept beside the scores (benchmarks/results/judges_rows.csv),
so the sample can be re-scored (another threshold, another hull) without relaxing again.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry
from pymatgen.core import Composition

from benchmarks import reporting
from gendesign.data.readers import structure_from_cif_text
from gendesign.paths import resolve_data_root
from relax.hull import HullReference, mp20_hull_reference
from relax.perturb import rattle_and_strain
from relax.potentials import CHGNET, TENSORNET_MATPES, load_potential
from relax.precision import CONSENSUS, write_measured
from relax.relaxation import RelaxSettings
from relax.runner import RESULTS_FILE, relax_structures

NAME = "judges"
STABLE = 0.1  # eV/atom
STABLE_SHARE = 0.3  # share of stable crystals among generated candidates
WORK = reporting.ROOT / "outputs" / "benchmarks" / "judges"
STARTS = ("perturbed", "dft")  # the off-equilibrium case first: it is what candidates are
ROWS_FILE = reporting.RESULTS / "judges_rows.csv"  # E_hull per crystal, judge and start


def load_mpts52_test(split: str = "test") -> pd.DataFrame:
    """The split's file, with each cell's composition read from its CIF's
    ``_chemical_formula_sum`` (parsing 8,096 CIFs whole takes a quarter of an hour)."""
    table = pd.read_csv(resolve_data_root() / "mpts_52" / f"{split}.csv.gz")
    sums = table["cif"].str.extract(r"_chemical_formula_sum\s+'?([^'\n]+)'?")[0]
    table["composition"] = [Composition(text.strip()) for text in sums]
    table["n_atoms"] = [int(round(c.num_atoms)) for c in table["composition"]]
    return table


def hull_part(table: pd.DataFrame) -> dict:
    """The MP-20 hull with the file's DFT formation energies against the file's E_hull; the
    same against a fuller hull (MP-20 and the 5,000 MPTS-52 val crystals, none of them in
    the test file): how much of the gap is the reference's missing phases."""
    mp20 = mp20_hull_reference()
    val = load_mpts52_test("val")
    fuller = mp20.with_entries(
        [
            PDEntry(composition, float(energy) * composition.num_atoms)
            for composition, energy in zip(
                val["composition"], val["formation_energy_per_atom"], strict=True
            )
            if energy == energy  # not NaN
        ],
        "MP-20 + MPTS-52 val",
    )
    return {
        **_hull_scores(table, mp20),
        "fuller_hull": {"label": fuller.label, "phases": len(fuller)} | _hull_scores(table, fuller),
    }


def _hull_scores(table: pd.DataFrame, hull: HullReference) -> dict:
    """The verdicts of ``hull`` with the file's DFT formation energies against its E_hull."""
    ours = np.array(
        [
            hull.e_above_hull(composition, e).e_above_hull
            for composition, e in zip(
                table["composition"], table["formation_energy_per_atom"], strict=True
            )
        ]
    )
    theirs = table["energy_above_hull"].to_numpy(float)
    ok = np.isfinite(ours)
    label, verdict = theirs[ok] <= STABLE, ours[ok] <= STABLE
    return {
        "rows": int(len(table)),
        "on_hull": int(ok.sum()),
        "mean_shift_eV_atom": float(np.mean(ours[ok] - theirs[ok])),
        "mae_eV_atom": float(np.mean(np.abs(ours[ok] - theirs[ok]))),
        "below_mp_hull": int((ours[ok] < -1e-6).sum()),
        **verdict_scores(label, verdict),
    }


def stratified_sample(
    table: pd.DataFrame, per_class: int, seed: int, max_atoms: int | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    e_hull = table["energy_above_hull"].to_numpy(float)
    small = table["n_atoms"].to_numpy() <= max_atoms if max_atoms else np.ones(len(table), bool)
    stable = np.flatnonzero((e_hull <= STABLE) & small)
    unstable = np.flatnonzero((e_hull > STABLE) & small)
    # prefixes of one seeded permutation per class: a larger sample contains a smaller one
    rows = np.concatenate(
        [rng.permutation(stable)[:per_class], rng.permutation(unstable)[:per_class]]
    )
    return table.iloc[np.sort(rows)].reset_index(drop=True)


def verdict_scores(label: np.ndarray, verdict: np.ndarray) -> dict:
    """Precision, recall, F1 of ``verdict`` (predicted stable) against ``label`` (DFT stable),
    the raw counts and the precision re-weighted to a 30 % stable share."""
    tp = int((label & verdict).sum())
    fp = int((~label & verdict).sum())
    fn = int((label & ~verdict).sum())
    tn = int((~label & ~verdict).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    false_rate = fp / (fp + tn) if fp + tn else float("nan")
    weighted = recall * STABLE_SHARE
    weighted = weighted / (weighted + false_rate * (1 - STABLE_SHARE)) if weighted else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "precision_at_30pct_stable": weighted,
    }


def judge_rows(
    sample: pd.DataFrame, judge: str, start: str, seed: int, relax: bool = True
) -> pd.DataFrame:
    """Each sampled crystal relaxed by ``judge`` from ``start``: E_hull and status by id.
    Without ``relax``, only the relaxations already finished (an earlier, resumable run, or
    the rows kept with the published scores)."""
    if not relax:
        path = WORK / f"{judge}-{start}" / RESULTS_FILE
        if path.exists():
            finished = pd.read_csv(
                path, dtype={"id": str}, keep_default_na=False, na_values=["nan"]
            )
            return finished.set_index("id")
        if ROWS_FILE.exists():
            kept = pd.read_csv(ROWS_FILE, dtype={"id": str})
            kept = kept[(kept["judge"] == judge) & (kept["start"] == start)]
            return kept.set_index("id")[["e_above_hull_eV_atom", "status", "seconds"]]
        return pd.DataFrame(columns=["e_above_hull_eV_atom", "status", "seconds"])
    structures = [structure_from_cif_text(cif) for cif in sample["cif"]]
    if start == "perturbed":
        structures = rattle_and_strain(structures, sigma=0.1, strain=0.05, seed=seed)
    potential = load_potential(judge)
    settings = RelaxSettings(fmax=0.05, max_steps=500)
    started = time.perf_counter()
    table = relax_structures(
        _crystals(sample["material_id"].tolist(), structures),
        potential,
        settings,
        out_dir=WORK / f"{judge}-{start}",
    )
    print(
        f"{judge} from {start}: {len(table)} rows in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return table.set_index("id")


def _crystals(ids, structures):
    from gendesign.data.crystal_set import CrystalSet

    return CrystalSet(list(ids), list(structures))


def score(sample: pd.DataFrame, rows: pd.DataFrame) -> dict:
    """Scores of one judge's verdicts on the sample (see the module docstring)."""
    ids = sample["material_id"].tolist()
    e_hull = rows.loc[ids, "e_above_hull_eV_atom"].to_numpy(float)
    dft = sample["energy_above_hull"].to_numpy(float)
    label = dft <= STABLE
    verdict = np.isfinite(e_hull) & (e_hull <= STABLE)
    finite = np.isfinite(e_hull)
    return {
        **verdict_scores(label, verdict),
        "mae_eV_atom": float(np.mean(np.abs(e_hull[finite] - dft[finite]))),
        "mean_error_eV_atom": float(np.mean(e_hull[finite] - dft[finite])),
        "converged": int((rows.loc[ids, "status"] == "converged").sum()),
        "relax_seconds": float(rows.loc[ids, "seconds"].astype(float).sum()),
        "_verdict": verdict,
    }


def judges_part(
    table: pd.DataFrame,
    judges: list[str],
    per_class: int,
    seed: int,
    max_atoms: int | None,
    relax: bool = True,
) -> dict:
    """Scores per judge and start; without ``relax``, on the sampled crystals every judge
    has finished from that start (the counts say how many of each class)."""
    full = stratified_sample(table, per_class, seed, max_atoms)
    size = f" of at most {max_atoms} atoms per cell" if max_atoms else ""
    out: dict = {
        "sample": f"{per_class} at or below and {per_class} above {STABLE} eV/atom (DFT, full MP "
        f"hull), the first of a seeded permutation (seed {seed}) of each class among the "
        f"MPTS-52 test crystals{size}",
        "n": int(len(full)),
    }
    kept = []
    for start in STARTS:
        rows = {judge: judge_rows(full, judge, start, seed, relax) for judge in judges}
        kept += [
            r.reindex(full["material_id"])
            .dropna(subset=["status"])
            .assign(judge=judge, start=start)
            for judge, r in rows.items()
        ]
        done = [all(i in r.index for r in rows.values()) for i in full["material_id"]]
        sample = full[np.array(done, dtype=bool)].reset_index(drop=True)
        label = sample["energy_above_hull"].to_numpy(float) <= STABLE
        out[f"scored ({start})"] = {"stable": int(label.sum()), "unstable": int((~label).sum())}
        if not len(sample):
            continue
        verdicts = []
        for judge in judges:
            scores = score(sample, rows[judge])
            verdicts.append(scores.pop("_verdict"))
            out[f"{judge} ({start})"] = scores
        if len(judges) > 1:
            both = np.logical_and.reduce(verdicts)
            out[f"consensus ({start})"] = verdict_scores(label, both)
            either = np.logical_or.reduce(verdicts)
            out[f"either ({start})"] = verdict_scores(label, either)
    kept = pd.concat(kept).rename_axis("id").reset_index()
    columns = ["id", "judge", "start", "e_above_hull_eV_atom", "status", "seconds"]
    kept[columns].to_csv(ROWS_FILE, index=False, float_format="%.5g")
    return out


BAND_GAP_RANGES = ((0.5, 3.0), (1.5, 2.5))  # eV: the demo's target, the steering benchmark's


def properties_part() -> dict:
    """Band gap: the screening ensemble and the independent judge against DFT on MP-20 test."""
    from gendesign.data.inputs import load_dataset_split
    from predictors.composition import bundled_judge
    from predictors.inference import Predictor

    test = load_dataset_split("mp20", "test", None)
    dft = test.properties["band_gap"].to_numpy(float)
    started = time.perf_counter()
    screening = Predictor.load("mp20").predict(test)["band_gap_mean"].to_numpy(float)
    screening_seconds = time.perf_counter() - started
    started = time.perf_counter()
    judge = bundled_judge("mp20")
    independent = judge.predict([s.composition for s in test.structures])["band_gap"].to_numpy()
    independent_seconds = time.perf_counter() - started
    out: dict = {
        "crystals": len(test),
        "mae_eV": {
            "screening GNN (mp20)": float(np.nanmean(np.abs(screening - dft))),
            f"independent ({judge.name})": float(np.nanmean(np.abs(independent - dft))),
        },
        "seconds": {"screening GNN (mp20)": screening_seconds, judge.name: independent_seconds},
        "ranges": {},
    }
    for low, high in BAND_GAP_RANGES:
        truth = (dft >= low) & (dft <= high)
        said = {
            "screening GNN (mp20)": (screening >= low) & (screening <= high),
            f"independent ({judge.name})": (independent >= low) & (independent <= high),
        }
        said["both"] = np.logical_and.reduce(list(said.values()))
        out["ranges"][f"{low:g}–{high:g} eV"] = {
            "dft_share": float(truth.mean()),
            **{
                name: {
                    "called": int(verdict.sum()),
                    "precision": float((verdict & truth).sum() / max(verdict.sum(), 1)),
                    "recall": float((verdict & truth).sum() / max(truth.sum(), 1)),
                }
                for name, verdict in said.items()
            },
        }
    return out


def write_tables(results: dict) -> None:
    hull = results.get("hull")
    lines = []
    if hull:
        lines.append(
            f"**The hull alone.** The {hull['rows']:,} MPTS-52 test crystals put on the MP-20 "
            "hull with their own DFT formation energies, against the file's E_hull above the "
            f"full MP hull: mean shift {hull['mean_shift_eV_atom']:+.3f} eV/atom, MAE "
            f"{hull['mae_eV_atom']:.3f} eV/atom, {hull['below_mp_hull']:,} fall below the MP-20 "
            f"hull. As a verdict (≤ {STABLE} eV/atom) against the file's: precision "
            f"{hull['precision']:.3f}, recall {hull['recall']:.3f} (tp {hull['tp']}, fp "
            f"{hull['fp']}, fn {hull['fn']}, tn {hull['tn']}). MP-20 holds fewer phases than "
            "all of MP, so its hull lies higher and calls some crystals stable that all of MP "
            "does not; every judge below inherits this: re-weighted to a 30 % stable share, "
            f"even exact DFT energies reach a precision of only "
            f"{hull['precision_at_30pct_stable']:.3f} on this hull, the ceiling of any judge "
            "scored here."
        )
        fuller = hull.get("fuller_hull")
        if fuller:
            lines[-1] += (
                f" A fuller hull ({fuller['label']}, {fuller['phases']:,} phases) moves it to "
                f"{fuller['precision_at_30pct_stable']:.3f} (fp {fuller['fp']} instead of "
                f"{hull['fp']}, mean shift {fuller['mean_shift_eV_atom']:+.3f} eV/atom); the "
                "rest of the gap needs the phases of all of MP, which no file here holds."
            )
        lines[-1] += "\n"
    judges = results.get("judges")
    if judges:
        rows = []
        for key, s in judges.items():
            if not isinstance(s, dict) or key.startswith("scored"):
                continue
            rows.append(
                [
                    key,
                    f"{s['precision']:.3f}",
                    f"{s['recall']:.3f}",
                    f"{s['f1']:.3f}",
                    f"{s['precision_at_30pct_stable']:.3f}",
                    f"{s['tp']} / {s['fp']} / {s['fn']} / {s['tn']}",
                    f"{s['mae_eV_atom']:.3f}" if "mae_eV_atom" in s else "",
                    f"{s['converged']}" if "converged" in s else "",
                    f"{s['relax_seconds']:.0f}" if "relax_seconds" in s else "",
                ]
            )
        lines.append(
            f"**Judges** on {judges['sample']} ({judges['n']} crystals). Stable: E_hull ≤ "
            f"{STABLE} eV/atom on the MP-20 hull through each judge's element references; "
            "labels: the file's DFT E_hull. Starts: the DFT structure, or perturbed (rattle "
            "σ 0.1 Å, lengths +5 %) and relaxed (FIRE + Fréchet cell, fmax 0.05 eV/Å, ≤ 500 "
            "steps). Consensus: stable by every judge; either: by at least one. Scored: "
            + "; ".join(
                f"{key[8:-1]} starts {v['stable']} stable and {v['unstable']} unstable by DFT"
                for key, v in judges.items()
                if key.startswith("scored")
            )
            + ".\n"
        )
        lines.append(
            reporting.markdown_table(
                [
                    "judge (start)",
                    "precision (sample)",
                    "recall",
                    "F1",
                    "precision at 30 % stable",
                    "tp / fp / fn / tn",
                    "E_hull MAE (eV/atom)",
                    "converged",
                    "relax s",
                ],
                rows,
            )
        )
        lines.append(
            "\nCHGNet 0.3.0 trained on MPtrj (Materials Project relaxations up to 2021), which "
            "holds frames of many of these crystals; TensorNet-MatPES saw MatPES PBE, a "
            "different set of off-equilibrium structures. Matbench Discovery's precision for "
            "CHGNet is 0.51 on WBM, new crystals: read these as upper bounds for candidates "
            "unlike anything in Materials Project. The figures are scored on the crystals every "
            "judge finished (the relaxations resume: rerun without --score-only to complete "
            "the sample); each judge's E_hull per crystal is in "
            "`benchmarks/results/judges_rows.csv`."
        )
    properties = results.get("properties")
    if properties:
        lines.append(
            f"\n**Property judges: band gap** on the {properties['crystals']:,} MP-20 test "
            "crystals (DFT structures, DFT band gaps). The screening GNN ensemble trained on "
            "MP-20 val and steers generation; the independent judge reads only the composition "
            "and trained on MP-20 train. MAE: "
            + ", ".join(f"{k} {v:.3f} eV" for k, v in properties["mae_eV"].items())
            + '. "In range" by each judge\'s point prediction:\n'
        )
        rows = [
            [window, f"{entry['dft_share']:.1%}", name, s["called"],
             f"{s['precision']:.3f}", f"{s['recall']:.3f}"]
            for window, entry in properties["ranges"].items()
            for name, s in entry.items()
            if isinstance(s, dict)
        ]  # fmt: skip
        lines.append(
            reporting.markdown_table(
                ["range", "DFT share in range", "judge", "called in range", "precision", "recall"],
                rows,
            )
        )
    reporting.update_section(
        NAME, 'How often "stable" is right: judges on MPTS-52', "\n".join(lines)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-atoms", type=int, default=20, help="0: any size")
    parser.add_argument("--judges", nargs="+", default=[CHGNET, TENSORNET_MATPES])
    parser.add_argument("--skip-hull", action="store_true")
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="relax nothing: score the relaxations finished so far (on the crystals every "
        "judge has finished)",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["hull", "judges", "properties"],
        choices=["hull", "judges", "properties"],
    )
    args = parser.parse_args()
    results = reporting.previous_results(NAME)
    facts = reporting.measurement_facts()
    table = load_mpts52_test()
    if "hull" in args.parts and not args.skip_hull:
        results["hull"] = hull_part(table)
        reporting.mark_measured(results, "hull", ["all rows"], facts)
    if "properties" in args.parts:
        results["properties"] = properties_part()
        reporting.mark_measured(results, "properties", ["band gap"], facts)
    if "judges" not in args.parts:
        reporting.publish(NAME, results, write_tables)
        return
    results["judges"] = judges_part(
        table, args.judges, args.per_class, args.seed, args.max_atoms or None, not args.score_only
    )
    reporting.mark_measured(results, "judges", args.judges, facts)
    perturbed = {
        (CONSENSUS if key.startswith("consensus") else key.split(" (")[0]): {
            k: v
            for k, v in scores.items()
            if k in ("precision", "recall", "precision_at_30pct_stable")
        }
        | {"n": scores["tp"] + scores["fp"] + scores["fn"] + scores["tn"]}
        for key, scores in results["judges"].items()
        if key.endswith("(perturbed)") and not key.startswith(("either", "scored"))
    }
    scored = results["judges"].get("scored (perturbed)", {})
    write_measured(
        perturbed,
        f"MPTS-52 test, perturbed starts: {scored.get('stable', 0)} DFT-stable and "
        f"{scored.get('unstable', 0)} DFT-unstable crystals scored, from "
        + results["judges"]["sample"],
    )
    reporting.publish(NAME, results, write_tables)


if __name__ == "__main__":
    main()
