"""Aligning Materials Project formation energies of another correction scheme to MP-20's.

Matbench's ``mp_e_form`` took Materials Project's energies in 2018-2019, under the
correction scheme of that time; MP-20 (and MPTS-52) carry the later one. The schemes
differ by energy corrections per anion atom (oxide, sulfide, fluoride, ...) and per
transition-metal atom in oxides and fluorides (the GGA+U mixing), so the difference
of one compound's two energies per atom is, to a good approximation, linear in its atom
fractions:

    E_MP-20 - E_old ≈ Σ_el x_el a_el + [O or F present] Σ_M x_M b_M,
    M ∈ {Co, Cr, Fe, Mn, Mo, Ni, V, W}

fitted by least squares on the ground states of the formulas both sets hold. On the
36,337 such formulas the raw energies differ by a mean absolute 0.045 eV/atom (23 %
beyond 0.05); aligned, by about 0.01 (3 %).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relax.hull import _composition

U_METALS = ("Co", "Cr", "Fe", "Mn", "Mo", "Ni", "V", "W")  # GGA+U in oxides and fluorides
U_ANIONS = ("O", "F")
RIDGE = 1e-4  # keeps the coefficients of rarely seen elements near zero


@dataclass(frozen=True)
class Alignment:
    """Per-element corrections (eV/atom per unit atom fraction) and how well they fit."""

    element: dict[str, float]  # a_el
    u_metal: dict[str, float]  # b_M, in oxides and fluorides
    n_formulas: int
    mae_before: float  # eV/atom, raw energies against MP-20's ground states
    mae_after: float
    beyond_005_before: float  # share of formulas off by more than 0.05 eV/atom
    beyond_005_after: float
    residuals: dict[str, float]  # formula → aligned minus MP-20, eV/atom

    def correction(self, formula: str) -> float:
        """What to add to an old-scheme formation energy (eV/atom) of ``formula``."""
        composition = _composition(formula)
        fractions = {el.symbol: composition.get_atomic_fraction(el) for el in composition}
        value = sum(self.element.get(s, 0.0) * x for s, x in fractions.items())
        if any(anion in fractions for anion in U_ANIONS):
            value += sum(self.u_metal.get(s, 0.0) * x for s, x in fractions.items())
        return value

    def apply(self, formulas: Sequence[str], energies: np.ndarray) -> np.ndarray:
        corrections = {f: self.correction(f) for f in set(formulas)}
        return np.asarray(energies, float) + np.array([corrections[f] for f in formulas])

    def as_dict(self) -> dict:
        return {
            "model": "E_MP-20 - E_old = sum_el x_el a_el + [O or F] sum_M x_M b_M, "
            f"M in {', '.join(U_METALS)}; least squares (ridge {RIDGE}) on ground states",
            "element": self.element,
            "u_metal": self.u_metal,
            "n_formulas": self.n_formulas,
            "mae_before_eV_atom": self.mae_before,
            "mae_after_eV_atom": self.mae_after,
            "beyond_0.05_before": self.beyond_005_before,
            "beyond_0.05_after": self.beyond_005_after,
            "residuals_eV_atom": self.residuals,
        }


def fit_alignment(reference: Mapping[str, float], old: pd.DataFrame) -> Alignment:
    """Fit the corrections that take ``old`` (columns ``formula``, ``formation_energy_per_atom``,
    eV/atom) onto ``reference`` (reduced formula → ground-state formation energy, eV/atom)."""
    old_ground = old.groupby("formula")["formation_energy_per_atom"].min()
    shared = sorted(set(old_ground.index) & set(reference))
    target = np.array([reference[f] - old_ground[f] for f in shared])
    columns: dict[str, int] = {}
    rows, cols, values = [], [], []
    for row, formula in enumerate(shared):
        composition = _composition(formula)
        fractions = {el.symbol: composition.get_atomic_fraction(el) for el in composition}
        u_compound = any(anion in fractions for anion in U_ANIONS)
        for symbol, x in fractions.items():
            keys = [symbol] + ([f"U:{symbol}"] if u_compound and symbol in U_METALS else [])
            for key in keys:
                rows.append(row)
                cols.append(columns.setdefault(key, len(columns)))
                values.append(x)
    design = np.zeros((len(shared), len(columns)))
    design[rows, cols] = values
    gram = design.T @ design + RIDGE * np.eye(len(columns))
    coefficients = np.linalg.solve(gram, design.T @ target)
    residual = design @ coefficients - target
    names = list(columns)
    return Alignment(
        element={k: float(c) for k, c in zip(names, coefficients, strict=True) if ":" not in k},
        u_metal={k[2:]: float(c) for k, c in zip(names, coefficients, strict=True) if ":" in k},
        n_formulas=len(shared),
        mae_before=float(np.abs(target).mean()),
        mae_after=float(np.abs(residual).mean()),
        beyond_005_before=float((np.abs(target) > 0.05).mean()),
        beyond_005_after=float((np.abs(residual) > 0.05).mean()),
        residuals={f: round(float(r), 5) for f, r in zip(shared, residual, strict=True)},
    )
