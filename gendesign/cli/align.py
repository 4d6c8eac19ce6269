"""``gendesign align``: fine-tune a generative model toward its own stable samples."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gendesign.cli.console import console
from gendesign.cli.options import DATA_ROOT_HELP


def align_command(
    config: Path = typer.Argument(..., help="Alignment YAML, e.g. configs/alignment/mp20.yaml."),
    resume: bool = typer.Option(False, help="Continue the run in its folder."),
    out: Path | None = typer.Option(None, help="Run folder (default outputs/alignment/<name>)."),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
    iterations: int | None = typer.Option(
        None, help="Iterations in all (default: the config's). Raise it with --resume to add some."
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override a config field, e.g. --set sample.n=200."
    ),
) -> None:
    """Sample → score by a short relaxation (energy above the hull) → fine-tune on the
    stable samples plus a replay of the training crystals, per iteration; resumable."""
    from gendesign.alignment.config import AlignmentConfig
    from gendesign.alignment.loop import align
    from gendesign.config import cli_overrides, load_config

    overrides = cli_overrides(
        set_, {"out_dir": out, "data_root": data_root, "iterations": iterations}
    )
    options = load_config(AlignmentConfig, config, overrides)
    summaries = align(options, resume=resume)
    table = Table(title=f"Alignment of {options.model}: reward {options.reward.potential}, "
                  f"{options.reward.hull} hull, stable ≤ {options.reward.e_hull_max:g} eV/atom")  # fmt: skip
    for column in ("iteration", "samples", "valid", "stable (reward)", "unique", "P1",
                   "W-#elements", "learned from", "seconds"):  # fmt: skip
        table.add_column(column, justify="right")
    for s in summaries:
        table.add_row(
            str(s.iteration), str(s.samples), str(s.valid), f"{s.stable_share:.1f} %",
            f"{s.unique_share:.1f} %", f"{s.p1_share:.1f} %", f"{s.w_elements:.3f}",
            str(s.finds), f"{s.seconds:.0f}",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"Aligned model: {options.folder / 'model.pt'} "
        f"(gendesign sample --model {options.folder / 'model.pt'})"
    )
