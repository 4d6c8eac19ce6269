"""The campaign report, ``report.md`` and a self-contained ``report.html``, from the store.

Funnel (counts per stage and why candidates dropped out), the yield of each
candidate source and its novelty classes, distributions of
predicted and relaxed properties against the training set, the E_hull histogram,
the top candidates with each judge's verdict, their CIFs and a picture of each,
and the known crystals the campaign made again (rediscovered). Every "stable" count
names its judge and that judge's measured precision (:mod:`relax.precision`).
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from gendesign.campaign import report_figures as figures
from gendesign.campaign.config import STAGES, CampaignConfig
from gendesign.campaign.records import column, predicted_properties
from gendesign.campaign.store import CampaignStore
from gendesign.campaign.yields import judged, novelty_class_table, source_yield_table
from relax.precision import CONSENSUS, precision_note

FIGURES = "report_files"
CIFS = "cifs"
# A measured number or a candidate id, folded so that like reasons count together; digits
# inside names (chgnet-0.3.0, mp20) are not numbers.
_NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])|(?<=\bc)\d+\b")


def write_campaign_report(folder: str | Path, store: CampaignStore) -> dict[str, Path]:
    """Write report.md, report.html, report_files/ and cifs/ of the top candidates."""
    folder = Path(folder)
    config = CampaignConfig.model_validate(store.metadata["config"])
    table = store.table()
    (folder / FIGURES).mkdir(parents=True, exist_ok=True)
    funnel = funnel_table(table)
    top = _top_candidates(table, config.report.top_n)
    pictures = _write_structures(folder, store, top)
    plots = _plots(folder / FIGURES, config, table, funnel)
    timing = store.metadata.get("timing_s", {})
    sections = _sections(config, table, funnel, top, timing)
    (folder / "report.md").write_text(_markdown(config, sections, plots, pictures))
    (folder / "report.html").write_text(_html(config, sections, plots, pictures, folder))
    return {"markdown": folder / "report.md", "html": folder / "report.html"}


def funnel_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per stage: candidates that entered it, passed, were dropped and failed, and the
    commonest reasons (numbers folded so that like reasons count together)."""
    rows = []
    for stage in STAGES:
        column = f"{stage}_status"
        status = table[column] if column in table else pd.Series(None, table.index, object)
        reasons = table.get(f"{stage}_reason", pd.Series("", index=table.index)).fillna("")
        out = status.isin(["dropped", "failed"])
        rows.append(
            {
                "stage": stage,
                "entered": int(status.notna().sum()),
                "passed": int((status == "passed").sum()),
                "dropped": int((status == "dropped").sum()),
                "failed": int((status == "failed").sum()),
                "reasons": _common_reasons(reasons[out].tolist()),
            }
        )
    return pd.DataFrame(rows)


def _common_reasons(reasons: list[str], most: int = 4) -> str:
    """The ``most`` commonest reasons with their counts. Like reasons (the same words,
    other numbers) count together; a number they share stays (a threshold), one that
    varies shows its range, and candidate ids become "…"."""
    groups: dict[str, list[list[str | None]]] = {}
    for reason in reasons:
        numbers = [
            None if match.start() and reason[match.start() - 1] == "c" else match.group()
            for match in _NUMBER.finditer(reason or "")
        ]
        groups.setdefault(_NUMBER.sub("…", reason) if reason else "(no reason)", []).append(numbers)
    commonest = sorted(groups.items(), key=lambda group: -len(group[1]))[:most]
    parts = []
    for pattern, numbers in commonest:
        text = pattern
        for values in zip(*numbers, strict=True):  # one number's place, over the group
            text = text.replace("…", _span(values), 1)
        parts.append(f"{text} ({len(numbers)})")
    return "; ".join(parts)


def _span(values: tuple[str | None, ...]) -> str:
    """One number's place over like reasons: the number, its range, or "…" for ids."""
    if None in values:
        return "…"
    if len(set(values)) == 1:
        return values[0]
    ordered = sorted(values, key=float)
    return f"{ordered[0]} to {ordered[-1]}"


def _top_candidates(table: pd.DataFrame, n: int) -> pd.DataFrame:
    if "rank_position" not in table:
        return table.iloc[0:0]
    ranked = table[table["rank_position"].notna()].sort_values("rank_position")
    return ranked.head(n).reset_index(drop=True)


def _write_structures(folder: Path, store: CampaignStore, top: pd.DataFrame) -> dict[str, Path]:
    """CIFs of the relaxed top candidates and their pictures; returns cid → picture."""
    (folder / CIFS).mkdir(exist_ok=True)
    pictures = {}
    for candidate in store.candidates(cids=set(top["cid"]) if len(top) else set()):
        structure: Structure = candidate.structure
        structure.to(filename=str(folder / CIFS / f"{candidate.cid}.cif"))
        path = folder / FIGURES / f"{candidate.cid}.png"
        pictures[candidate.cid] = figures.structure_picture(structure, path)
    return pictures


