"""The campaign's record: an ASE database (SQLite file by default, PostgreSQL by URL).

One row per candidate. Its atoms are the latest structure (relaxed once relaxed);
``data`` keeps the structure of every stage that made one; key-value pairs hold
``cid``, ``<stage>_status`` (passed, dropped, failed), ``<stage>_reason`` and the
stage's values under the ``<stage>_`` prefix, so ``ase db campaign.db`` shows them.
The database's metadata holds the resolved config, each stage's config
fingerprint, the global steps that finished and the stage timings.

Every batch is written in one transaction: a killed run leaves whole batches or
nothing, and a resumed run picks up exactly the candidates without a status.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import ase.db
import numpy as np
import pandas as pd
from ase import Atoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.campaign.candidates import Candidate, Outcome
from gendesign.campaign.config import STAGES
from gendesign.errors import ConfigError

STORE_FILE = "campaign.db"


def _storable(value: Any) -> Any:
    """A value ASE's database accepts (bool, int, float, str), or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return str(value)


class CampaignStore:
    """Reading and writing candidates and campaign metadata."""

    def __init__(self, url: str | Path):
        url = str(url)
        if "://" not in url:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        try:
            self.db = ase.db.connect(url)
        except ModuleNotFoundError as err:  # ASE keeps its server backends in a separate package
            raise ConfigError(
                f"store '{url}': this database needs `pip install ase-db-backends psycopg2-binary` "
                f"({err})"
            ) from None
        self._row_ids: dict[str, int] | None = None

    # ----------------------------------------------------------------- metadata
    @property
    def metadata(self) -> dict:
        return dict(self.db.metadata or {})

    def update_metadata(self, **entries: Any) -> None:
        self.db.metadata = {**self.metadata, **entries}

    def step_done(self, step: str) -> bool:
        return step in self.metadata.get("steps_done", [])

    def __len__(self) -> int:
        return self.db.count()

    # ----------------------------------------------------------------- writing
    def add(self, outcomes: Iterable[Outcome]) -> None:
        """New candidates from the generate stage, in one transaction."""
        with self.db:
            for outcome in outcomes:
                keys = self._keys("generate", outcome)
                structure = outcome.structure  # None when the source could not make one
                self.db.write(
                    AseAtomsAdaptor.get_atoms(structure) if structure else Atoms(),
                    key_value_pairs={"cid": outcome.cid, **keys},
                    data={"generate": structure.as_dict()} if structure else {},
                )
        self._row_ids = None

    def record(self, stage: str, outcomes: Iterable[Outcome], step: str | None = None) -> None:
        """Stage results for existing candidates, in one transaction; ``step`` names a
        global step that is marked done in the same transaction."""
        ids = self._ids()
        with self.db:
            for outcome in outcomes:
                structure = outcome.structure
                self.db.update(
                    ids[outcome.cid],
                    atoms=AseAtomsAdaptor.get_atoms(structure) if structure else None,
                    data={stage: structure.as_dict()} if structure else None,
                    **self._keys(stage, outcome),
                )
            if step:
                done = self.metadata.get("steps_done", [])
                self.update_metadata(steps_done=sorted({*done, step}))

    def discard(self, first_stage: str) -> None:
        """Forget ``first_stage`` and every later stage (all candidates for "generate")."""
        later = STAGES[STAGES.index(first_stage) :]
        steps = [s for s in self.metadata.get("steps_done", []) if s.split(":")[0] not in later]
        with self.db:
            if first_stage == "generate":
                ids = [row.id for row in self.db.select(include_data=False)]
                if ids:
                    self.db.delete(ids)
            else:
                for row in self.db.select():
                    stale = [k for k in row.key_value_pairs if k.split("_")[0] in later]
                    if "generate" not in row.data:  # nothing was made; nothing to reset
                        continue
                    structure = Structure.from_dict(row.data["generate"])
                    self.db.update(
                        row.id, atoms=AseAtomsAdaptor.get_atoms(structure), delete_keys=stale
                    )
            self.update_metadata(steps_done=steps)
        self._row_ids = None

    # ----------------------------------------------------------------- reading
    def table(self) -> pd.DataFrame:
        """Every candidate's values, one row per candidate, sorted by id."""
        rows = [row.key_value_pairs for row in self.db.select(include_data=False)]
        if not rows:
            return pd.DataFrame({"cid": []})
        return pd.DataFrame(rows).sort_values("cid").reset_index(drop=True)

    def candidates(
        self, where: dict[str, str | None] | None = None, cids: set[str] | None = None
    ) -> list[Candidate]:
        """Candidates (sorted by id) whose values match ``where`` (and whose id is in
        ``cids``, when given); a None value means "not recorded yet", e.g.
        ``{"audit_status": "passed", "screen_status": None}``."""
        where = where or {}
        found = []
        for row in self.db.select():
            values = row.key_value_pairs
            if cids is not None and values["cid"] not in cids:
                continue
            if all(values.get(key) == wanted for key, wanted in where.items()):
                structures = {
                    stage: Structure.from_dict(row.data[stage])
                    for stage in STAGES
                    if stage in row.data
                }
                found.append(Candidate(values["cid"], structures, dict(values)))
        return sorted(found, key=lambda c: c.cid)

    def cids(self) -> set[str]:
        return set(self._ids())

    def _ids(self) -> dict[str, int]:
        if self._row_ids is None:
            self._row_ids = {
                row.key_value_pairs["cid"]: row.id for row in self.db.select(include_data=False)
            }
        return self._row_ids

    @staticmethod
    def _keys(stage: str, outcome: Outcome) -> dict[str, Any]:
        keys = {f"{stage}_status": outcome.status}
        if outcome.reason:
            keys[f"{stage}_reason"] = outcome.reason
        for name, value in outcome.values.items():
            stored = _storable(value)
            if stored is not None:
                keys[f"{stage}_{name}"] = stored
        return keys
