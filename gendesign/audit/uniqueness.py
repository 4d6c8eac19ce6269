"""Uniqueness and novelty of the valid rows: which structures repeat one another
(StructureMatcher), which are known crystals, and which reduced formulas MP-20 train
lacks. Each is judged once per unique structure and copied to its duplicates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gendesign.audit.matching import MATCHING_MAX_ATOMS, NOVELTY_CLASSES, duplicate_of
from gendesign.audit.novelty_reference import NoveltyReference
from gendesign.audit.reference import known_mp20_formulas


def mark_uniqueness(table, structures, workers: int) -> np.ndarray:
    """Fill ``unique`` and ``duplicate_of`` (an id) for valid rows; return for every row
    the row of the first structure it matches (-1 for invalid rows, and for rows too
    large to compare, which ``match_note`` names)."""
    valid = table["valid"].to_numpy(dtype=bool)
    large = valid & (table["n_atoms"].fillna(0).to_numpy() > MATCHING_MAX_ATOMS)
    valid = np.flatnonzero(valid & ~large)
    leader_rows = np.full(len(table), -1)
    table["unique"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    table["duplicate_of"] = ""
    table["match_note"] = np.where(
        large,
        f"not compared with other crystals: more than {MATCHING_MAX_ATOMS} atoms "
        "(StructureMatcher's primitive-cell search would take minutes)",
        "",
    )
    if len(valid) == 0:
        return leader_rows
    formulas = table["reduced_formula"].to_numpy()[valid].tolist()
    first = duplicate_of([structures[i] for i in valid], formulas, workers)
    leader_rows[valid] = valid[first]
    ids = table["id"].astype(str).to_numpy()
    table.loc[valid, "unique"] = leader_rows[valid] == valid
    duplicates = valid[leader_rows[valid] != valid]
    table.loc[duplicates, "duplicate_of"] = ids[leader_rows[duplicates]]
    return leader_rows


def mark_composition_novelty(table: pd.DataFrame, data_root) -> bool:
    """Flag reduced formulas absent from MP-20 train; False when that data is not found."""
    known = known_mp20_formulas(data_root)
    if known is None:
        return False
    readable = table["readable"].to_numpy(dtype=bool)
    column = pd.Series(pd.NA, index=table.index, dtype="boolean")
    column[readable] = ~table.loc[readable, "reduced_formula"].isin(known)
    table["novel_composition_mp20_train"] = column
    return True


def mark_known_formulas(table: pd.DataFrame, data_root) -> None:
    """``formula_note``: for a row not known as a crystal whose reduced formula Materials
    Project holds but MP-20 lacks, that its formula is known (the structure could not be
    compared: those entries carry no structure here); empty otherwise, and when the data
    root has no Materials Project table."""
    from gendesign.data.energy_tables import known_formula_note

    known = table.get("novelty_class", pd.Series("", index=table.index)) == "known"
    table["formula_note"] = [
        "" if is_known else known_formula_note(formula, data_root)
        for formula, is_known in zip(table["reduced_formula"], known, strict=True)
    ]


def mark_novelty(
    table, structures, novelty: NoveltyReference, leader_rows: np.ndarray, workers: int
) -> None:
    """``novelty_class`` (known, substitution-derived, novel-framework), ``matched_id``,
    ``matched_split`` and ``novel`` (not known) for valid rows: judged once per unique
    structure, copied to its duplicates."""
    table["novel"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    for name in ("novelty_class", "matched_id", "matched_split"):
        table[name] = ""
    leaders = np.flatnonzero(leader_rows == np.arange(len(table)))
    if len(leaders) == 0:
        return
    matches = novelty.classify([structures[i] for i in leaders], workers)
    found = {
        "novelty_class": [m.novelty_class for m in matches],
        "matched_id": [m.matched_id or "" for m in matches],
        "matched_split": [m.matched_split or "" for m in matches],
    }
    valid = np.flatnonzero(leader_rows >= 0)
    for name, values in found.items():
        column = np.full(len(table), "", dtype=object)
        column[leaders] = values
        table.loc[valid, name] = column[leader_rows[valid]]
    table.loc[valid, "novel"] = table.loc[valid, "novelty_class"] != "known"


def uniqueness_summary(table: pd.DataFrame, has_composition_novelty: bool) -> dict:
    valid = table["valid"].astype(bool)
    n_valid = int(valid.sum())
    unique = table["unique"].fillna(False).astype(bool)
    # cells too large to compare (``unique`` left empty) count in neither numerator nor base
    n_compared = int((valid & table["unique"].notna()).sum())
    out: dict = {
        "uniqueness": float(unique.sum() / n_compared) if n_compared else float("nan"),
        "n_unique": int(unique.sum()),
    }
    if "novel" in table:
        novel_unique = unique & table["novel"].fillna(False).astype(bool)
        out["novelty"] = float(novel_unique.sum() / unique.sum()) if unique.sum() else float("nan")
        out["n_unique_novel"] = int(novel_unique.sum())
        classes = table.loc[unique, "novelty_class"]
        out["novelty_classes"] = {
            name: float((classes == name).sum() / unique.sum()) if unique.sum() else float("nan")
            for name in NOVELTY_CLASSES
        }
    if has_composition_novelty:
        novel_comp = table["novel_composition_mp20_train"].fillna(False).astype(bool) & valid
        out["composition_novelty_mp20_train"] = (
            float(novel_comp.sum() / n_valid) if n_valid else float("nan")
        )
    return out