def _training_values(config: CampaignConfig) -> pd.DataFrame | None:
    from gendesign.campaign import resources
    from gendesign.data.datasets import load_dataset

    try:
        dataset = resources.generator(config.generate.model).checkpoint.dataset
        return load_dataset(dataset, data_root=config.data_root).crystal_set("train").properties
    except Exception:  # the report still renders without the training reference
        return None


def _plots(out: Path, config: CampaignConfig, table: pd.DataFrame, funnel) -> dict[str, Path]:
    plots = {"funnel": figures.funnel_chart(funnel, out / "funnel.png")}
    training = _training_values(config)
    for name in predicted_properties(table.columns, "screen"):
        series = {
            "screened (predicted)": _values(table, column("screen", name)),
            "relaxed (predicted)": _values(table, column("reaudit", name)),
        }
        if name == "formation_energy_per_atom":
            series["relaxed (potential)"] = _values(table, "relax_e_form_eV_atom")
        reference = (
            training[name].to_numpy(float) if training is not None and name in training else None
        )
        target = config.targets.get(name)
        plots[name] = figures.property_distribution(
            name, series, reference, out / f"{name}.png", target
        )
    plots["e_above_hull"] = figures.e_hull_histogram(
        _values(table, "relax_e_above_hull_eV_atom"),
        config.rank.e_hull_max,
        out / "e_above_hull.png",
    )
    return {k: v for k, v in plots.items() if v.exists()}


def _values(table: pd.DataFrame, column: str) -> np.ndarray:
    return table[column].to_numpy(float) if column in table else np.array([])


def _schedule(config) -> str:
    from gendesign.campaign import resources

    generator = resources.generator(config.generate.model)
    return generator.schedule_text(generator.sampling_with(config.generate.sampling))


def _sections(config, table, funnel, top, timing) -> dict[str, pd.DataFrame | list[str]]:
    """The report's tables as plain data, rendered by both writers."""
    targets = ", ".join(f"{k} {v.describe()}" for k, v in config.targets.items()) or "none"
    counts = config.generate.source_counts()
    summary = [
        f"Candidates: {config.generate.n} ("
        + ", ".join(f"{name} {count}" for name, count in counts.items())
        + ")"
        + (
            f"; generative model {config.generate.model}, schedule {_schedule(config)}"
            if "model" in counts
            else ""
        ),
        f"Targets: {targets}; elements: {', '.join(config.elements or []) or 'any'}; "
        f"excluded: {', '.join(config.exclude or []) or 'none'}; atoms: {config.atoms or 'any'}",
        _prescreen_line(config),
        f"Screening: predictor {config.screen.predictor}, kappa {config.screen.kappa:g}, top {config.screen.top_k} relaxed",
        *verdict_lines(config, table),
    ]
    columns = {"rank_position": "rank", "cid": "id", "reaudit_reduced_formula": "formula",
               "reaudit_spacegroup_symbol": "space group", "generate_source": "source",
               "generate_parent": "parent", "generate_made_by": "made by",
               "reaudit_novelty_class": "novelty"}  # fmt: skip
    shown = pd.DataFrame({label: top[c] for c, label in columns.items() if c in top})
    for label in ("parent", "made by"):
        if label in shown:
            shown[label] = shown[label].fillna("–")
    if "reaudit_matched_id" in top:  # the known crystal it matches or was derived from
        shown["closest known"] = [
            f"{m} ({split})" if isinstance(m, str) and m else "–"
            for m, split in zip(
                top["reaudit_matched_id"], top["reaudit_matched_split"], strict=True
            )
        ]
    if "rank" in shown:
        shown["rank"] = shown["rank"].astype(int)
    for name in predicted_properties(top.columns, "reaudit"):
        mean, std = top[column("reaudit", name)], top[column("reaudit", f"{name}_std")]
        shown[f"{name} (pred.)"] = [f"{m:.3g} ± {s:.2g}" for m, s in zip(mean, std, strict=True)]
    for key, label in (("e_form_eV_atom", "E_form (eV/atom)"),
                       ("e_above_hull_eV_atom", "E_hull (eV/atom)")):  # fmt: skip
        if column("relax", key) in top:
            shown[label] = [
                f"{v:.3f}" if np.isfinite(v) else "–"
                for v in top[column("relax", key)].astype(float)
            ]
    if "relax_converged" in top:
        shown["converged"] = top["relax_converged"].map({True: "yes", False: "no"})
    if "judge_e_above_hull_eV_atom" in top:
        second = _first(top, "judge_potential")
        shown[f"E_hull {second} (eV/atom)"] = [
            f"{v:.3f}" if np.isfinite(v) else "–"
            for v in top["judge_e_above_hull_eV_atom"].astype(float)
        ]
    if "rank_stability_verdict" in top:
        shown["stability verdict"] = top["rank_stability_verdict"].fillna("one judge only")
    for name in predicted_properties(top.columns, "judge"):
        mean, std = top[column("judge", name)], top[column("judge", f"{name}_std")]
        shown[f"{name} (independent)"] = [
            f"{m:.3g} ± {s:.2g}" if np.isfinite(m) else "–"
            for m, s in zip(mean.astype(float), std.astype(float), strict=True)
        ]
    if "rank_meets_targets_independent" in top:
        both = top["rank_meets_targets_independent"]
        shown["in range by"] = [
            _in_range_by(screen, independent)
            for screen, independent in zip(top.get("rank_meets_targets"), both, strict=True)
        ]
    times = pd.DataFrame({"stage": list(timing), "seconds": [f"{v:.1f}" for v in timing.values()]})
    return {
        "summary": summary,
        "funnel": funnel,
        "sources": source_yield_table(table, config),
        "novelty": novelty_class_table(table, config),
        "top": shown,
        "rediscovered": rediscovered_table(table),
        "timing": times,
    }


