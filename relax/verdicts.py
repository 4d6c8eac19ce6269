"""The project's stability verdict: sceptical of the judge that likes a crystal best.

Several potentials judge a candidate; their E_hull values differ, and the most
favourable one is more often a judge's artefact (or a competing phase the reference
lacks) than a discovery. So:

- each judge's E_hull is first **calibrated** by the offset measured for that judge on
  MPTS-52 (``offset`` in the judge table, :func:`relax.precision.calibration_offset`;
  0 for a judge never measured): a judge that reads crystals too stable near the
  threshold has its E_hull raised by its offset;
- a candidate's E_hull for ranking and for "stable" is the **least favourable**
  calibrated one (the largest); a judge that gave none (failed, unconverged) counts as
  unknown, and unknown is not stable;
- judges that **disagree** by more than :data:`DISAGREEMENT` eV/atom make the verdict
  uncertain: such a candidate never ranks above one on which they agree;
- an E_hull more than :data:`CHECK_BELOW` eV/atom below the hull is **flagged for a
  check** (a new ground state that far below the known phases is rare; the hull's
  phases at its composition are named beside it).

``benchmarks/judges.py`` measures this rule on MPTS-52 beside each judge alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

STABLE = 0.1  # eV/atom: at or below the hull by this much counts as (meta)stable
DISAGREEMENT = 0.1  # eV/atom between judges: beyond, the verdict is uncertain
CHECK_BELOW = 0.05  # eV/atom below the hull: beyond, flagged for a check


def least_favourable(e_hulls: np.ndarray) -> np.ndarray:
    """Per row of ``e_hulls`` (crystals × judges, eV/atom), the largest E_hull; NaN when any
    judge gave none."""
    e_hulls = np.asarray(e_hulls, float)
    if e_hulls.ndim == 1:
        e_hulls = e_hulls[:, None]
    worst = e_hulls.max(axis=1)
    return np.where(np.isfinite(e_hulls).all(axis=1), worst, np.nan)


def calibrated(values: dict[str, float]) -> dict[str, float]:
    """Each judge's E_hull (eV/atom) plus its measured calibration offset."""
    from relax.precision import calibration_offset

    return {judge: value + calibration_offset(judge) for judge, value in values.items()}


def disagreement(values: Sequence[float]) -> float:
    """Largest minus smallest E_hull of the judges that gave one (eV/atom); NaN with fewer
    than two."""
    finite = [v for v in values if math.isfinite(v)]
    return max(finite) - min(finite) if len(finite) > 1 else math.nan


def flags(values: dict[str, float], decomposition: str = "", coverage_note: str = "") -> list[str]:
    """The sentences a chemist should read before trusting the verdict on a candidate, from
    its E_hull per judge (eV/atom), the hull's phases at its composition and the
    reference's coverage note."""
    notes = []
    spread = disagreement(list(values.values()))
    if math.isfinite(spread) and spread > DISAGREEMENT:
        said = ", ".join(f"{judge} {value:+.3f}" for judge, value in values.items())
        notes.append(f"judges disagree by {spread:.2f} eV/atom ({said})")
    missing = [judge for judge, value in values.items() if not math.isfinite(value)]
    if missing and len(missing) < len(values):
        notes.append(f"no E_hull from {', '.join(missing)}")
    low = {j: v for j, v in values.items() if math.isfinite(v) and v < -CHECK_BELOW}
    if low:
        judge, value = min(low.items(), key=lambda item: item[1])
        competing = f"; nearest competing phases: {decomposition}" if decomposition else ""
        notes.append(f"check: {-value:.2f} eV/atom below the hull by {judge}{competing}")
    if coverage_note:
        notes.append(coverage_note)
    return notes
