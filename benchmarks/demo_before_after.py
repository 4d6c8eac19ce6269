"""The demo campaign's final list before and after the full reference hull and the
sceptical verdict, side by side.

    python -m benchmarks.demo_before_after BEFORE_FOLDER AFTER_FOLDER

BEFORE_FOLDER: the demo run with the earlier release (MP-20 hull, ranked by "stable by
both" then the first judge's E_hull); AFTER_FOLDER: the demo as it runs now. Each
folder's ``top_candidates.csv`` is read. The earlier list is also re-scored on the
full hull without relaxing again: a judge's E_hull moves by the difference of the two
hulls' energies at the candidate's composition, whatever the judge.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from benchmarks import reporting
from relax.reference_hull import reference_hull

NAME = "demo_before_after"


def _e_hull_columns(sheet: pd.DataFrame) -> list[str]:
    return [c for c in sheet.columns if c.startswith("E_hull ") and "verdict" not in c]


def _sheet_rows(folder: Path) -> list[tuple[pd.Series, dict]]:
    """Each row of a run's ``top_candidates.csv`` with what every list keeps of it and each
    judge's E_hull (eV/atom) by name."""
    sheet = pd.read_csv(folder / "top_candidates.csv")
    rows = []
    for _, row in sheet.iterrows():
        kept = {
            "rank": int(row["rank"]),
            "id": row["id"],
            "formula": row["formula"],
            "source": row.get("source", ""),
            "verdict": row.get("stability verdict", ""),
            "judges": {
                c.removeprefix("E_hull ").removesuffix(" (eV/atom)"): float(row[c])
                for c in _e_hull_columns(sheet)
            },
        }
        rows.append((row, kept))
    return rows


def before_list(folder: Path) -> list[dict]:
    """The earlier list with each judge's E_hull on the MP-20 hull and, re-scored, on the
    full hull, and what the full hull says of its coverage."""
    mp20, full = reference_hull("mp20"), reference_hull("full")
    rows = []
    for _, kept in _sheet_rows(folder):
        composition = Composition(kept["formula"])
        # E_hull(full) - E_hull(mp20) at one formation energy: the hulls' energy difference
        shift = (
            full.e_above_hull(composition, 0.0).e_above_hull
            - mp20.e_above_hull(composition, 0.0).e_above_hull
        )
        judges = kept.pop("judges")
        rows.append(
            kept
            | {
                "e_hull_mp20": judges,
                "e_hull_full": {j: v + shift for j, v in judges.items()},
                "mp20_lower_bound": mp20.coverage(composition).note(),
                "full_decomposition": full.e_above_hull(composition, 0.0).decomposition,
            }
        )
    return rows


def after_list(folder: Path) -> list[dict]:
    rows = []
    for row, kept in _sheet_rows(folder):
        flags = row.get("check before trusting")
        rows.append(
            kept
            | {
                "e_hull_full": kept.pop("judges"),
                "e_hull_verdict": float(row.get("E_hull verdict (eV/atom)", np.nan)),
                "flags": flags if isinstance(flags, str) else "",
            }
        )
    return rows


def _values(values: dict[str, float]) -> str:
    return " / ".join(f"{v:+.3f}" for v in values.values())


def write_tables(results: dict) -> None:
    before, after = results["before"], results["after"]
    judges = " / ".join(before[0]["e_hull_mp20"]) if before else ""
    lines = [
        f"The demo (`configs/campaign/demo.yaml`, seed 0) run by the earlier release (MP-20 "
        "hull; ranked by the stability verdict, then the targets, then the first judge's "
        "E_hull) and as it runs now (full hull; the least favourable calibrated judge; doubts "
        f"last). E_hull per judge ({judges}), eV/atom. The earlier list is re-scored on the "
        "full hull without relaxing again (each judge's E_hull moves by the difference of the "
        "two hulls at the composition).\n",
        "**Before** (MP-20 hull, as it ranked then):\n",
        reporting.markdown_table(
            [
                "rank",
                "formula",
                "source",
                "verdict then",
                "E_hull, MP-20 hull",
                "E_hull re-scored, full hull",
                "MP-20 hull's coverage",
            ],
            [
                [
                    r["rank"],
                    r["formula"],
                    r["source"],
                    r["verdict"],
                    _values(r["e_hull_mp20"]),
                    _values(r["e_hull_full"]),
                    r["mp20_lower_bound"] or "–",
                ]
                for r in before
            ],
        ),  # fmt: skip
        "\n**After** (full hull, as it ranks now):\n",
        reporting.markdown_table(
            [
                "rank",
                "formula",
                "source",
                "verdict",
                "E_hull, full hull",
                "verdict's E_hull",
                "flags",
            ],
            [
                [
                    r["rank"],
                    r["formula"],
                    r["source"],
                    r["verdict"],
                    _values(r["e_hull_full"]),
                    f"{r['e_hull_verdict']:+.3f}",
                    r["flags"] or "–",
                ]
                for r in after
            ],
        ),  # fmt: skip
    ]
    reporting.update_section(NAME, "The demo's final list before and after", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    results = {"before": before_list(args.before), "after": after_list(args.after)}
    reporting.publish(NAME, results, write_tables)


if __name__ == "__main__":
    main()