def verdict_lines(config: CampaignConfig, table: pd.DataFrame) -> list[str]:
    """What each judge said, in words, each "stable" with its judge's measured precision."""
    relaxed = _values(table, "relax_e_above_hull_eV_atom")
    stable = int(np.sum(relaxed[np.isfinite(relaxed)] <= config.rank.e_hull_max))
    potential = _first(table, "relax_potential") or config.relax.potential
    first = (
        f"Relaxation: potential {potential}; {stable} of {int(np.isfinite(relaxed).sum())} "
        f"relaxed candidates within {config.rank.e_hull_max:g} eV/atom of the MP-20 hull "
        f"(stable by {potential}; {precision_note(potential)})"
    )
    return [first, *_judge_lines(config, table)]


def _judge_lines(config: CampaignConfig, table: pd.DataFrame) -> list[str]:
    """The independent judges' verdicts, with their measured precision."""
    if not judged(table):
        return ["Independent judges: off (judge.enabled)"] if not config.judge.enabled else []
    lines = []
    verdicts = table.get("rank_stability_verdict", pd.Series(dtype=object)).dropna()
    second = _first(table, "judge_potential")
    if second:
        counts = {
            v: int((verdicts == v).sum())
            for v in ("stable by both", "stable by one", "stable by neither")
        }
        lines.append(
            f"Second stability judge: {second} re-relaxed each relaxed candidate: "
            + ", ".join(f"{v} {n}" for v, n in counts.items())
            + f" ({second}: {precision_note(second)}; stable by both: {precision_note(CONSENSUS)})"
        )
    independent = table.get("rank_meets_targets_independent", pd.Series(dtype=object)).dropna()
    if len(independent):
        judge = _first(table, "judge_property_judge")
        lines.append(
            f"Independent property judge: {judge} (composition only, trained on MP-20 train, "
            f"which the screening predictor never saw): {int((independent == True).sum())} of "  # noqa: E712
            f"{len(independent)} judged candidates in range"
        )
    return lines


def _in_range_by(screen, independent) -> str:
    said = [
        name for name, ok in (("screening GNN", screen), ("independent", independent)) if ok is True
    ]
    return " and ".join(said) if said else "neither"


def rediscovered_table(table: pd.DataFrame) -> pd.DataFrame:
    """Candidates that turned out to be known crystals, as made or after relaxation: a
    check of the method, never counted as discoveries."""
    rows = []
    for stage, when in (("audit", "as made"), ("reaudit", "relaxed")):
        classes = table.get(f"{stage}_novelty_class")
        if classes is None:
            continue
        known = table[classes.isin(["known", "duplicate"])]
        for _, row in known.iterrows():
            if when == "relaxed" and row.get("audit_novelty_class") in ("known", "duplicate"):
                continue  # listed once, as made
            e_hull = row.get("relax_e_above_hull_eV_atom")
            rows.append(
                {
                    "id": row["cid"],
                    "source": row.get("generate_source", "model"),
                    "formula": row.get(f"{stage}_reduced_formula", ""),
                    "matches": f"{row.get(f'{stage}_matched_id', '')} ({row.get(f'{stage}_matched_split', '') or 'known'})",
                    "when": when,
                    "E_hull (eV/atom)": f"{float(e_hull):.3f}"
                    if e_hull is not None and np.isfinite(float(e_hull))
                    else "–",
                }
            )
    return pd.DataFrame(
        rows, columns=["id", "source", "formula", "matches", "when", "E_hull (eV/atom)"]
    )


