"""The reference hull: one place that says which DFT phases every E_hull is measured against.

Two references, by name:

- ``full`` (the default): every formation energy the data root holds.
  MP-20 (train, val and test: 45,229 crystals of at most 20 atoms), MPTS-52 (val and
  test: 13,096 crystals of up to 52 atoms, on MP-20's correction scheme; the 4,967 that
  are MP-20 crystals too enter once) and the
  Materials Project formation energies of Matbench's ``mp_e_form`` (132,752 structures,
  polymorphs included), aligned to MP-20's correction scheme by :mod:`relax.hull_alignment`.
  Every aligned entry enters the hull, so a ground state MP-20 lacks (ZnI2, ZnBr2: cells
  over 20 atoms) competes too.
- ``mp20``: MP-20 alone, the reference of the project's earlier figures.

A built reference is cached in the user cache (``GENDESIGN_CACHE`` or
``~/.cache/gendesign``) as a numpy archive read without pickle, keyed by a hash of its
source files; the alignment's coefficients, residuals and provenance sit beside it in
JSON. Every E_hull names its reference by :attr:`HullReference.tag` (name and a hash of
the phases) and every report by :attr:`HullReference.label`.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from gendesign.data.cache import hash_sources, write_atomically
from gendesign.data.energy_tables import (
    MP_FORMATION_ENERGIES,
    MPTS52_FOLDER,
    MPTS52_SPLITS,
    read_mp_formation_energies,
    read_mpts52,
)
from gendesign.data.fetching import data_path
from gendesign.data.readers import read_mattergen_compositions
from gendesign.data.registry import MP20_CACHE
from gendesign.errors import ConfigError
from gendesign.notices import quiet_third_party
from gendesign.paths import resolve_cache_dir
from relax.hull import HullPhase, HullReference
from relax.hull_alignment import fit_alignment

log = logging.getLogger(__name__)

MP20_SPLITS = ("train", "val", "test")
HULLS = ("full", "mp20")
DEFAULT_HULL = "full"
HULL_DESCRIPTIONS = {
    "full": "MP-20, MPTS-52 and Materials Project formation energies aligned to MP-20",
    "mp20": "MP-20 alone (the reference of earlier figures)",
}
CACHE_FORMAT = 2  # bump when the stored layout or the alignment changes


def check_hull_name(name: str) -> str:
    if name not in HULLS:
        raise ConfigError(f"unknown hull '{name}'; choose one of {', '.join(HULLS)}")
    return name


@lru_cache(maxsize=4)
def reference_hull(name: str = DEFAULT_HULL, data_root: str | Path | None = None) -> HullReference:
    """The reference hull ``name`` (see the module docstring) under the resolved data root."""
    check_hull_name(name)
    if name == "mp20":
        return mp20_hull_reference(data_root)
    return _full_hull(data_root)


@lru_cache(maxsize=4)
def mp20_hull_reference(
    data_root: str | Path | None = None, splits: tuple[str, ...] = MP20_SPLITS
) -> HullReference:
    """The MP-20 hull (by default of all three splits); a benchmark that measures against
    held-out splits builds it from train alone."""
    phases = _mp20_phases(data_root, splits)
    name = "mp20" if splits == MP20_SPLITS else f"mp20-{'+'.join(splits)}"
    return HullReference(phases, name, (f"MP-20 {'+'.join(splits)}",))


def _mp20_phases(
    data_root: str | Path | None, splits: tuple[str, ...] = MP20_SPLITS
) -> list[HullPhase]:
    quiet_third_party()  # noble gases in the compositions
    phases = []
    for split in splits:
        ids, compositions, table = read_mattergen_compositions(
            data_path(MP20_CACHE / split, data_root), ["formation_energy_per_atom"]
        )
        for entry_id, composition, energy in zip(
            ids, compositions, table["formation_energy_per_atom"], strict=True
        ):
            if energy == energy:  # not NaN
                phases.append(
                    HullPhase(composition.reduced_formula, float(energy), "mp20", entry_id)
                )
    return phases


def _sources(data_root: str | Path | None) -> dict[str, Path]:
    relative = {f"mp20-{split}": MP20_CACHE / split for split in MP20_SPLITS}
    relative |= {f"mpts52-{s}": MPTS52_FOLDER / f"{s}.csv.gz" for s in MPTS52_SPLITS}
    relative["mp_e_form"] = MP_FORMATION_ENERGIES
    return {name: data_path(path, data_root) for name, path in relative.items()}


def _cache_paths(data_root: str | Path | None) -> tuple[Path, Path]:
    """The cached full hull's archive and its provenance, keyed by its sources' contents."""
    key = f"{CACHE_FORMAT}-{hash_sources(_sources(data_root))[:16]}"
    folder = resolve_cache_dir() / "hulls"
    return folder / f"full-{key}.npz", folder / f"full-{key}.json"


def _full_hull(data_root: str | Path | None) -> HullReference:
    archive, about = _cache_paths(data_root)
    phases = _read_archive(archive) if about.is_file() else None
    if phases is None:
        log.info("building the full reference hull (first use; cached afterwards)")
        phases, provenance = build_full_phases(data_root)
        write_atomically(archive, lambda tmp: _write_archive(tmp, phases), suffix=".npz")
        write_atomically(about, lambda tmp: Path(tmp).write_text(json.dumps(provenance, indent=1)))
    return HullReference(phases, "full", FULL_SOURCES)


FULL_SOURCES = (
    "MP-20 train+val+test",
    "MPTS-52 val+test",
    "Materials Project formation energies (mp_e_form) aligned to MP-20",
)


def build_full_phases(data_root: str | Path | None = None) -> tuple[list[HullPhase], dict]:
    """The full reference's phases and the provenance of its alignment (see the module
    docstring)."""
    mp20 = _mp20_phases(data_root)
    in_mp20 = {phase.entry_id for phase in mp20}  # 4,967 MPTS-52 crystals are MP-20's too
    mpts = []
    for split in MPTS52_SPLITS:
        table = read_mpts52(split, data_root)
        mpts += [
            HullPhase(formula, float(energy), "mpts52", str(entry_id))
            for formula, energy, entry_id in zip(
                table["formula"],
                table["formation_energy_per_atom"],
                table["material_id"],
                strict=True,
            )
            if energy == energy and entry_id not in in_mp20
        ]
    mp = read_mp_formation_energies(data_root)
    reference = {}
    for phase in mp20:  # ground state per formula on MP-20's scheme: what the fit aligns to
        reference[phase.formula] = min(reference.get(phase.formula, np.inf), phase.energy_per_atom)
    alignment = fit_alignment(reference, mp)
    aligned = alignment.apply(
        mp["formula"].tolist(), mp["formation_energy_per_atom"].to_numpy(float)
    )
    extra = [
        HullPhase(formula, float(energy), "mp_e_form", "")
        for formula, energy in zip(mp["formula"], aligned, strict=True)
        if np.isfinite(energy)
    ]
    provenance = {
        "sources": {name: str(path) for name, path in _sources(data_root).items()},
        "counts": {"mp20": len(mp20), "mpts52": len(mpts), "mp_e_form": len(extra)},
        "alignment": alignment.as_dict(),
    }
    return mp20 + mpts + extra, provenance


def full_hull_provenance(data_root: str | Path | None = None) -> dict:
    """The stored provenance of the full hull (alignment coefficients and residuals)."""
    reference_hull("full", data_root)  # built and cached if it was not
    _, about = _cache_paths(data_root)
    return json.loads(about.read_text())


_SOURCE_CODES = ("mp20", "mpts52", "mp_e_form")


def _write_archive(path: str, phases: list[HullPhase]) -> None:
    with open(path, "wb") as handle:  # a file handle: numpy would append .npz to a name
        np.savez_compressed(
            handle,
            formula=np.array([p.formula for p in phases]),
            energy=np.array([p.energy_per_atom for p in phases]),
            source=np.array([_SOURCE_CODES.index(p.source) for p in phases], dtype=np.int8),
            entry_id=np.array([p.entry_id for p in phases]),
        )


def _read_archive(path: Path) -> list[HullPhase] | None:
    """The phases of a cached archive, or None when it is absent or unreadable (rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            formulas, energies = stored["formula"].tolist(), stored["energy"].tolist()
            sources, ids = stored["source"].tolist(), stored["entry_id"].tolist()
    except Exception:  # absent, truncated or foreign: rebuild rather than fail
        return None
    shared: dict[str, str] = {}  # one string per formula: 186,110 phases, 140,000 formulas
    return [
        HullPhase(shared.setdefault(f, f), e, _SOURCE_CODES[s], i)
        for f, e, s, i in zip(formulas, energies, sources, ids, strict=True)
    ]
