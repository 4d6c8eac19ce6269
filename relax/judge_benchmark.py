"""How often a stability judge's "stable" is right, measured on DFT-labelled crystals.

MPTS-52 test holds 8,096 DFT-relaxed Materials Project crystals with their DFT energy
above the hull of all of Materials Project (the label: stable when ≤ 0.1 eV/atom). A
judge (any potential :func:`relax.potentials.load_potential` can load, plug-ins
included) relaxes a stratified sample of them, from the DFT structure or from a
perturbed start (rattle σ 0.1 Å, every length +5 %: what a candidate's structure looks
like to a judge), and its energies go onto a reference hull through its element
references. Each crystal is scored without its own entry in that hull
(``leave_out``). The scores: precision, recall, F1, the raw counts, the E_hull MAE and
the precision re-weighted to a 30 % stable share (the share typical of generated
candidates): P = r·π / (r·π + f·(1 − π)), r the recall on the stable stratum, f the
false-stable rate on the unstable one.

``gendesign judges benchmark --potential NAME`` runs it and stores the figures in the
user's table (:mod:`relax.precision`), which reports print beside every "stable".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gendesign.data.crystal_set import CrystalSet
from gendesign.data.energy_tables import read_mpts52
from gendesign.data.readers import structure_from_cif_text
from relax.hull import HullReference
from relax.perturb import rattle_and_strain
from relax.relaxation import RelaxSettings
from relax.runner import RESULTS_FILE, relax_structures, safe_name
from relax.verdicts import STABLE, least_favourable

STABLE_SHARE = 0.3  # share of stable crystals among generated candidates
STARTS = ("perturbed", "dft")  # the off-equilibrium case first: it is what candidates are
SETTINGS = RelaxSettings(fmax=0.05, max_steps=500)


def stratified_sample(
    table: pd.DataFrame, per_class: int, seed: int, max_atoms: int | None = None
) -> pd.DataFrame:
    """``per_class`` crystals at or below and ``per_class`` above 0.1 eV/atom (DFT), the first
    of one seeded permutation per class (a larger sample contains a smaller one)."""
    rng = np.random.default_rng(seed)
    e_hull = table["energy_above_hull"].to_numpy(float)
    small = table["n_atoms"].to_numpy() <= max_atoms if max_atoms else np.ones(len(table), bool)
    stable = np.flatnonzero((e_hull <= STABLE) & small)
    unstable = np.flatnonzero((e_hull > STABLE) & small)
    rows = np.concatenate(
        [rng.permutation(stable)[:per_class], rng.permutation(unstable)[:per_class]]
    )
    return table.iloc[np.sort(rows)].reset_index(drop=True)


def sample_description(per_class: int, seed: int, max_atoms: int | None) -> str:
    size = f" of at most {max_atoms} atoms per cell" if max_atoms else ""
    return (
        f"{per_class} at or below and {per_class} above {STABLE} eV/atom (DFT, full MP hull), "
        f"the first of a seeded permutation (seed {seed}) of each class among the MPTS-52 "
        f"test crystals{size}"
    )


def verdict_scores(label: np.ndarray, verdict: np.ndarray) -> dict:
    """Precision, recall, F1 of ``verdict`` (called stable) against ``label`` (DFT stable),
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


def hull_e_above(
    hull: HullReference, table: pd.DataFrame, energies: Sequence[float], leave_out: bool = True
) -> np.ndarray:
    """E_hull (eV/atom) of each row of ``table`` (columns ``composition``, ``material_id``) at
    the formation energy ``energies`` (eV/atom), without the crystal's own entry (unless
    ``leave_out`` is off)."""
    return np.array(
        [
            hull.e_above_hull(
                composition, float(e), leave_out=str(material_id) if leave_out else None
            ).e_above_hull
            if np.isfinite(e)
            else np.nan
            for composition, e, material_id in zip(
                table["composition"], energies, table["material_id"], strict=True
            )
        ]
    )


def hull_scores(table: pd.DataFrame, hull: HullReference) -> dict:
    """The verdicts of ``hull`` with the file's own DFT formation energies, against the file's
    E_hull above all of Materials Project: what the reference alone costs any judge.

    The file's E_hull is Materials Project's, never negative (a ground state sits at 0);
    a crystal scored without its own entry lies below the rest of the hull instead, so the
    errors compare our E_hull clipped at 0 (``mae_eV_atom``, ``mean_shift_eV_atom``) and,
    unclipped, ``mae_unclipped_eV_atom``; ``mae_own_entries_kept_eV_atom`` keeps each
    crystal's own entries in the hull (where a ground state sits at 0 by construction)."""
    ours = hull_e_above(hull, table, table["formation_energy_per_atom"].to_numpy(float))
    kept = hull_e_above(hull, table, table["formation_energy_per_atom"].to_numpy(float), False)
    theirs = table["energy_above_hull"].to_numpy(float)
    ok = np.isfinite(ours)
    label, verdict = theirs[ok] <= STABLE, ours[ok] <= STABLE
    clipped = np.maximum(ours[ok], 0.0)
    return {
        "hull": hull.label,
        "rows": int(len(table)),
        "on_hull": int(ok.sum()),
        "mean_shift_eV_atom": float(np.mean(clipped - theirs[ok])),
        "mae_eV_atom": float(np.mean(np.abs(clipped - theirs[ok]))),
        "mae_unclipped_eV_atom": float(np.mean(np.abs(ours[ok] - theirs[ok]))),
        "mae_own_entries_kept_eV_atom": float(np.nanmean(np.abs(kept - theirs))),
        "below_mp_hull": int((ours[ok] < -1e-6).sum()),
        **verdict_scores(label, verdict),
    }


