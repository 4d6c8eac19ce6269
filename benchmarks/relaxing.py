"""The one way a benchmark relaxes a set of candidates and reads back what each became."""

from __future__ import annotations

import time

from pymatgen.core import Structure


def relax_by_index(
    structures: dict[int, Structure], potential, references, hull, max_steps: int = 300
) -> tuple[dict[int, dict], dict[int, Structure | None], float]:
    """Relax ``structures`` (index → structure; fmax 0.05 eV/Å, ≤ ``max_steps`` FIRE steps)
    with E_hull through ``references`` against ``hull``: the relaxation rows and the
    relaxed structures by index, and the wall seconds it took."""
    from gendesign.data.crystal_set import CrystalSet
    from relax.relaxation import RelaxSettings
    from relax.runner import relax_crystals

    rows: dict[int, dict] = {}
    relaxed: dict[int, Structure | None] = {}

    def record(row, result):
        rows[int(row["id"])] = row
        relaxed[int(row["id"])] = result.structure

    order = sorted(structures)
    started = time.perf_counter()
    relax_crystals(
        CrystalSet([str(k) for k in order], [structures[k] for k in order]),
        potential,
        RelaxSettings(max_steps=max_steps),
        record,
        references,
        hull,
    )
    return rows, relaxed, time.perf_counter() - started
