"""Writing an audit: per-structure CSV, summary.json, report.md with PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

if TYPE_CHECKING:
    from gendesign.audit.reference_cache import ReferenceProfile
    from gendesign.audit.summary import AuditSummary

STRUCTURES_CSV = "structures.csv"
SUMMARY_JSON = "summary.json"
REPORT_MD = "report.md"


def write_report(
    table: pd.DataFrame, summary: AuditSummary, profile: ReferenceProfile | None, folder: Path
) -> dict[str, Path]:
    """Write every audit output (the per-structure ``table``, the set's ``summary``, plots
    against the reference ``profile``) into ``folder``; return their paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "structures": folder / STRUCTURES_CSV,
        "summary": folder / SUMMARY_JSON,
        "report": folder / REPORT_MD,
    }
    table.to_csv(paths["structures"], index=False)
    paths["summary"].write_text(json.dumps(_jsonable(summary.to_dict()), indent=2) + "\n")
    plots = _write_plots(table, summary, profile, folder / "plots")
    paths["report"].write_text(render_markdown(summary, plots, folder))
    paths.update({f"plot_{name}": path for name, path in plots.items()})
    return paths


def headline_metrics(summary: AuditSummary) -> list[tuple[str, str]]:
    """(metric, formatted value) pairs for the terminal table and the report."""
    validity = summary.validity
    rows = [
        ("items audited", str(summary.n_items)),
        ("readable", _percent(validity.readable)),
        ("structural validity", _percent(validity.structural)),
        (
            f"compositional validity (SMACT, {summary.rules.get('oxidation_states', 'icsd24')})",
            _percent(validity.compositional),
        ),
    ]
    if validity.compositional_icsd24 is not None:
        rows.append(
            ("compositional validity (SMACT, icsd24)", _percent(validity.compositional_icsd24))
        )
    if validity.balanced is not None:
        policy = summary.rules.get("oxidation_state_policy", "common")
        rows.append((f"charge balanced ({policy} oxidation states)", _percent(validity.balanced)))
    rows += [
        ("overall validity", _percent(validity.overall)),
        ("uniqueness (of valid)", _percent(summary.uniqueness)),
    ]
    if summary.novelty is not None:
        rows.append(("novelty (of unique)", _percent(summary.novelty)))
        for name, share in (summary.novelty_classes or {}).items():
            rows.append((f"  {name} (of unique)", _percent(share)))
    if summary.composition_novelty_mp20_train is not None:
        rows.append(
            ("new composition vs MP-20 train", _percent(summary.composition_novelty_mp20_train))
        )
    if summary.coverage is not None:
        rows.append(("COV-R", _percent(summary.coverage.cov_recall)))
        rows.append(("COV-P", _percent(summary.coverage.cov_precision)))
    if summary.distribution is not None:
        dist = summary.distribution
        rows.append(("wdist density (g/cm³)", _number(dist.wdist_density)))
        rows.append(("wdist #elements", _number(dist.wdist_n_elements)))
        for name, value in (dist.property_wdist or {}).items():
            rows.append((f"wdist {name}", _number(value)))
    return rows


