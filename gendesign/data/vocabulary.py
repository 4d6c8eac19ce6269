"""Element vocabulary: the elements a model knows, mapped to contiguous indices."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from pymatgen.core import Element

from gendesign.errors import GendesignError


class ElementVocabulary:
    """Sorted atomic numbers <-> indices 0..len-1.

    Saved into checkpoints as a list of symbols so that loading a model with a
    different vocabulary fails clearly (see :meth:`check_compatible`).
    """

    def __init__(self, atomic_numbers: Iterable[int]):
        self.atomic_numbers: list[int] = sorted({int(z) for z in atomic_numbers})
        lookup = torch.full((119,), -1, dtype=torch.long)
        lookup[self.atomic_numbers] = torch.arange(len(self.atomic_numbers))
        self._index_of_z = lookup

    @classmethod
    def from_symbols(cls, symbols: Iterable[str]) -> ElementVocabulary:
        return cls(Element(s).Z for s in symbols)

    @property
    def symbols(self) -> list[str]:
        return [Element.from_Z(z).symbol for z in self.atomic_numbers]

    def __len__(self) -> int:
        return len(self.atomic_numbers)

    def __contains__(self, atomic_number: int) -> bool:
        return int(atomic_number) in self.atomic_numbers

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ElementVocabulary) and self.atomic_numbers == other.atomic_numbers

    def __repr__(self) -> str:
        return f"ElementVocabulary({len(self)} elements: {' '.join(self.symbols)})"

    def encode(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """Atomic numbers -> indices; raise naming the elements the vocabulary lacks."""
        indices = self._index_of_z.to(atomic_numbers.device)[atomic_numbers]
        if (indices < 0).any():
            unknown = sorted({Element.from_Z(int(z)).symbol for z in atomic_numbers[indices < 0]})
            raise GendesignError(f"element(s) {', '.join(unknown)} are not in the vocabulary")
        return indices

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices -> atomic numbers."""
        table = torch.tensor(self.atomic_numbers, dtype=torch.long, device=indices.device)
        return table[indices]

    def check_compatible(self, other: ElementVocabulary, what: str) -> None:
        """Raise one sentence if ``other`` (e.g. a checkpoint's) differs from this one."""
        if self == other:
            return
        only_here = sorted(set(self.symbols) - set(other.symbols))
        only_there = sorted(set(other.symbols) - set(self.symbols))
        raise GendesignError(
            f"{what} was built for a different element vocabulary "
            f"(missing here: {', '.join(only_there) or 'none'}; "
            f"extra here: {', '.join(only_here) or 'none'})"
        )
