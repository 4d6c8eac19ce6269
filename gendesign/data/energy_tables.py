"""DFT formation energies known beyond MP-20's crystals, at composition level.

Two tables under the data root complete what MP-20 knows about Materials Project:

- MPTS-52 val and test (``mpts_52/{val,test}.csv.gz``): 13,096 DFT-relaxed Materials
  Project crystals of up to 52 atoms, with their formation energy and their energy
  above the hull of all of Materials Project. Their energies use MP-20's correction
  scheme (the 4,967 ids both hold agree to a median of 0.0 eV/atom).
- Materials Project formation energies (``mp_e_form/mp_e_form.csv``, Matbench's
  ``matbench_mp_e_form``): 132,752 rows, one per Materials Project structure as of
  2018-2019, at composition level, under the correction scheme of that time.

Readers return reduced formulas and energies in eV/atom; they never parse a CIF whole
(the cell's formula is read from ``_chemical_formula_sum``), so the 13,096 MPTS-52 rows
load in about a second.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
from pymatgen.core import Composition

from gendesign.data.fetching import data_path
from gendesign.data.registry import MP20_CACHE, MP_FORMATION_ENERGIES, MPTS52_FOLDER
from gendesign.errors import InputError
from gendesign.notices import quiet_third_party

MPTS52_SPLITS = ("val", "test")
MP20_SPLITS = ("train", "val", "test")


def read_mpts52(split: str, data_root: str | Path | None = None) -> pd.DataFrame:
    """MPTS-52 ``split`` with ``composition`` (the cell's, from its CIF's formula sum),
    ``formula`` (reduced), ``n_atoms``, ``formation_energy_per_atom`` and
    ``energy_above_hull`` (eV/atom, DFT, above all of Materials Project) and the CIF."""
    path = data_path(MPTS52_FOLDER / f"{split}.csv.gz", data_root)
    table = pd.read_csv(path)
    sums = table["cif"].str.extract(r"_chemical_formula_sum\s+'?([^'\n]+)'?")[0]
    if sums.isna().any():
        row = int(sums.isna().to_numpy().argmax())
        raise InputError(f"{path}: row {row} has a CIF without _chemical_formula_sum")
    quiet_third_party()
    table["composition"] = [Composition(text.strip()) for text in sums]
    table["formula"] = [c.reduced_formula for c in table["composition"]]
    table["n_atoms"] = [int(round(c.num_atoms)) for c in table["composition"]]
    return table


def read_mp_formation_energies(data_root: str | Path | None = None) -> pd.DataFrame:
    """Materials Project formation energies: ``formula`` (reduced) and
    ``formation_energy_per_atom`` (eV/atom, the 2018-2019 correction scheme), one row per
    Materials Project structure (polymorphs included)."""
    path = data_path(MP_FORMATION_ENERGIES, data_root)
    table = pd.read_csv(path)
    if list(table.columns) != ["formula", "target"]:
        raise InputError(
            f"{path}: expected the columns formula, target; found {list(table.columns)}"
        )
    quiet_third_party()
    formulas = {text: Composition(text).reduced_formula for text in table["formula"].unique()}
    return pd.DataFrame(
        {
            "formula": table["formula"].map(formulas),
            "formation_energy_per_atom": table["target"].astype(float),
        }
    )


KNOWN_FORMULA_NOTE = "formula known in Materials Project (structure not compared)"


@lru_cache(maxsize=2)
def formulas_beyond_mp20(data_root: str | Path | None = None) -> frozenset[str]:
    """Reduced formulas Materials Project holds (:func:`materials_project_formulas`) that no
    MP-20 crystal of any split has: a candidate of one of these is a new structure of a
    known compound at best, not a new compound. Cached in the user cache (a text file,
    keyed by the source files' contents): every campaign worker reads it in milliseconds."""
    from gendesign.data.cache import hash_sources, write_atomically
    from gendesign.paths import resolve_cache_dir

    sources = {"mp_e_form": data_path(MP_FORMATION_ENERGIES, data_root)}
    sources |= {
        f"mpts52-{s}": data_path(MPTS52_FOLDER / f"{s}.csv.gz", data_root) for s in MPTS52_SPLITS
    }
    sources |= {f"mp20-{s}": data_path(MP20_CACHE / s, data_root) for s in MP20_SPLITS}
    path = resolve_cache_dir() / "formulas" / f"beyond-mp20-{hash_sources(sources)[:16]}.txt"
    if path.is_file():
        return frozenset(path.read_text().split())
    formulas = materials_project_formulas(data_root) - mp20_formulas(data_root)
    write_atomically(path, lambda tmp: Path(tmp).write_text("\n".join(sorted(formulas))))
    return formulas


def known_formula_note(formula: str, data_root: str | Path | None = None) -> str:
    """:data:`KNOWN_FORMULA_NOTE` for a reduced formula Materials Project holds but MP-20
    lacks; empty otherwise, and when the data root has no Materials Project table."""
    from gendesign.errors import GendesignError

    try:
        beyond = formulas_beyond_mp20(data_root)
    except GendesignError:  # no data root, or no Materials Project table in it
        return ""
    return KNOWN_FORMULA_NOTE if formula in beyond else ""


@lru_cache(maxsize=2)
def mp20_formulas(data_root: str | Path | None = None) -> frozenset[str]:
    """Reduced formulas of every MP-20 crystal (train, val and test)."""
    from gendesign.data.readers import read_mattergen_compositions

    formulas: set[str] = set()
    for split in MP20_SPLITS:
        _, compositions, _ = read_mattergen_compositions(data_path(MP20_CACHE / split, data_root))
        formulas |= {c.reduced_formula for c in compositions}
    return frozenset(formulas)


@lru_cache(maxsize=2)
def materials_project_formulas(data_root: str | Path | None = None) -> frozenset[str]:
    """Reduced formulas Materials Project holds according to the tables here (MPTS-52 and
    the formation-energy set): what "formula known in Materials Project" checks."""
    formulas = set(read_mp_formation_energies(data_root)["formula"])
    for split in MPTS52_SPLITS:
        formulas |= set(read_mpts52(split, data_root)["formula"])
    return frozenset(formulas)
