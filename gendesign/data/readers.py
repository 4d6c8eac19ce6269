"""Readers: every supported input becomes a :class:`CrystalSet`.

Supported inputs
  * CDVAE-format CSV / CSV.GZ: a ``cif`` column plus property columns;
  * a MatterGen cache folder (``num_atoms.npy``, ``atomic_numbers.npy``,
    ``pos.npy``, ``cell.npy``, ``structure_id.npy``, ``<property>.json``);
  * a folder of structure files (CIF, POSCAR/CONTCAR/.vasp, extxyz/xyz);
  * one structure file (multi-frame extxyz gives one crystal per frame);
  * an ASE database (``.db``, SQLite).

Batch readers never stop at a bad item: it is recorded in ``CrystalSet.skipped``
with its reason. Problems with the input as a whole (missing file, CSV without a
``cif`` column) raise :class:`InputError` naming the file.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
from ase import Atoms
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.data.crystal_set import CrystalSet, SkippedItem
from gendesign.data.validation import (
    check_geometry,
    check_structure,
    strip_oxidation_states,
    too_many_atoms,
)
from gendesign.errors import InputError, StructureError

CIF_SUFFIXES = {".cif"}
ASE_SUFFIXES = {".extxyz", ".xyz", ".traj"}
VASP_SUFFIXES = {".vasp", ".poscar"}
VASP_NAMES = re.compile(r"^(POSCAR|CONTCAR)", re.IGNORECASE)
CSV_SUFFIXES = (".csv", ".csv.gz")
ID_COLUMNS = ("material_id", "id", "structure_id")
# CSV columns that are neither an id nor a property.
NON_PROPERTY_COLUMNS = {"cif", "Unnamed: 0", "pretty_formula", "formula", "elements"}


# --------------------------------------------------------------------------- single items


# Byte-order marks and their codecs; UTF-32's come first, as they begin like UTF-16's.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text(path: Path) -> str:
    """The text of a structure file, decoded by its byte-order mark (UTF-8, 16 or 32); a
    file without one as UTF-16 when it has NUL bytes, else UTF-8, else Latin-1 (which
    reads any byte: the parser then names what it cannot read)."""
    data = path.read_bytes()
    for mark, codec in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return data.decode(codec, errors="replace")
    if b"\x00" in data[:4096]:  # ASCII text in UTF-16: every other byte is NUL
        codec = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def structure_from_cif_text(text: str) -> Structure:
    """Parse one CIF string; raise StructureError with pymatgen's reason on failure."""
    if not text or not str(text).strip():
        raise StructureError("the CIF text is empty")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            structure = Structure.from_str(str(text), fmt="cif")
        except Exception as err:  # pymatgen raises ValueError and friends
            detail = _last_warning(caught) or str(err)
            if "singular matrix" in detail.lower():
                raise StructureError("the lattice is degenerate (zero cell volume)") from None
            raise StructureError(f"the CIF could not be parsed ({detail})") from None
    return strip_oxidation_states(check_structure(structure))


def cif_atom_site_rows(text: str) -> int:
    """Rows of a CIF's atom-site loop: its atoms when the CIF lists every site (P1), fewer
    when symmetry generates more. Read without parsing the CIF, so a huge cell can be
    declined before pymatgen spends minutes on it."""
    rows, in_sites, header_done = 0, False, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("loop_") or stripped.startswith("data_"):
            if header_done:
                break
            in_sites = False
            continue
        if stripped.startswith("_"):
            if header_done:
                break
            in_sites = in_sites or stripped.startswith("_atom_site_fract_x")
            continue
        if in_sites and stripped and not stripped.startswith("#"):
            header_done = True
            rows += 1
    return rows


def read_structure(path: str | Path) -> Structure:
    """Read exactly one structure from a CIF, POSCAR or single-frame extxyz file.

    Raises InputError naming the file and the problem.
    """
    path = Path(path)
    crystals = read_structures(path)
    if crystals.skipped:
        raise InputError(f"{path}: {crystals.skipped[0].reason}")
    if len(crystals) != 1:
        raise InputError(f"{path}: expected one structure, found {len(crystals)}")
    return crystals.structures[0]


# --------------------------------------------------------------------------- dispatch


