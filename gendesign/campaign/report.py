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
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from gendesign.campaign import report_figures as figures
from gendesign.campaign import report_views as views
from gendesign.campaign.config import STAGES, CampaignConfig
from gendesign.campaign.records import column, predicted_properties
from gendesign.campaign.store import CampaignStore
from gendesign.campaign.yields import (
    judged,
    novelty_class_table,
    round_yield_table,
    source_yield_table,
)
from relax.precision import CONSENSUS, precision_note

FIGURES = "report_files"
CIFS = "cifs"
CIFS_ZIP = "cifs.zip"
SHEET_CSV = "top_candidates.csv"
# A measured number or a candidate id, folded so that like reasons count together; digits
# inside names (chgnet-0.3.0, mp20) are not numbers.
_NUMBER = re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])|(?<=\bc)\d+\b")


def write_campaign_report(folder: str | Path, store: CampaignStore) -> dict[str, Path]:
    """Write report.md, report.html, report_files/, the top candidates' CIFs (cifs/ and
    cifs.zip) and their decision sheet as top_candidates.csv."""
    folder = Path(folder)
    config = CampaignConfig.model_validate(store.metadata["config"])
    table = store.table()
    (folder / FIGURES).mkdir(parents=True, exist_ok=True)
    funnel = funnel_table(table)
    top = top_candidates(table, config.report.top_n)
    sheet = decision_sheet(top, config)
    sheet.to_csv(folder / SHEET_CSV, index=False)
    structures = {c.cid: c.structure for c in store.candidates(cids=set(top["cid"]))}
    pictures = _write_structures(folder, structures)
    plots = _plots(folder / FIGURES, config, table, funnel)
    timing = store.metadata.get("timing_s", {})
    sections = _sections(config, table, funnel, sheet, timing)
    (folder / "report.md").write_text(_markdown(config, sections, plots, pictures))
    cards = _candidate_cards(config, top, structures, pictures)
    (folder / "report.html").write_text(_html(config, sections, plots, pictures, cards))
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


def top_candidates(table: pd.DataFrame, n: int) -> pd.DataFrame:
    if "rank_position" not in table:
        return table.iloc[0:0]
    ranked = table[table["rank_position"].notna()].sort_values("rank_position")
    return ranked.head(n).reset_index(drop=True)


def _write_structures(folder: Path, structures: dict[str, Structure]) -> dict[str, Path]:
    """CIFs of the relaxed top candidates (cifs/ and one cifs.zip) and a picture of each;
    returns cid → picture."""
    (folder / CIFS).mkdir(exist_ok=True)
    pictures = {}
    with zipfile.ZipFile(folder / CIFS_ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        for cid, structure in sorted(structures.items()):
            path = folder / CIFS / f"{cid}.cif"
            structure.to(filename=str(path))
            archive.write(path, f"{CIFS}/{path.name}")
            pictures[cid] = figures.structure_picture(structure, folder / FIGURES / f"{cid}.png")
    return pictures


def _candidate_cards(
    config: CampaignConfig,
    top: pd.DataFrame,
    structures: dict[str, Structure],
    pictures: dict[str, Path],
) -> list[str]:
    """One HTML card per top candidate: its picture, a rotatable 3D view and the hull of
    its chemical system with the candidate placed by the first judge's energy."""
    from relax.reference_hull import reference_hull

    if top.empty:
        return []
    reference = reference_hull(config.hull, config.data_root)
    cards = []
    for _, row in top.iterrows():
        cid = row["cid"]
        structure = structures.get(cid)
        if structure is None:
            continue
        potential = row.get("relax_potential") or "the first judge"
        e_form = float(row.get("relax_e_form_eV_atom", float("nan")))
        hull = (
            views.hull_view(structure.composition, e_form, reference, f"{cid} ({potential})")
            if np.isfinite(e_form)
            else views.note("no hull plot: no formation energy from the relaxation")
        )
        heading = " · ".join(
            str(v)
            for v in (
                f"{int(row['rank_position'])}. {cid}",
                row.get("reaudit_reduced_formula"),
                row.get("reaudit_spacegroup_symbol"),
            )
            if isinstance(v, str) and v
        )
        line = _card_line(row, potential, reference.label)
        cards.append(
            f'<section class="candidate" id="{html.escape(cid)}"><h3>{html.escape(heading)}</h3>'
            f'<p>{html.escape(line)}</p><div class="views">'
            f"{_image(pictures[cid], cid) if cid in pictures else ''}"
            f"{views.structure_view(structure, cid)}{hull}</div></section>"
        )
    return cards


def _card_line(row: pd.Series, potential: str, hull_label: str) -> str:
    """E_hull by the first judge and what the candidate would decompose into."""
    e_hull = float(row.get("relax_e_above_hull_eV_atom", float("nan")))
    if not np.isfinite(e_hull):
        return f"{potential}: no converged E_hull"
    where = "above" if e_hull >= 0 else "below"
    line = f"{abs(e_hull):.3f} eV/atom {where} the {hull_label} hull by {potential}"
    decomposition = row.get("relax_decomposition")
    if isinstance(decomposition, str) and decomposition:
        line += f"; the hull's phases at its composition: {decomposition}"
    return line


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


def _sections(config, table, funnel, sheet, timing) -> dict[str, pd.DataFrame | list[str]]:
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
        novelty_line(config, table),
    ]
    times = pd.DataFrame({"stage": list(timing), "seconds": [f"{v:.1f}" for v in timing.values()]})
    return {
        "summary": summary,
        "funnel": funnel,
        "sources": source_yield_table(table, config),
        "novelty": novelty_class_table(table, config),
        "rounds": round_yield_table(table, config),
        "top": displayed(sheet),
        "rediscovered": rediscovered_table(table),
        "timing": times,
    }


