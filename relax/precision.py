"""How often a judge's "stable" is right: the figures ``benchmarks/judges.py`` measured.

The benchmark relaxes a stratified sample of MPTS-52 test crystals (DFT E_hull known)
with each potential and writes the scores here (``references/judge_precision.json``),
so every report can say next to a "stable" count how far to trust it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

PRECISION_FILE = Path(__file__).parent / "references" / "judge_precision.json"
CONSENSUS = "consensus"  # the key of "stable by every judge"


@cache
def _measured() -> dict:
    try:
        return json.loads(PRECISION_FILE.read_text())
    except (OSError, ValueError):
        return {}


def measured_precision(judge: str) -> dict | None:
    """The scores of ``judge`` (a potential's name, or "consensus") from perturbed starts:
    ``precision``, ``recall``, ``precision_at_30pct_stable``; None when not measured."""
    return _measured().get("judges", {}).get(judge)


def precision_note(judge: str) -> str:
    """A clause for reports: "measured precision on MPTS-52 0.66 (0.54 at a 30 % stable
    share)", or that it was not measured."""
    scores = measured_precision(judge)
    if scores is None:
        return "precision not measured"
    return (
        f"measured precision on MPTS-52 {scores['precision']:.2f} on a half-stable sample, "
        f"{scores['precision_at_30pct_stable']:.2f} at a 30 % stable share "
        f"(recall {scores['recall']:.2f}, perturbed starts, {scores.get('n', '?')} crystals)"
    )


def write_measured(judges: dict[str, dict], how: str) -> Path:
    """Store the benchmark's per-judge scores (see :func:`measured_precision`)."""
    PRECISION_FILE.write_text(json.dumps({"how": how, "judges": judges}, indent=1) + "\n")
    _measured.cache_clear()
    return PRECISION_FILE