def render_markdown(summary: AuditSummary, plots: dict[str, Path], folder: Path) -> str:
    lines = [
        "# Structure audit",
        "",
        f"- input: `{summary.input}`",
        f"- protocol: `{summary.protocol}` (seed {summary.seed})",
    ]
    if summary.reference is not None:
        ref = summary.reference
        lines.append(
            f"- reference: `{ref.label}` ({ref.n_structures} structures); "
            f"novelty against `{ref.novelty_against}` ({ref.n_novelty_structures}); "
            f"coverage and distributions {ref.coverage}"
        )
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in headline_metrics(summary)]
    lines += ["", "## Denominators", ""]
    lines += [f"- **{k}**: {v}" for k, v in summary.denominators.items()]
    if summary.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in summary.notes]
    if summary.failure_reasons:
        lines += ["", "## Why structures failed", "", "| reason | count |", "|---|---|"]
        lines += [f"| {r} | {n} |" for r, n in summary.failure_reasons.items()]
    if summary.elements_without_oxidation_data:
        missing = ", ".join(
            f"{k} ({v})" for k, v in summary.elements_without_oxidation_data.items()
        )
        lines += ["", f"Elements without SMACT oxidation-state data: {missing}."]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [
            f"![{name}]({path.relative_to(folder).as_posix()})" for name, path in plots.items()
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots


def _write_plots(
    table: pd.DataFrame, summary: AuditSummary, profile: ReferenceProfile | None, folder: Path
) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    valid = table[table["valid"].astype(bool)]
    plots = {"validity_funnel": _funnel(summary, folder / "validity_funnel.png")}
    if not valid.empty:
        plots["space_groups"] = _space_groups(valid, folder / "space_groups.png")
        reference_density = profile.density_g_cm3 if profile is not None else None
        reference_elements = profile.n_elements if profile is not None else None
        plots["density"] = _histogram(
            valid["density_g_cm3"].to_numpy(float),
            reference_density,
            "density (g/cm³)",
            folder / "density.png",
            bins=40,
        )
        plots["n_elements"] = _histogram(
            valid["n_elements"].to_numpy(float),
            reference_elements,
            "number of elements",
            folder / "n_elements.png",
            bins=np.arange(0.5, 9.5, 1.0),
        )
    return plots


def _histogram(values, reference, label: str, path: Path, bins) -> Path:
    figure, axis = plt.subplots(figsize=(5, 3.5))
    if isinstance(bins, int):
        pooled = np.concatenate([values, reference]) if reference is not None else values
        pooled = pooled[np.isfinite(pooled)]
        if len(pooled):  # one value alone (a single structure) still gets bins of some width
            low, high = pooled.min(), pooled.max()
            low, high = (low - 0.5, high + 0.5) if high - low < 1e-9 else (low, high)
            bins = np.linspace(low, high, bins)
    axis.hist(values, bins=bins, density=True, alpha=0.6, label="audited (valid)")
    if reference is not None:
        axis.hist(reference, bins=bins, density=True, alpha=0.6, label="reference")
    axis.set_xlabel(label)
    axis.set_ylabel("density of structures")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _space_groups(valid: pd.DataFrame, path: Path) -> Path:
    counts = valid["spacegroup_symbol_0.1"].fillna("none").value_counts().head(20)
    figure, axis = plt.subplots(figsize=(6, 3.8))
    axis.bar(range(len(counts)), counts.to_numpy())
    axis.set_xticks(range(len(counts)), counts.index, rotation=70, fontsize=7)
    axis.set_ylabel("valid structures")
    axis.set_title("20 most common space groups (symprec 0.1 Å)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _funnel(summary: AuditSummary, path: Path) -> Path:
    counts = summary.counts
    stages = [
        ("items", summary.n_items),
        ("readable", counts.readable),
        ("lattice sane", counts.lattice_ok),
        ("structurally valid", counts.struct_valid),
        ("valid (+SMACT)", counts.valid),
        ("unique", summary.n_unique),
    ]
    if summary.n_unique_novel is not None:
        stages.append(("unique + novel", summary.n_unique_novel))
    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    names, values = zip(*stages, strict=True)
    axis.barh(range(len(values)), values)
    axis.set_yticks(range(len(values)), names)
    axis.invert_yaxis()
    for y, value in enumerate(values):
        axis.text(value, y, f" {value}", va="center", fontsize=8)
    axis.set_xlabel("structures")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# --------------------------------------------------------------------------- formatting


def _percent(value) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{100 * value:.2f} %"
    )


def _number(value) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.4g}"
    )


def _jsonable(value):
    """NaN → null and numpy scalars → Python numbers, so summary.json is valid JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
