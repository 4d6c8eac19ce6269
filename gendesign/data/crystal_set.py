"""The one in-memory form every reader produces: structures, ids, property columns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure


@dataclass(frozen=True)
class SkippedItem:
    """A row/file/frame that could not be loaded, and why."""

    source: str  # file (and row or frame) it came from
    item_id: str  # the id it would have had
    reason: str  # one sentence


@dataclass
class CrystalSet:
    """Crystals loaded from one source.

    ``structures[i]`` has id ``ids[i]`` and properties ``properties.iloc[i]``
    (NaN where a value is missing). ``skipped`` lists items that failed to load.
    """

    ids: list[str]
    structures: list[Structure]
    properties: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: list[SkippedItem] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.structures):
            raise ValueError(f"{len(self.ids)} ids for {len(self.structures)} structures")
        if self.properties.empty and not len(self.properties.columns):
            self.properties = pd.DataFrame(index=range(len(self.ids)))
        if len(self.properties) != len(self.ids):
            raise ValueError(f"{len(self.properties)} property rows for {len(self.ids)} structures")
        self.properties = self.properties.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.structures)

    def __iter__(self) -> Iterator[Structure]:
        return iter(self.structures)

    @property
    def property_names(self) -> list[str]:
        return list(self.properties.columns)

    def subset(self, indices: Sequence[int]) -> CrystalSet:
        """A new set holding the given rows (skipped items are kept)."""
        idx = list(indices)
        return CrystalSet(
            ids=[self.ids[i] for i in idx],
            structures=[self.structures[i] for i in idx],
            properties=self.properties.iloc[idx].reset_index(drop=True),
            skipped=list(self.skipped),
            source=self.source,
        )

    @classmethod
    def concat(cls, sets: Sequence[CrystalSet], source: str = "") -> CrystalSet:
        """One set holding the rows (and skipped items) of ``sets`` in order."""
        return cls(
            ids=[i for part in sets for i in part.ids],
            structures=[s for part in sets for s in part.structures],
            properties=pd.concat([part.properties for part in sets], ignore_index=True),
            skipped=[item for part in sets for item in part.skipped],
            source=source or "+".join(part.source for part in sets),
        )

    def skipped_reasons(self) -> Counter[str]:
        """How many items were skipped for each reason."""
        return Counter(item.reason for item in self.skipped)

    def write_skipped_csv(self, path: str | Path) -> Path:
        """Write one row per skipped item (source, id, reason) and return the path."""
        return write_skipped_csv(self.skipped, path)


def write_skipped_csv(items: Sequence[SkippedItem], path: str | Path) -> Path:
    """One CSV row per skipped item: source, id, reason."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        [(s.source, s.item_id, s.reason) for s in items], columns=["source", "id", "reason"]
    )
    frame.to_csv(path, index=False)
    return path