# Store columns of the decision sheet, in order, with the names it shows.
_SHEET_COLUMNS = {"rank_position": "rank", "cid": "id", "reaudit_reduced_formula": "formula",
                  "reaudit_spacegroup_symbol": "space group", "generate_source": "source",
                  "generate_parent": "parent", "generate_made_by": "made by",
                  "reaudit_novelty_class": "novelty"}  # fmt: skip
_SIGMA = " σ"  # suffix of a prediction's ensemble standard deviation


def decision_sheet(top: pd.DataFrame, config: CampaignConfig) -> pd.DataFrame:
    """One row per top candidate with what a chemist decides on: where it came from, the
    known crystal it is closest to, each judge's E_hull (eV/atom) and verdict, the target
    properties with σ and the probability of being in range. Raw values, units in the
    column names: ``top_candidates.csv``, and formatted (:func:`displayed`) in both reports."""
    sheet = pd.DataFrame({label: top[c] for c, label in _SHEET_COLUMNS.items() if c in top})
    if "reaudit_matched_id" in top:  # the known crystal it matches or was derived from
        sheet["closest known"] = [
            f"{m} ({split})" if isinstance(m, str) and m else None
            for m, split in zip(
                top["reaudit_matched_id"], top["reaudit_matched_split"], strict=True
            )
        ]
    for name in predicted_properties(top.columns, "reaudit"):
        mean = top[column("reaudit", name)].astype(float)
        std = top[column("reaudit", f"{name}_std")].astype(float)
        sheet[f"{name} (pred.)"], sheet[f"{name} (pred.){_SIGMA}"] = mean, std
        if name in config.targets:  # the screening ensemble's mean ± σ read as a normal
            sheet[f"P({name} in range)"] = [
                config.targets[name].probability(m, s) for m, s in zip(mean, std, strict=True)
            ]
    first = _first(top, "relax_potential") or "first judge"
    for key, label in (("e_form_eV_atom", "E_form (eV/atom)"),
                       ("e_above_hull_eV_atom", f"E_hull {first} (eV/atom)")):  # fmt: skip
        if column("relax", key) in top:
            sheet[label] = top[column("relax", key)].astype(float)
    if "relax_converged" in top:
        sheet["converged"] = top["relax_converged"].map({True: "yes", False: "no"})
    if "judge_e_above_hull_eV_atom" in top:
        second = _first(top, "judge_potential")
        sheet[f"E_hull {second} (eV/atom)"] = top["judge_e_above_hull_eV_atom"].astype(float)
    if "rank_stability_verdict" in top:
        sheet["stability verdict"] = top["rank_stability_verdict"].fillna("one judge only")
    if "rank_e_above_hull_eV_atom" in top:  # the least favourable judge's: what ranks
        sheet["E_hull verdict (eV/atom)"] = top["rank_e_above_hull_eV_atom"].astype(float)
    if "rank_judge_disagreement_eV_atom" in top:
        sheet["judges differ by (eV/atom)"] = top["rank_judge_disagreement_eV_atom"].astype(float)
    if "relax_decomposition" in top:
        sheet["competing phases"] = top["relax_decomposition"].replace("", None)
    if "relax_hull" in top:  # the reference every E_hull above was measured against
        sheet["hull"] = top["relax_hull"]
    if "rank_flags" in top:
        sheet["check before trusting"] = top["rank_flags"].replace("", None)
    for name in predicted_properties(top.columns, "judge"):
        sheet[f"{name} (independent)"] = top[column("judge", name)].astype(float)
        sheet[f"{name} (independent){_SIGMA}"] = top[column("judge", f"{name}_std")].astype(float)
    if "rank_meets_targets_independent" in top:
        sheet["in range by"] = [
            _in_range_by(screen, independent)
            for screen, independent in zip(
                top.get("rank_meets_targets"), top["rank_meets_targets_independent"], strict=True
            )
        ]
    if "reaudit_formula_note" in top:
        sheet["known formula"] = top["reaudit_formula_note"].replace("", None)
    if "rank" in sheet:
        sheet["rank"] = sheet["rank"].astype(int)
    return sheet


