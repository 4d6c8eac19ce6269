"""Relaxing many structures: one row per item, written as it completes, resumable.

``relax_structures`` returns a table with one row per input item (unreadable
ones included with their reason). Structures are relaxed together with
torch-sim's batched FIRE (:mod:`relax.batched`) unless trajectories are asked
for or ``settings.batched`` is off; then the ASE loop takes them one by one. With an output folder, each finished row is
appended to ``results.csv`` and its relaxed structure written to
``relaxed/<id>.cif`` at once, so an interrupted run loses nothing and a rerun
skips the items already in ``results.csv``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure

from gendesign.data.crystal_set import CrystalSet
from gendesign.data.inputs import load_audit_input
from relax.batched import relax_batched
from relax.energies import ElementReferences
from relax.hull import HullReference
from relax.potentials import Potential, load_potential
from relax.relaxation import RelaxResult, RelaxSettings, relax_structure
from relax.stability import stability_columns

RESULTS_FILE = "results.csv"
RELAXED_FOLDER = "relaxed"
TRAJECTORY_FOLDER = "trajectories"


def relax_structures(
    source: str | Path | CrystalSet | Sequence[Structure],
    potential: Potential | str = "auto",
    settings: RelaxSettings | None = None,
    out_dir: str | Path | None = None,
    trajectories: bool = False,
    progress: Callable[[int], None] | None = None,
    references: ElementReferences | None = None,
    hull: HullReference | str | None = None,
) -> pd.DataFrame:
    """Relax every structure of ``source``; see the module docstring for the outputs.

    ``potential``: a loaded :class:`Potential` or a name for :func:`load_potential`.
    ``progress`` is called with 1 after each item. ``references`` (default: the bundled
    table of this potential, if any) and ``hull`` (a reference or its name, default: the
    full reference hull, :mod:`relax.reference_hull`) give each row its formation energy
    and energy above hull.
    """
    crystals = load_audit_input(source)
    potential = load_potential(potential) if isinstance(potential, str) else potential
    references, hull = stability_references(potential, references, hull)
    out = Path(out_dir) if out_dir else None
    done = _finished_ids(out)
    rows: list[dict] = []

    def record(row: dict, result: RelaxResult) -> None:
        rows.append(row)
        if out:
            _save(out, row["id"], row, result)
        if progress:
            progress(1)

    pending = [k for k, item_id in enumerate(crystals.ids) if item_id not in done]
    relax_crystals(
        CrystalSet(
            [crystals.ids[k] for k in pending],
            [crystals.structures[k] for k in pending],
            skipped=[item for item in crystals.skipped if item.item_id not in done],
        ),
        potential,
        settings,
        record,
        references,
        hull,
        trajectory_dir=out / TRAJECTORY_FOLDER if out and trajectories else None,
    )
    table = pd.DataFrame(rows)
    if out and (out / RESULTS_FILE).exists():  # earlier runs' rows too
        table = pd.read_csv(
            out / RESULTS_FILE, dtype={"id": str}, keep_default_na=False, na_values=["nan"]
        )
    return _in_input_order(table, [item.item_id for item in crystals.skipped] + list(crystals.ids))


def stability_references(
    potential: Potential,
    references: ElementReferences | None = None,
    hull: HullReference | str | None = None,
    data_root: str | Path | None = None,
) -> tuple[ElementReferences | None, HullReference | None]:
    """The element references (default: the table of ``potential``, fitted on first use
    when none is stored, :func:`relax.energies.element_references`) and the hull (a
    reference, or its name; default: the full reference hull) that turn energies into
    E_form and E_hull."""
    from relax.energies import element_references
    from relax.reference_hull import DEFAULT_HULL, reference_hull

    if references is None:
        references = element_references(potential, data_root)
    if references is not None and not isinstance(hull, HullReference):
        hull = reference_hull(hull or DEFAULT_HULL, data_root)
    return references, hull


def relax_crystals(
    crystals: CrystalSet,
    potential: Potential,
    settings: RelaxSettings | None,
    on_row: Callable[[dict, RelaxResult], None],
    references: ElementReferences | None = None,
    hull: HullReference | None = None,
    trajectory_dir: Path | None = None,
) -> None:
    """Relax ``crystals`` (their unreadable items become failed rows) and call
    ``on_row(row, result)`` as each finishes; ``result.structure`` is the relaxed crystal.

    Batched unless ``settings.batched`` is off or ``trajectory_dir`` asks for trajectories.
    """
    settings = settings or RelaxSettings()

    def record(item_id: str, structure: Structure | None, result: RelaxResult) -> None:
        composition = result.structure.composition if result.structure else None
        row = {
            "id": item_id,
            "formula": structure.composition.reduced_formula if structure else "",
            **result.as_row(),
            **stability_columns(
                composition, result.energy, references, hull, potential.info.name, result.ok
            ),
            **potential.info.as_columns(),
        }
        on_row(row, result)

    for item in crystals.skipped:
        record(item.item_id, None, RelaxResult("failed", item.reason, None))
    todo = list(zip(crystals.ids, crystals.structures, strict=True))
    if settings.batched and trajectory_dir is None:
        relax_batched(
            [s for _, s in todo],
            potential,
            settings,
            on_result=lambda k, result: record(*todo[k], result),
        )
        return
    for item_id, structure in todo:
        trajectory = None
        if trajectory_dir is not None:
            trajectory = trajectory_dir / f"{safe_name(item_id)}.extxyz"
            trajectory.parent.mkdir(parents=True, exist_ok=True)
        record(item_id, structure, relax_structure(structure, potential, settings, trajectory))


def _in_input_order(table: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """Rows sorted as the input listed them (results arrive in finishing order); rows of
    ids not in this input (from earlier runs into the same folder) come last."""
    if table.empty:
        return table
    position = {item_id: k for k, item_id in enumerate(ids)}
    order = table["id"].map(lambda item_id: position.get(item_id, len(ids)))
    return table.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def safe_name(item_id: str) -> str:
    """An item id as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", item_id) or "item"


def _finished_ids(out: Path | None) -> set[str]:
    if out is None or not (out / RESULTS_FILE).exists():
        return set()
    return set(pd.read_csv(out / RESULTS_FILE, usecols=["id"], dtype=str)["id"])


def _save(out: Path, item_id: str, row: dict, result: RelaxResult) -> None:
    """Append ``row`` to results.csv (header on first write) and write the structure."""
    out.mkdir(parents=True, exist_ok=True)
    if result.structure is not None:
        folder = out / RELAXED_FOLDER
        folder.mkdir(exist_ok=True)
        result.structure.to(filename=str(folder / f"{safe_name(item_id)}.cif"))
    path = out / RESULTS_FILE
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