def relax_judge(
    sample: pd.DataFrame,
    judge: str,
    start: str,
    work: Path,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Each sampled crystal relaxed by ``judge`` from ``start`` ("dft" or "perturbed"): the
    relaxation rows (``e_form_eV_atom``, ``status``, ``seconds``, ...) by id; resumable in
    ``work/<judge>-<start>``."""
    structures = [structure_from_cif_text(cif) for cif in sample["cif"]]
    if start == "perturbed":
        structures = rattle_and_strain(structures, sigma=0.1, strain=0.05, seed=seed)
    crystals = CrystalSet(sample["material_id"].astype(str).tolist(), structures)
    table = relax_structures(
        crystals, judge, SETTINGS, out_dir=work / f"{safe_name(judge)}-{start}", progress=progress
    )
    return table.set_index("id")


def finished_rows(work: Path, judge: str, start: str) -> pd.DataFrame:
    """The relaxations of ``judge`` from ``start`` already in ``work`` (empty when none)."""
    path = work / f"{safe_name(judge)}-{start}" / RESULTS_FILE
    if not path.exists():
        return pd.DataFrame(columns=["e_form_eV_atom", "status", "seconds"])
    rows = pd.read_csv(path, dtype={"id": str}, keep_default_na=False, na_values=["nan"])
    return rows.drop_duplicates("id", keep="last").set_index("id")


def judge_e_hull(sample: pd.DataFrame, rows: pd.DataFrame, hull: HullReference) -> np.ndarray:
    """A judge's E_hull (eV/atom) per sampled crystal on ``hull``; NaN where its relaxation
    did not converge (no minimum, no verdict: counted as not stable)."""
    ids = sample["material_id"].astype(str)
    e_form = rows.reindex(ids)["e_form_eV_atom"].to_numpy(float)
    converged = (rows.reindex(ids)["status"] == "converged").to_numpy()
    return np.where(converged, hull_e_above(hull, sample, e_form), np.nan)


def score(sample: pd.DataFrame, e_hull: np.ndarray, rows: pd.DataFrame | None = None) -> dict:
    """Scores of one judge's (or one rule's) E_hull on the sample."""
    dft = sample["energy_above_hull"].to_numpy(float)
    label = dft <= STABLE
    verdict = np.isfinite(e_hull) & (e_hull <= STABLE)
    finite = np.isfinite(e_hull)
    scores = {
        **verdict_scores(label, verdict),
        "mae_eV_atom": float(np.mean(np.abs(e_hull[finite] - dft[finite])))
        if finite.any()
        else float("nan"),
        "mean_error_eV_atom": float(np.mean(e_hull[finite] - dft[finite]))
        if finite.any()
        else float("nan"),
    }
    if rows is not None:
        ids = sample["material_id"].astype(str)
        scores["converged"] = int((rows.reindex(ids)["status"] == "converged").sum())
        scores["relax_seconds"] = float(rows.reindex(ids)["seconds"].astype(float).sum())
    return scores


def score_judges(
    sample: pd.DataFrame, rows: dict[str, pd.DataFrame], hull: HullReference
) -> dict[str, dict]:
    """Scores per judge, and with several judges of the least favourable one (the
    project's verdict, :mod:`relax.verdicts`), on the crystals every judge finished."""
    done = np.logical_and.reduce(
        [sample["material_id"].astype(str).isin(r.index).to_numpy() for r in rows.values()]
    )
    sample = sample[done].reset_index(drop=True)
    e_hulls = {judge: judge_e_hull(sample, r, hull) for judge, r in rows.items()}
    label = sample["energy_above_hull"].to_numpy(float) <= STABLE
    out: dict[str, dict] = {"scored": {"stable": int(label.sum()), "unstable": int((~label).sum())}}
    for judge, e_hull in e_hulls.items():
        out[judge] = score(sample, e_hull, rows[judge])
    if len(rows) > 1:
        stacked = np.column_stack(list(e_hulls.values()))
        out["least favourable"] = score(sample, least_favourable(stacked))
    return out


def measure_judge(
    judge: str,
    hull: HullReference,
    work: Path,
    per_class: int = 50,
    seed: int = 0,
    max_atoms: int | None = 20,
    starts: Sequence[str] = ("perturbed",),
    data_root: str | Path | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> dict:
    """Relax the sample with ``judge`` from each start and score it on ``hull``; returns
    ``{"sample": ..., "<start>": scores}``."""
    table = read_mpts52("test", data_root)
    sample = stratified_sample(table, per_class, seed, max_atoms)
    out: dict = {"sample": sample_description(per_class, seed, max_atoms), "hull": hull.label}
    for start in starts:
        started = time.perf_counter()
        advance = progress(f"{judge} from {start} starts", len(sample)) if progress else None
        rows = relax_judge(sample, judge, start, work, seed, advance)
        out[start] = score_judges(sample, {judge: rows}, hull)[judge]
        out[start]["seconds"] = time.perf_counter() - started
    return out