def displayed(sheet: pd.DataFrame) -> pd.DataFrame:
    """The decision sheet as the reports show it: "mean ± σ", energies to 1 meV/atom,
    probabilities in per cent, "–" where a value is missing."""
    shown = pd.DataFrame(index=sheet.index)
    for name in sheet.columns:
        if name.endswith(_SIGMA):
            continue
        values = sheet[name]
        if f"{name}{_SIGMA}" in sheet:
            shown[name] = [
                f"{m:.3g} ± {s:.2g}" if np.isfinite(m) else "–"
                for m, s in zip(values, sheet[f"{name}{_SIGMA}"], strict=True)
            ]
        elif name.startswith("P("):
            shown[name] = [f"{100 * p:.0f} %" if np.isfinite(p) else "–" for p in values]
        elif "(eV/atom)" in name:
            shown[name] = [f"{v:.3f}" if np.isfinite(v) else "–" for v in values]
        else:
            shown[name] = values.fillna("–")
    return shown


def verdict_lines(config: CampaignConfig, table: pd.DataFrame) -> list[str]:
    """What each judge said, in words, each "stable" with its judge's measured precision."""
    relaxed = _values(table, "relax_e_above_hull_eV_atom")
    stable = int(np.sum(relaxed[np.isfinite(relaxed)] <= config.rank.e_hull_max))
    potential = _first(table, "relax_potential") or config.relax.potential
    first = (
        f"Relaxation: potential {potential}; {stable} of {int(np.isfinite(relaxed).sum())} "
        f"relaxed candidates within {config.rank.e_hull_max:g} eV/atom of the {hull_label(config)} "
        f"(stable by {potential}; {precision_note(potential)})"
    )
    return [first, *_judge_lines(config, table)]


def novelty_line(config: CampaignConfig, table: pd.DataFrame) -> str:
    """Which novelty the S.U.N. counts use, and how many of them Materials Project knows by
    formula."""
    from gendesign.campaign.yields import funnel_masks

    sun = funnel_masks(table, config)["S.U.N."]
    noted = table.get("reaudit_formula_note", pd.Series("", index=table.index)).fillna("") != ""
    reference = config.audit.novelty_reference or "none"
    return (
        f"Novelty (S.U.N.): no structural match among the known crystals of {reference} "
        f"(StructureMatcher, relaxed structure); {int((sun & noted).sum())} of the "
        f"{int(sun.sum())} S.U.N. have a formula Materials Project knows (a new structure of a "
        "known compound at best; structure not compared)"
    )


