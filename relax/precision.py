"""How often a judge's "stable" is right: the measured figures reports print beside it.

``benchmarks/judges.py`` relaxes a stratified sample of MPTS-52 test crystals (DFT E_hull
known) with each built-in potential and writes the scores into the package
(``references/judge_precision.json``). ``gendesign judges benchmark --potential NAME``
measures any other potential (a plug-in, a user's MACE file) the same way and writes
into the user's table (``judge_precision.json`` in the user cache), which takes
precedence. Every figure names the hull it was scored on.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from gendesign.paths import resolve_cache_dir

PRECISION_FILE = Path(__file__).parent / "references" / "judge_precision.json"
USER_FILE_NAME = "judge_precision.json"
CONSENSUS = "least favourable"  # the key of the project's verdict over every judge


def user_precision_file() -> Path:
    return resolve_cache_dir() / USER_FILE_NAME


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


@cache
def measured() -> dict[str, dict]:
    """Scores by judge name: the package's, overridden by the user's own measurements (read
    once per process; :func:`write_measured` refreshes it)."""
    judges = dict(_read(PRECISION_FILE).get("judges", {}))
    judges.update(_read(user_precision_file()).get("judges", {}))
    return judges


def measured_precision(judge: str) -> dict | None:
    """The scores of ``judge`` (a potential's name, or :data:`CONSENSUS`) from perturbed
    starts: ``precision``, ``recall``, ``precision_at_30pct_stable``, ``n``, ``hull``; None
    when not measured."""
    return measured().get(judge)


def calibration_offset(judge: str) -> float:
    """What the project's verdict adds to ``judge``'s E_hull (eV/atom) before comparing it
    with the threshold, as chosen by the judge benchmark; 0 when not measured."""
    return float((measured_precision(judge) or {}).get("offset", 0.0))


def precision_note(judge: str) -> str:
    """A clause for reports: "measured precision on MPTS-52 0.66 (0.54 at a 30 % stable
    share, ...)", or that it was not measured."""
    scores = measured_precision(judge)
    if scores is None:
        return "precision not measured (gendesign judges benchmark --potential NAME)"
    hull = f", {scores['hull']}" if scores.get("hull") else ""
    return (
        f"measured precision on MPTS-52 {scores['precision']:.2f} on a half-stable sample, "
        f"{scores['precision_at_30pct_stable']:.2f} at a 30 % stable share "
        f"(recall {scores['recall']:.2f}, {scores.get('start', 'perturbed')} starts, "
        f"{scores.get('n', '?')} crystals{hull})"
    )


def write_measured(judges: dict[str, dict], how: str, user: bool = False) -> Path:
    """Store per-judge scores (see :func:`measured_precision`): the package's table, or with
    ``user`` the user's, where earlier measurements of other judges are kept."""
    path = user_precision_file() if user else PRECISION_FILE
    table = _read(path).get("judges", {}) if user else {}
    table.update(judges)
    path.write_text(json.dumps({"how": how, "judges": table}, indent=1) + "\n")
    measured.cache_clear()
    return path
