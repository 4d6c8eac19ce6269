"""``gendesign campaign`` and ``gendesign report``: discovery campaigns."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gendesign.cli.console import console, stage_progress
from gendesign.cli.options import DATA_ROOT_HELP


def campaign_command(
    config: Path = typer.Argument(..., help="Campaign YAML, e.g. configs/campaign/demo.yaml."),
    resume: bool = typer.Option(False, help="Continue the campaign in its folder."),
    force: bool = typer.Option(
        False, help="With --resume: discard stages whose config changed and recompute them."
    ),
    workers: int = typer.Option(
        0, help="Local worker processes (0: one per core; 1: run in this process)."
    ),
    scheduler: str | None = typer.Option(
        None, help="Run the stages on a Dask scheduler, e.g. tcp://head-node:8786."
    ),
    out: Path | None = typer.Option(None, help="Campaign folder (default outputs/<name>)."),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
    rounds: int | None = typer.Option(
        None,
        help="Rounds of the whole pipeline; between rounds the generator learns from the "
        "round's finds (default: the config's, 1). Raise it with --resume to add rounds.",
    ),
    hull: str | None = typer.Option(
        None,
        help="Reference hull of every E_hull: full (MP-20, MPTS-52 and Materials Project "
        "formation energies aligned to MP-20; the config's default) or mp20 (MP-20 alone, as earlier "
        "figures).",
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override a config field, e.g. --set generate.n=500."
    ),
) -> None:
    """Generate (per source) → audit → pre-screen → screen → relax → re-audit → rank →
    report, resumable."""
    from gendesign.audit.structure_audit import available_workers
    from gendesign.campaign.config import CampaignConfig
    from gendesign.campaign.pipeline import run_campaign
    from gendesign.config import cli_overrides, load_config

    overrides = cli_overrides(
        set_, {"out_dir": out, "data_root": data_root, "rounds": rounds, "hull": hull}
    )
    options = load_config(CampaignConfig, config, overrides)
    with stage_progress(rates=True) as progress:
        run = run_campaign(
            options,
            resume=resume,
            force=force,
            workers=workers or available_workers(),
            scheduler=scheduler,
            progress=progress,
            source=str(config),
        )
    if not run.did_work:
        console.print("Nothing to do: every stage of this campaign is already done.")
    _print_summary(run.folder, run.store, run.seconds)


def report_command(
    folder: Path = typer.Argument(..., help="A campaign folder (holds campaign.yaml)."),
) -> None:
    """Rewrite report.md and report.html of a campaign from its store."""
    from gendesign.campaign.pipeline import open_campaign_store
    from gendesign.campaign.report import write_campaign_report

    store = open_campaign_store(folder)
    paths = write_campaign_report(folder, store)
    console.print(f"Report: {paths['html']}  ·  {paths['markdown']}")


def _print_summary(folder: Path, store, seconds: dict[str, float]) -> None:
    from gendesign.campaign.config import CampaignConfig
    from gendesign.campaign.report import funnel_table, novelty_line, verdict_lines
    from gendesign.campaign.yields import source_yield_table

    candidates = store.table()
    funnel = funnel_table(candidates)
    table = Table(title="Funnel", show_lines=False)
    for column in ("stage", "entered", "passed", "dropped", "failed", "seconds"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for row in funnel.itertuples(index=False):
        spent = seconds.get(row.stage)
        table.add_row(
            row.stage, str(row.entered), str(row.passed), str(row.dropped), str(row.failed),
            f"{spent:.1f}" if spent is not None else "",
        )  # fmt: skip
    console.print(table)
    config = CampaignConfig.model_validate(store.metadata["config"])
    yields = source_yield_table(candidates, config)
    if len(yields) > 1:  # several sources: which one paid off
        per_source = Table(title="Yield per source")
        for column in yields.columns:
            per_source.add_column(column, justify="left" if column == "source" else "right")
        for row in yields.itertuples(index=False):
            per_source.add_row(*(str(value) for value in row))
        console.print(per_source)
    for line in [*verdict_lines(config, candidates), novelty_line(config, candidates)]:
        console.print(line, highlight=False)
    _print_top(config, candidates)
    console.print(f"Report: {folder / 'report.html'}  ·  store: {store.url}")


TOP_PRINTED = 5


def _print_top(config, candidates) -> None:
    """The first few of the ranking, as a chemist reads them: formula, symmetry, whether it
    is known, the verdict's E_hull and what it would decompose into, and any doubt."""
    from gendesign.campaign.report import decision_sheet, top_candidates

    sheet = decision_sheet(top_candidates(candidates, TOP_PRINTED), config)
    if sheet.empty:
        return
    judges = [c for c in sheet.columns if c.startswith("E_hull ") and "verdict" not in c]
    names = " / ".join(c.removeprefix("E_hull ").removesuffix(" (eV/atom)") for c in judges)
    table = Table(title=f"Top {len(sheet)} of the ranking · E_hull in eV/atom by {names}")
    for column in (
        "#",
        "formula",
        "space group",
        "novelty",
        "stable by",
        "E_hull",
        "decomposes to",
        "note",
    ):
        table.add_column(column, justify="right" if column == "#" else "left")
    for _, row in sheet.iterrows():
        notes = [row.get("known formula"), row.get("check before trusting")]
        table.add_row(
            str(row["rank"]),
            str(row.get("formula", "")),
            str(row.get("space group", "")),
            str(row.get("novelty", "")),
            str(row.get("stability verdict", "")).removeprefix("stable by "),
            " / ".join(f"{row[c]:+.3f}" if row[c] == row[c] else "–" for c in judges),
            str(row.get("competing phases") or "–"),
            "; ".join(n for n in notes if isinstance(n, str) and n) or "–",
        )
    console.print(table)
