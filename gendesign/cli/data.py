"""``gendesign data ...``: look at datasets and structure files."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from gendesign.cli.console import console
from gendesign.data.arrays import CrystalArrays
from gendesign.data.datasets import DATASETS, load_dataset
from gendesign.data.readers import read_structures
from gendesign.data.summary import summarize_arrays
from gendesign.errors import InputError

data_app = typer.Typer(help="Inspect datasets and structure files.", no_args_is_help=True)


@data_app.command("list")
def list_datasets() -> None:
    """List the named datasets and their protocol."""
    table = Table("name", "description", "splits", "properties", "protocol")
    for spec in DATASETS.values():
        table.add_row(
            spec.name,
            spec.description,
            ", ".join(spec.sources),
            ", ".join(f"{p.name} ({p.unit})" for p in spec.properties),
            spec.protocol,
        )
    console.print(table)


@data_app.command("info")
def info(
    name: str = typer.Argument(
        ..., help="A dataset name (see `gendesign data list`) or a path to any input."
    ),
    data_root: Path | None = typer.Option(
        None, help="Folder holding the datasets (default: $GENDESIGN_DATA, then ../shared/data)."
    ),
    max_atoms: int | None = typer.Option(None, help="Drop crystals with more atoms than this."),
    niggli: bool = typer.Option(True, help="Niggli-reduce cells."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a dataset (per split) or an input file/folder: counts, elements, atoms, properties."""
    if name in DATASETS:
        with console.status(f"Loading {name} (the first load builds the cache)..."):
            data = load_dataset(
                name,
                data_root=str(data_root) if data_root else None,
                max_atoms=max_atoms,
                niggli=niggli,
            )
        units = {p.name: p.unit for p in data.spec.properties}
        summary = {
            "dataset": name,
            "protocol": data.spec.protocol,
            "from_cache": data.from_cache,
            "vocabulary_size": len(data.vocabulary),
            "skipped": len(data.skipped),
            "skipped_log": str(data.skipped_csv) if data.skipped else None,
            "splits": {
                split: summarize_arrays(arrays, units) for split, arrays in data.splits.items()
            },
        }
    else:
        if not Path(name).exists():
            raise InputError(
                f"'{name}' is neither a dataset ({', '.join(DATASETS)}) nor an existing file or folder"
            )
        crystals = read_structures(name)
        summary = {
            "input": name,
            "skipped": len(crystals.skipped),
            "skipped_reasons": dict(crystals.skipped_reasons()),
            "splits": {"all": summarize_arrays(CrystalArrays.from_crystal_set(crystals))},
        }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)


def _print_summary(summary: dict) -> None:
    title = summary.get("dataset") or summary.get("input")
    extra = f" — protocol {summary['protocol']}" if "protocol" in summary else ""
    console.rule(f"[bold]{title}[/]{extra}")
    splits = Table(
        "split",
        "crystals",
        "atoms/cell min–mean–max",
        "elements/crystal",
        "distinct elements",
        box=box.SIMPLE_HEAD,
    )
    for split, s in summary["splits"].items():
        a, e = s["atoms_per_cell"], s["elements_per_crystal"]
        splits.add_row(
            split,
            str(s["crystals"]),
            f"{a.get('min', 0):.0f}–{a.get('mean', 0):.1f}–{a.get('max', 0):.0f}",
            f"{e.get('mean', 0):.2f}",
            str(s["distinct_elements"]),
        )
    console.print(splits)
    for split, s in summary["splits"].items():
        top = " ".join(f"{el} {n}" for el, n in s["most_common_elements"][:8])
        console.print(f"  [dim]{split} most common elements (atoms):[/] {top}")
    props = Table(
        "property", "unit", "split", "n", "missing", "mean ± std", "min … max", box=box.SIMPLE_HEAD
    )
    props.columns[0].no_wrap = True
    for split, s in summary["splits"].items():
        for prop, st in s["properties"].items():
            spread = f"{st['mean']:.3g} ± {st['std']:.2g}" if st["count"] else ""
            extent = f"{st['min']:.3g} … {st['max']:.3g}" if st["count"] else ""
            props.add_row(
                prop, st["unit"], split, str(st["count"]), str(st["missing"]), spread, extent
            )
    if props.row_count:
        console.print(props)
    if summary["skipped"]:
        where = summary.get("skipped_log") or "; ".join(
            f"{reason}: {n}" for reason, n in summary.get("skipped_reasons", {}).items()
        )
        console.print(f"[yellow]{summary['skipped']} item(s) skipped[/] ({where})")
    else:
        console.print("No items skipped.")
