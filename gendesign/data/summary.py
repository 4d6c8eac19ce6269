"""Plain-dict summaries of crystal data, for ``gendesign data info`` and reports."""

from __future__ import annotations

from collections import Counter

import torch
from pymatgen.core import Element

from gendesign.data.arrays import CrystalArrays


def summarize_arrays(arrays: CrystalArrays, units: dict[str, str] | None = None) -> dict:
    """Counts, elements, atoms per cell and property statistics of one split."""
    units = units or {}
    per_crystal_elements = [
        len(set(arrays.atom_types[arrays.atom_slice(i)].tolist())) for i in range(len(arrays))
    ]
    element_counts = Counter(arrays.atom_types.tolist())
    return {
        "crystals": len(arrays),
        "atoms": int(arrays.num_atoms.sum()),
        "atoms_per_cell": _stats(arrays.num_atoms.to(torch.float64)),
        "elements_per_crystal": _stats(torch.tensor(per_crystal_elements, dtype=torch.float64)),
        "distinct_elements": len(element_counts),
        "most_common_elements": [
            (Element.from_Z(z).symbol, n) for z, n in element_counts.most_common(10)
        ],
        "properties": {
            name: {"unit": units.get(name, ""), **_stats(arrays.properties[:, k])}
            for k, name in enumerate(arrays.property_names)
        },
    }


def _stats(values: torch.Tensor) -> dict:
    finite = values[torch.isfinite(values)]
    if finite.numel() == 0:
        return {"count": 0, "missing": int(values.numel())}
    return {
        "count": int(finite.numel()),
        "missing": int(values.numel() - finite.numel()),
        "mean": float(finite.mean()),
        "std": float(finite.std()) if finite.numel() > 1 else 0.0,
        "min": float(finite.min()),
        "max": float(finite.max()),
    }