def read_structures(path: str | Path, max_atoms: int | None = None) -> CrystalSet:
    """Read any supported input (see module docstring) into a CrystalSet. With
    ``max_atoms``, a CIF whose atom-site rows alone exceed it is declined before it is
    parsed (pymatgen's CIF parser takes seconds per thousand sites), with the reason."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "num_atoms.npy").exists():
            return read_mattergen_cache(path)
        return read_structure_folder(path, max_atoms)
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return read_cdvae_csv(path)
    if path.suffix.lower() == ".db":
        return read_ase_db(path)
    if _is_structure_file(path):
        return _crystal_set_from_files([path], source=str(path), max_atoms=max_atoms)
    raise InputError(
        f"{path}: unrecognised input; expected a CSV with a 'cif' column, a .db ASE database, "
        "a CIF/POSCAR/extxyz file, or a folder of them"
    )


# --------------------------------------------------------------------------- CDVAE CSV


def read_cdvae_csv(
    path: str | Path,
    property_columns: Iterable[str] | None = None,
    id_column: str | None = None,
) -> CrystalSet:
    """Read a CDVAE-format CSV (``cif`` column + property columns).

    ``property_columns`` defaults to every numeric column that is not an id or
    an index. ``id_column`` defaults to the first of material_id / id /
    structure_id present, else the row number.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty") from None
    except Exception as err:
        raise InputError(f"{path}: not a readable CSV ({err})") from None
    if "cif" not in frame.columns:
        raise InputError(
            f"{path}: no 'cif' column (columns are: {', '.join(map(str, frame.columns))})"
        )
    id_column = id_column or next((c for c in ID_COLUMNS if c in frame.columns), None)
    ids = (
        frame[id_column].astype(str).tolist()
        if id_column
        else [f"{path.name.split('.')[0]}-{i}" for i in range(len(frame))]
    )
    if property_columns is None:
        skip = NON_PROPERTY_COLUMNS | {id_column}
        property_columns = [
            c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])
        ]
    property_columns = list(property_columns)
    missing = [c for c in property_columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: property column(s) {', '.join(missing)} not found")
    values = frame[property_columns].apply(pd.to_numeric, errors="coerce")

    cifs = frame["cif"].tolist()
    return _collect(
        ids,
        build=lambda row: structure_from_cif_text(cifs[row] if isinstance(cifs[row], str) else ""),
        where=lambda row: f"{path.name} row {row}",
        properties=values,
        source=str(path),
    )


# --------------------------------------------------------------------------- MatterGen cache


def read_mattergen_cache(
    folder: str | Path,
    properties: Iterable[str] | None = None,
    rows: Sequence[int] | None = None,
) -> CrystalSet:
    """Read a MatterGen cache split folder (fractional ``pos.npy``, ``cell.npy`` rows in Å).

    ``properties`` defaults to every ``<name>.json`` in the folder; ``rows`` (indices, in
    order) reads only those structures.
    """
    folder = Path(folder)
    required = ["num_atoms.npy", "atomic_numbers.npy", "cell.npy", "structure_id.npy"]
    absent = [name for name in required if not (folder / name).exists()]
    if absent:
        raise InputError(f"{folder}: not a MatterGen cache folder (missing {', '.join(absent)})")
    if not (folder / "pos.npy").exists():
        raise InputError(
            f"{folder}: pos.npy is absent, so this split has no atomic positions "
            "(compositions and lattices only)"
        )
    num_atoms = np.load(folder / "num_atoms.npy")
    numbers = np.load(folder / "atomic_numbers.npy")
    positions = np.load(folder / "pos.npy")
    cells = np.load(folder / "cell.npy")
    ids = [str(x) for x in np.load(folder / "structure_id.npy")]
    if properties is None:
        properties = sorted(p.stem for p in folder.glob("*.json"))
    columns = {name: _read_property_json(folder / f"{name}.json") for name in properties}
    table = pd.DataFrame(columns)
    if len(table.columns) and len(table) != len(ids):
        raise InputError(
            f"{folder}: property files have {len(table)} rows for {len(ids)} structures"
        )

    offsets = np.concatenate([[0], np.cumsum(num_atoms)])
    if offsets[-1] != len(numbers) or len(numbers) != len(positions):
        raise InputError(
            f"{folder}: num_atoms sums to {offsets[-1]} but there are {len(numbers)} atomic "
            f"numbers and {len(positions)} positions"
        )
    if not len(table.columns):
        table = pd.DataFrame(index=range(len(ids)))

    picked = list(range(len(ids))) if rows is None else [int(i) for i in rows]

    def build(k: int) -> Structure:
        i = picked[k]
        atoms = slice(offsets[i], offsets[i + 1])
        return check_structure(_structure_from_arrays(cells[i], numbers[atoms], positions[atoms]))

    return _collect(
        [ids[i] for i in picked],
        build,
        where=lambda k: f"{folder.name} index {picked[k]}",
        properties=table.iloc[picked].reset_index(drop=True),
        source=str(folder),
    )


def _structure_from_arrays(cell: np.ndarray, numbers: np.ndarray, frac: np.ndarray) -> Structure:
    check_geometry(cell, frac)
    if np.any(numbers < 1) or np.any(numbers > 118):
        raise StructureError(
            f"unknown atomic number(s) {sorted(set(numbers[(numbers < 1) | (numbers > 118)]))}"
        )
    return Structure(Lattice(cell), numbers.tolist(), frac, coords_are_cartesian=False)


def read_mattergen_compositions(
    folder: str | Path, properties: Iterable[str] = ()
) -> tuple[list[str], list[Composition], pd.DataFrame]:
    """Ids, compositions and property columns of a MatterGen cache split; works without
    ``pos.npy`` (MP-20's train split ships compositions and energies only)."""
    folder = Path(folder)
    absent = [
        n
        for n in ("num_atoms.npy", "atomic_numbers.npy", "structure_id.npy")
        if not (folder / n).exists()
    ]
    if absent:
        raise InputError(f"{folder}: not a MatterGen cache folder (missing {', '.join(absent)})")
    numbers = np.load(folder / "atomic_numbers.npy")
    counts = np.load(folder / "num_atoms.npy")
    compositions = []
    for part in np.split(numbers, np.cumsum(counts)[:-1]):
        elements, amounts = np.unique(part, return_counts=True)
        compositions.append(
            Composition(dict(zip(elements.tolist(), amounts.tolist(), strict=True)))
        )
    ids = [str(x) for x in np.load(folder / "structure_id.npy")]
    table = pd.DataFrame(
        {name: _read_property_json(folder / f"{name}.json") for name in properties}
    )
    return ids, compositions, table


def _read_property_json(path: Path) -> np.ndarray:
    if not path.exists():
        raise InputError(f"{path}: property file not found")
    payload = json.loads(path.read_text())
    values = payload["values"] if isinstance(payload, dict) else payload
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


# --------------------------------------------------------------------------- structure files


def read_structure_folder(folder: str | Path, max_atoms: int | None = None) -> CrystalSet:
    """Read every CIF / POSCAR / extxyz file in ``folder`` (not recursive), sorted by name
    (``max_atoms``: see :func:`read_structures`)."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and _is_structure_file(p))
    if not files:
        raise InputError(f"{folder}: no CIF, POSCAR or extxyz files found")
    return _crystal_set_from_files(files, source=str(folder), max_atoms=max_atoms)


def _is_structure_file(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in CIF_SUFFIXES | ASE_SUFFIXES | VASP_SUFFIXES or bool(
        VASP_NAMES.match(path.name)
    )


def _crystal_set_from_files(
    files: list[Path], source: str, max_atoms: int | None = None
) -> CrystalSet:
    ids, structures, rows, skipped = [], [], [], []
    for path in files:
        try:
            for frame_id, item, props in _read_file_items(path, max_atoms):
                try:
                    structures.append(_to_checked_structure(item))
                    ids.append(frame_id)
                    rows.append(props)
                except StructureError as err:
                    skipped.append(SkippedItem(str(path), frame_id, err.reason))
        except StructureError as err:
            skipped.append(SkippedItem(str(path), path.stem, err.reason))
    return CrystalSet(ids, structures, _property_frame(rows), skipped, source)


def _read_file_items(
    path: Path, max_atoms: int | None = None
) -> list[tuple[str, Structure | Atoms, dict[str, float]]]:
    """All (id, structure or atoms, properties) in one file; raise StructureError if unreadable
    or, for a CIF of more than ``max_atoms`` atom sites, declined."""
    if path.stat().st_size == 0:
        raise StructureError("the file is empty")
    suffix = path.suffix.lower()
    if suffix in CIF_SUFFIXES:
        text = read_text(path)
        sites = cif_atom_site_rows(text)
        if max_atoms is not None and sites > max_atoms:
            raise StructureError(too_many_atoms(sites, max_atoms))
        return [(path.stem, structure_from_cif_text(text), {})]
    if suffix in ASE_SUFFIXES:
        return _read_ase_frames(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return [(path.stem, Structure.from_str(read_text(path), fmt="poscar"), {})]
        except Exception as err:
            detail = _last_warning(caught) or str(err) or type(err).__name__
            raise StructureError(f"the POSCAR could not be parsed ({detail})") from None


def _read_ase_frames(path: Path) -> list[tuple[str, Atoms, dict[str, float]]]:
    from ase.io import read as ase_read

    try:
        if path.suffix.lower() == ".traj":  # binary
            frames = ase_read(path, index=":")
        else:
            frames = ase_read(io.StringIO(read_text(path)), index=":", format="extxyz")
    except Exception as err:
        raise StructureError(
            f"the file could not be parsed by ASE ({err or type(err).__name__})"
        ) from None
    items = []
    for index, atoms in enumerate(frames):
        frame_id = str(atoms.info.get("material_id", atoms.info.get("id", f"{path.stem}-{index}")))
        items.append((frame_id, atoms, _numeric_info(atoms.info)))
    return items


# --------------------------------------------------------------------------- ASE database


def read_ase_db(path: str | Path) -> CrystalSet:
    """Read every row of an ASE database; numeric key-value pairs become properties."""
    import ase.db

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such database file")
    _check_ase_database(path)
    try:
        database = ase.db.connect(str(path))
        rows = list(database.select())
    except Exception as err:
        raise InputError(f"{path}: not a readable ASE database ({err})") from None
    ids, structures, props, skipped = [], [], [], []
    for row in rows:
        pairs = row.key_value_pairs
        item_id = str(pairs.get("material_id", pairs.get("name", f"{path.stem}-{row.id}")))
        try:
            structure = _to_checked_structure(row.toatoms())
        except StructureError as err:
            skipped.append(SkippedItem(f"{path.name} row {row.id}", item_id, err.reason))
            continue
        except Exception as err:
            skipped.append(
                SkippedItem(f"{path.name} row {row.id}", item_id, f"unreadable row ({err})")
            )
            continue
        ids.append(item_id)
        structures.append(structure)
        props.append(_numeric_info(pairs))
    return CrystalSet(ids, structures, _property_frame(props), skipped, str(path))


SQLITE_HEADER = b"SQLite format 3\x00"


def _check_ase_database(path: Path) -> None:
    """Raise one sentence unless ``path`` already is an ASE database, checked without
    writing: ASE's ``connect`` creates its tables in a file that lacks them, which would
    change an input that is only read."""
    if path.stat().st_size == 0:
        raise InputError(f"{path}: an empty file, not an ASE database")
    if path.suffix.lower() != ".db":
        return  # ASE's JSON databases are only read by connect
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise InputError(f"{path}: not an SQLite file, so not an ASE database")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as err:
        raise InputError(f"{path}: not a readable SQLite file ({err})") from None
    if "systems" not in tables:
        raise InputError(f"{path}: an SQLite file without ASE's tables, not an ASE database")


# --------------------------------------------------------------------------- helpers


def _collect(
    ids: list[str],
    build: Callable[[int], Structure],
    where: Callable[[int], str],
    properties: pd.DataFrame,
    source: str,
) -> CrystalSet:
    """Build item ``k`` for every id; a StructureError records it as skipped and the rest go on."""
    kept, structures, skipped = [], [], []
    for k, item_id in enumerate(ids):
        try:
            structures.append(build(k))
            kept.append(k)
        except StructureError as err:
            skipped.append(SkippedItem(where(k), item_id, err.reason))
    return CrystalSet([ids[k] for k in kept], structures, properties.iloc[kept], skipped, source)


def _to_checked_structure(item: Structure | Atoms) -> Structure:
    """A validated, charge-free Structure; ASE Atoms are checked before conversion
    (pymatgen cannot even build a Structure from a singular cell)."""
    if isinstance(item, Atoms):
        if not item.pbc.all():
            raise StructureError("the structure is not periodic in all three directions")
        check_geometry(np.asarray(item.cell), item.positions)
        item = AseAtomsAdaptor.get_structure(item)
    return strip_oxidation_states(check_structure(item))


def _numeric_info(info: dict) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in info.items()
        if isinstance(value, int | float | np.number) and not isinstance(value, bool)
    }


def _property_frame(rows: list[dict[str, float]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).reindex(columns=sorted({k for r in rows for k in r}))


def _last_warning(caught: list[warnings.WarningMessage]) -> str:
    """pymatgen hides the real parse error in a warning; return it on one line."""
    if not caught:
        return ""
    text = str(caught[-1].message)
    text = text.replace("Issues encountered while parsing CIF:", "").strip()
    return " ".join(text.split())[:200]
