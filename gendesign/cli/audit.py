"""``gendesign audit``: validity, symmetry, uniqueness, novelty and coverage of a crystal set."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from gendesign.audit.config import AuditConfig
from gendesign.audit.report import headline_metrics
from gendesign.audit.runner import audit
from gendesign.cli.console import console, stage_progress
from gendesign.cli.options import DATA_ROOT_HELP
from gendesign.config import cli_overrides, load_config, write_resolved_config
from gendesign.data.validation import NOT_AUDITED

NO_REFERENCE = "none"
NOTHING_TO_AUDIT = 3  # exit code: the input held no readable structure


def audit_command(
    source: str = typer.Argument(
        ...,
        help="Crystals to audit: a CIF/POSCAR/extxyz file or folder, a CDVAE CSV, an ASE .db, "
        "a generation run folder, or a dataset split such as mp20:test.",
    ),
    reference: str | None = typer.Option(
        None,
        help="Compare against a dataset (mp20, perov5, carbon24; coverage against its test "
        "split, novelty against every crystal it holds: for mp20 all three MP-20 splits) or a "
        f"path; '{NO_REFERENCE}' for per-structure checks only. Default: mp20.",
    ),
    known: Path | None = typer.Option(
        None,
        help="More known crystals for novelty (a CIF/POSCAR/extxyz folder, an ASE .db, a "
        "CDVAE CSV): a structure matching one is classed 'known', with its id.",
    ),
    protocol: str | None = typer.Option(
        None, help="'default' (documented seeded draw) or 'cdvae' (CDVAE's denominators)."
    ),
    oxidation_states: str | None = typer.Option(
        None,
        help="What 'charge balanced' means: common (default; pymatgen's common and ICSD "
        "oxidation states), icsd (SMACT's ICSD-24 list) or permissive (SMACT's 2014 list).",
    ),
    out: Path | None = typer.Option(
        None, help="Folder for structures.csv, summary.json, report.md and plots/."
    ),
    config: Path | None = typer.Option(None, help="YAML file of audit options."),
    n_samples: int | None = typer.Option(
        None, help="Valid structures drawn for distribution statistics (default 1000)."
    ),
    seed: int | None = typer.Option(None, help="Seed of that draw (default 0)."),
    workers: int | None = typer.Option(None, help="Processes (default: all cores)."),
    max_atoms: int | None = typer.Option(
        None,
        help="Decline larger cells (default 5,000: a larger one may take over a minute on 2 cores).",
    ),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
    coverage: bool | None = typer.Option(
        None,
        "--coverage/--no-coverage",
        help="Coverage and distribution metrics against the reference (default: for sets of "
        "at least 100 valid structures; its fingerprints take minutes the first time).",
    ),
    predictor: list[Path] | None = typer.Option(
        None,
        help="Predictor checkpoint(s) (repeat for an ensemble): adds Wasserstein distances "
        "of predicted properties to the reference's.",
    ),
) -> None:
    """Audit a set of crystals: validity, symmetry, uniqueness, novelty, coverage.

    Per structure: validity and symmetry; for the set: uniqueness, novelty,
    coverage (COV-R/COV-P) and distribution distances to a reference."""
    flags = {
        "reference": reference,
        "known": str(known) if known else None,
        "protocol": protocol,
        "oxidation_states": oxidation_states,
        "n_samples": n_samples,
        "seed": seed,
        "workers": workers,
        "max_atoms": max_atoms,
        "data_root": data_root,
        "coverage": None if coverage is None else ("on" if coverage else "off"),
    }
    options = load_config(AuditConfig, config, cli_overrides(fields=flags))
    if options.reference is not None and options.reference.lower() == NO_REFERENCE:
        options.reference = None
    out = out or Path("outputs") / f"audit-{time.strftime('%Y%m%d-%H%M%S')}"

    property_function = None
    if predictor:
        from predictors.inference import Predictor

        property_function = Predictor.load(predictor).property_function()
    with stage_progress() as progress:
        result = audit(source, options, property_predictor=property_function, progress=progress)
    paths = result.write(out)
    write_resolved_config(options, out, "audit_config.yaml")

    table = Table("metric", "value", box=box.SIMPLE, title=f"Audit of {source}")
    for name, value in headline_metrics(result.summary):
        table.add_row(name, value)
    console.print(table)
    for note in result.summary.notes:
        console.print(f"[yellow]note:[/] {note}")
    if result.summary.reference is not None:
        console.print(f"coverage and distributions: {result.summary.reference.coverage}")
    console.print(f"Report: {paths['report']}  ·  per structure: {paths['structures']}")
    if result.summary.counts.readable == 0:
        _say_nothing_to_audit(source, result.table)
        raise typer.Exit(NOTHING_TO_AUDIT)


def _say_nothing_to_audit(source: str, table) -> None:
    """One sentence for the input, one per item that could not be read or was declined."""
    reasons = table["reason"].fillna("").astype(str)
    if reasons.str.startswith(NOT_AUDITED).all():
        console.print(f"[red]Nothing audited:[/] every structure in {source} was declined.")
    else:
        console.print(f"[red]Nothing to audit:[/] no structure could be read from {source}.")
    for reason in table["reason"].fillna("").astype(str):
        console.print(f"  {reason.removeprefix('unreadable: ')}")