def hull_label(config: CampaignConfig) -> str:
    """The campaign's reference hull in words (name, sources, size, version)."""
    from gendesign.campaign import resources

    return resources.reference_hull(config.hull, config.data_root).label


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
            + (
                "; its formation energy also chose the model's compositions "
                "(generate.compositions: hull), so on formation energy it is not independent"
                if config.generate.composition_mode(config.elements) == "hull"
                and "formation_energy_per_atom" in config.targets
                else ""
            )
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


_ROUNDS_NOTE = (
    "Each round runs the whole pipeline; between rounds the generator is fine-tuned on the "
    "round's stable finds (rounds/round-<r>/provenance.json). Worker s: the seconds every "
    "stage's workers spent on the row's candidates."
)


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
    lines += ["## Per round and source", "", _ROUNDS_NOTE, "", _md_table(sections["rounds"]), ""]
    lines += ["## Top candidates", "", _SHEET_NOTE, "", _md_table(top), ""]
    lines += [f"Downloads: [{SHEET_CSV}]({SHEET_CSV}) (raw values), [{CIFS_ZIP}]({CIFS_ZIP}) "
              "(the relaxed CIFs). Rotatable 3D views and each candidate's hull plot are "
              "in report.html.", ""]  # fmt: skip
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

_SHEET_NOTE = (
    "P(in range): the probability that the property lies in the target range, reading the "
    "screening ensemble's mean ± σ as a normal distribution. E_hull: energy above the "
    "reference hull after relaxation, by each judge; the verdict and the rank follow the least "
    "favourable one, and a candidate whose judges differ by more than 0.1 eV/atom, or whose "
    "E_hull is only a lower bound, ranks after every candidate without such a doubt. "
    "Competing phases: the hull's phases at its composition ([MP]: a Materials Project "
    "formation energy, [MPTS-52]: an MPTS-52 crystal; unmarked: MP-20)."
)
_CARDS_NOTE = (
    "Each top candidate: a picture, a 3D view to turn with the mouse, and the convex hull of "
    "its chemical system (the reference hull's DFT formation energies) with the candidate highlighted at the "
    "first judge's formation energy."
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; vertical-align: middle; }
th { background: #f4f4f4; }
img { max-width: 100%; }
.figures img { width: 48%; margin: 0.5%; }
.candidate .views { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; }
.candidate { border-top: 1px solid #ddd; }
"""


def _html(config, sections, plots, pictures, cards: list[str]) -> str:
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
<style>{_STYLE}</style>{views.plotly_script() if cards else ""}</head><body>
<h1>Campaign {html.escape(config.name)}</h1>
<ul>{summary}</ul>
<h2>Funnel</h2>
{_html_table(sections["funnel"], "funnel")}
{_image(plots["funnel"], "funnel")}
<h2>Yield per source</h2>
{_html_table(sections["sources"], "source-yield")}
<p>Novelty classes of valid, unique candidates (% of judged):</p>
{_html_table(sections["novelty"], "novelty-classes")}
<h2>Per round and source</h2>
<p>{html.escape(_ROUNDS_NOTE)}</p>
{_html_table(sections["rounds"], "round-yield")}
<h2>Top candidates</h2>
<p>{html.escape(_SHEET_NOTE)}</p>
{_html_table(top, "top-candidates", {"id": link, "picture": picture})}
<p>Downloads: <a id="sheet-csv" href="{SHEET_CSV}">{SHEET_CSV}</a> (raw values),
<a id="cifs-zip" href="{CIFS_ZIP}">{CIFS_ZIP}</a> (the relaxed CIFs).</p>
<h2>Candidates one by one</h2>
<p>{html.escape(_CARDS_NOTE)}</p>
{"".join(cards) or "<p><em>(none)</em></p>"}
<h2>Rediscovered known crystals</h2>
<p>{html.escape(_REDISCOVERED)}</p>
{_html_table(sections["rediscovered"], "rediscovered")}
<h2>Distributions</h2>
<div class="figures">{distributions}</div>
<h2>Time per stage</h2>
{_html_table(sections["timing"], "timing")}
</body></html>
"""