def _prescreen_line(config: CampaignConfig) -> str:
    settings = config.prescreen
    if not settings.enabled:
        return "Stability pre-screen: off"
    how = f"{settings.steps} FIRE steps" if settings.steps else "single-point energies"
    return (
        f"Stability pre-screen: {how} with the relaxation potential; estimated E_hull above "
        f"{settings.e_hull_max:g} eV/atom drops"
    )


def _first(table: pd.DataFrame, column: str) -> str:
    if column not in table:
        return ""
    values = table[column].dropna()
    return str(values.iloc[0]) if len(values) else ""


def _md_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(none)_"
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _markdown(config, sections, plots, pictures) -> str:
    top = sections["top"].copy()
    if "id" in top:
        top["id"] = [f"[{cid}]({CIFS}/{cid}.cif)" for cid in top["id"]]
        top["picture"] = [
            f"![{cid}]({FIGURES}/{pictures[cid].name})" if cid in pictures else ""
            for cid in sections["top"]["id"]
        ]
    lines = [f"# Campaign {config.name}", "", *[f"- {line}" for line in sections["summary"]], ""]
    lines += ["## Funnel", "", _md_table(sections["funnel"]), ""]
    lines += [f"![funnel]({FIGURES}/{plots['funnel'].name})", ""]
    lines += ["## Yield per source", "", _md_table(sections["sources"]), ""]
    lines += ["Novelty classes of valid, unique candidates (% of judged):", ""]
    lines += [_md_table(sections["novelty"]), ""]
    lines += ["## Top candidates", "", _md_table(top), ""]
    lines += ["## Rediscovered known crystals", "", _REDISCOVERED, ""]
    lines += [_md_table(sections["rediscovered"]), ""]
    lines += ["## Distributions", ""]
    lines += [
        f"![{name}]({FIGURES}/{path.name})" for name, path in plots.items() if name != "funnel"
    ]
    lines += ["", "## Time per stage", "", _md_table(sections["timing"]), ""]
    return "\n".join(lines)


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _html_table(frame: pd.DataFrame, table_id: str, cells: dict | None = None) -> str:
    if frame.empty:
        return f'<p id="{table_id}"><em>(none)</em></p>'
    cells = cells or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for k, row in enumerate(frame.itertuples(index=False)):
        tds = []
        for name, value in zip(frame.columns, row, strict=True):
            render = cells.get(name)
            tds.append(f"<td>{render(k, value) if render else html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_REDISCOVERED = (
    "Candidates that are known crystals (matched id and the set it belongs to): the method "
    "found them again, which is a check on it, not a discovery. They are never counted as "
    "S.U.N."
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; vertical-align: middle; }
th { background: #f4f4f4; }
img { max-width: 100%; }
.figures img { width: 48%; margin: 0.5%; }
"""


def _html(config, sections, plots, pictures, folder: Path) -> str:
    top = sections["top"].copy()
    ids = list(top["id"]) if "id" in top else []
    if ids:
        top["picture"] = ids

    def link(k, cid):
        return f'<a href="{CIFS}/{html.escape(cid)}.cif">{html.escape(cid)}</a>'

    def picture(k, cid):
        return _image(pictures[cid], cid) if cid in pictures else ""

    distributions = "".join(_image(p, n) for n, p in plots.items() if n != "funnel")
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in sections["summary"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Campaign {html.escape(config.name)}</title>
<style>{_STYLE}</style></head><body>
<h1>Campaign {html.escape(config.name)}</h1>
<ul>{summary}</ul>
<h2>Funnel</h2>
{_html_table(sections["funnel"], "funnel")}
{_image(plots["funnel"], "funnel")}
<h2>Yield per source</h2>
{_html_table(sections["sources"], "source-yield")}
<p>Novelty classes of valid, unique candidates (% of judged):</p>
{_html_table(sections["novelty"], "novelty-classes")}
<h2>Top candidates</h2>
{_html_table(top, "top-candidates", {"id": link, "picture": picture})}
<h2>Rediscovered known crystals</h2>
<p>{html.escape(_REDISCOVERED)}</p>
{_html_table(sections["rediscovered"], "rediscovered")}
<h2>Distributions</h2>
<div class="figures">{distributions}</div>
<h2>Time per stage</h2>
{_html_table(sections["timing"], "timing")}
</body></html>
"""
