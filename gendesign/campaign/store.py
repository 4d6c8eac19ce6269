"""The campaign's record: an ASE database (SQLite file by default, PostgreSQL by URL).

One row per candidate. Its atoms are the latest structure (relaxed once relaxed);
``data`` keeps the structure of every stage that made one; key-value pairs hold
``cid``, ``<stage>_status`` (pending, passed, dropped, failed, or skipped when an
earlier stage dropped it), ``<stage>_reason``
and the stage's values under the ``<stage>_`` prefix, so ``ase db campaign.db``
shows them. The database's metadata holds the resolved config, each stage's
config fingerprint, the global steps that finished and the stage timings.

Every batch is written in one transaction: a killed run leaves whole batches or
nothing, and a resumed run picks up exactly the candidates still ``pending``.
Pending work is found by key-value queries on indexed columns (SQLite: the
key-value table indexed by (key, value); PostgreSQL: an expression index per
status) and ASE's side tables are indexed by row, so finding and writing a batch
costs the same at 10⁵ candidates as at 10³. Readers see "pending" as no status (None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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
from gendesign.campaign.records import column
from gendesign.errors import ConfigError

STORE_FILE = "campaign.db"
PENDING = "pending"
SKIPPED = "skipped"  # an earlier stage dropped it: this stage never runs for it
# 2: every later stage's status is written as "pending" when a candidate is added.
STORE_VERSION = 2
_STATUS_KEYS = tuple(column(stage, "status") for stage in STAGES[1:])
# ASE rewrites a row's side tables on every update (delete by row id, insert): without
# these, each delete scans the whole table (both backends keep the side tables).
_ROW_INDEXES = (
    "CREATE INDEX IF NOT EXISTS gendesign_text_kv_id ON text_key_values(id)",
    "CREATE INDEX IF NOT EXISTS gendesign_number_kv_id ON number_key_values(id)",
    "CREATE INDEX IF NOT EXISTS gendesign_keys_id ON keys(id)",
    "CREATE INDEX IF NOT EXISTS gendesign_species_id ON species(id)",
)
# SQLite queries key-value pairs in text_key_values; PostgreSQL in the JSONB column.
_SQLITE_QUERY_INDEX = "CREATE INDEX IF NOT EXISTS gendesign_text_kv ON text_key_values(key, value)"


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
                f"store '{url}': this database needs `pip install -e \".[postgres]\"` (ase-db-backends, psycopg2-binary) "
                f"({err})"
            ) from None
        self._known_ids: dict[str, int] = {}  # cid → row id
        self._prepare()

    def _prepare(self) -> None:
        """Indexes for the queries below, and the pending markers of a version-1 store."""
        with self.db.managed_connection() as connection:
            cursor = connection.cursor()
            for statement in _ROW_INDEXES:
                cursor.execute(statement)
            if self.db.type == "postgresql":
                for key in ("cid", *_STATUS_KEYS):
                    cursor.execute(
                        f"CREATE INDEX IF NOT EXISTS gendesign_{key} "
                        f"ON systems ((key_value_pairs ->> '{key}'))"
                    )
            else:
                cursor.execute(_SQLITE_QUERY_INDEX)
        if self.metadata.get("store_version") == STORE_VERSION:
            return
        with self._transaction():
            for row in self.db.select(include_data=False):
                missing = {k: PENDING for k in _STATUS_KEYS if k not in row.key_value_pairs}
                if missing:
                    self.db.update(row.id, **missing)
            self.update_metadata(store_version=STORE_VERSION)

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
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction: committed when the block ends, rolled back when it raises,
        and the block's own error (a Ctrl-C included) is what propagates. ASE's
        ``with db:`` rolls back through a method its PostgreSQL connection wrapper lacks,
        which would replace a KeyboardInterrupt by an AttributeError."""
        self.db.__enter__()
        try:
            yield
        except BaseException:
            connection = self.db.connection
            getattr(connection, "con", connection).rollback()  # psycopg2's or sqlite3's
            connection.close()
            self.db.connection = None
            raise
        self.db.__exit__(None, None, None)

    def add(self, outcomes: Iterable[Outcome]) -> None:
        """New candidates from the generate stage, in one transaction."""
        ids = self._known_ids
        with self._transaction():
            for outcome in outcomes:
                keys = {**dict.fromkeys(_STATUS_KEYS, PENDING), **self._keys("generate", outcome)}
                structure = outcome.structure  # None when the source could not make one
                ids[outcome.cid] = self.db.write(
                    AseAtomsAdaptor.get_atoms(structure) if structure else Atoms(),
                    key_value_pairs={"cid": outcome.cid, **keys},
                    data={"generate": structure.as_dict()} if structure else {},
                )

    def record(self, stage: str, outcomes: Iterable[Outcome], step: str | None = None) -> None:
        """Stage results for existing candidates, in one transaction; ``step`` names a
        global step that is marked done in the same transaction."""
        outcomes = list(outcomes)
        ids = self._ids_of([outcome.cid for outcome in outcomes])
        with self._transaction():
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
        with self._transaction():
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
                        row.id,
                        atoms=AseAtomsAdaptor.get_atoms(structure),
                        delete_keys=stale,
                        **{column(stage, "status"): PENDING for stage in later},
                    )
            self.update_metadata(steps_done=steps)
        self._known_ids = {}

    # ----------------------------------------------------------------- reading
    def table(self) -> pd.DataFrame:
        """Every candidate's values, one row per candidate, sorted by id."""
        rows = [_without_pending(row.key_value_pairs) for row in self.db.select(include_data=False)]
        if not rows:
            return pd.DataFrame({"cid": []})
        return pd.DataFrame(rows).sort_values("cid").reset_index(drop=True)

    def candidates(
        self, where: dict[str, str | None] | None = None, cids: set[str] | None = None
    ) -> list[Candidate]:
        """Candidates (sorted by id) whose values match ``where`` (and whose id is in
        ``cids``, when given); a None value means "not recorded yet", e.g.
        ``{"audit_status": "passed", "screen_status": None}``.

        With a "not recorded yet" condition, only the rows still pending for that stage
        are read (an indexed query), and the others are checked here; a row that can no
        longer reach the stage (an earlier stage dropped it) is marked ``skipped`` for
        it, so it is never read again and the pending work stays as small as the
        work itself."""
        where = dict(where or {})
        waiting = [key for key, wanted in where.items() if wanted is None]
        query = {waiting[0]: PENDING} if waiting else where
        if cids is not None:
            rows = [row for cid in sorted(cids) for row in self.db.select(cid=cid, **query)]
        else:
            rows = list(self.db.select(**query))
        if waiting:
            rows = self._reachable(rows, where, waiting[0])
        found = []
        for row in rows:
            values = _without_pending(row.key_value_pairs)
            # A stage's structure counts once its result is recorded (ASE keeps the data of
            # a discarded stage until the stage runs again).
            structures = {
                stage: Structure.from_dict(row.data[stage])
                for stage in STAGES
                if stage in row.data and column(stage, "status") in values
            }
            found.append(Candidate(values["cid"], structures, values))
        return sorted(found, key=lambda c: c.cid)

    def _reachable(self, rows: list, where: dict, waiting: str) -> list:
        """The ``rows`` (pending for ``waiting``) that match ``where``; those whose earlier
        stages ended otherwise are marked skipped for ``waiting``."""
        kept, unreachable = [], []
        for row in rows:
            values = row.key_value_pairs
            matches = [values.get(key, PENDING) == (PENDING if want is None else want)
                       for key, want in where.items()]  # fmt: skip
            if all(matches):
                kept.append(row)
            elif all(values.get(key, PENDING) != PENDING for key in where if key != waiting):
                unreachable.append(row.id)  # decided otherwise upstream: it never comes here
        if unreachable:
            with self._transaction():
                for row_id in unreachable:
                    self.db.update(row_id, **{waiting: SKIPPED})
        return kept

    def count(self, **where: str) -> int:
        """How many candidates have these values (e.g. ``relax_status="passed"``)."""
        return self.db.count(**where)

    def cids(self) -> set[str]:
        """Every candidate's id (one pass over the rows, without their data)."""
        return {row.key_value_pairs["cid"] for row in self.db.select(include_data=False)}

    def _ids_of(self, cids: list[str]) -> dict[str, int]:
        """Row ids of ``cids``, by indexed lookups (remembered for the next batch)."""
        for cid in cids:
            if cid not in self._known_ids:
                self._known_ids[cid] = next(self.db.select(cid=cid, include_data=False)).id
        return self._known_ids

    @staticmethod
    def _keys(stage: str, outcome: Outcome) -> dict[str, Any]:
        keys = {column(stage, "status"): outcome.status}
        if outcome.reason:
            keys[column(stage, "reason")] = outcome.reason
        for name, value in outcome.values.items():
            stored = _storable(value)
            if stored is not None:
                keys[column(stage, name)] = stored
        return keys


def _without_pending(values: dict) -> dict:
    """Key-value pairs without the "pending" and "skipped" markers (no result)."""
    return {key: value for key, value in values.items() if value not in (PENDING, SKIPPED)}
