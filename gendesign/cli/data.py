"""``gendesign data ...``: fetch the datasets and weights, see where they are, look at them."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from gendesign.cli.console import console
from gendesign.cli.options import DATA_ROOT_HELP, MODELS_ROOT_HELP
from gendesign.data.arrays import CrystalArrays
from gendesign.data.datasets import DATASETS, load_dataset
from gendesign.data.fetching import entry_status, fetch, size_text
from gendesign.data.readers import read_structures
from gendesign.data.registry import RegistryEntry, default_entries, entry, registry
from gendesign.data.summary import summarize_arrays
from gendesign.errors import InputError
from gendesign.paths import fetched_root, resolve_mirror

data_app = typer.Typer(
    help="Fetch datasets and weights, show where they are, inspect datasets and structure files.",
    no_args_is_help=True,
)

_NAMES_HELP = (
    "Registry names (see `gendesign data status`); none: what the defaults read; all: every entry."
)


def _chosen_entries(names: list[str] | None) -> list[RegistryEntry]:
    if not names:
        return default_entries()
    if names == ["all"]:
        return list(registry().values())
    return [entry(name) for name in names]


def _mirror_option(item: RegistryEntry, data_root: str | None, models_root: str | None):
    return data_root if item.root == "data" else models_root


@data_app.command("fetch")
def fetch_command(
    names: list[str] | None = typer.Argument(None, help=_NAMES_HELP),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
    models_root: str | None = typer.Option(None, help=MODELS_ROOT_HELP),
) -> None:
    """Fetch datasets and weights ahead of time: from the mirror, else their public URLs;
    every file checked against its sha256 and kept in the cache."""
    chosen = _chosen_entries(names)
    fetched = 0
    for item in chosen:
        explicit = _mirror_option(item, data_root, models_root)
        before = entry_status(item, explicit)
        if before.where in ("mirror", "cache"):
            console.print(f"{item.name}: already here ({before.where}: {before.folder})")
            continue
        mirror = resolve_mirror(item.root, explicit)
        for file in item.files:
            fetch(file, item.root, mirror)
        fetched += 1
        console.print(
            f"{item.name}: fetched {len(item.files)} file(s), {size_text(item.size, unknown='?')}, checked"
        )
    console.print(
        f"{fetched} of {len(chosen)} entr{'y' if len(chosen) == 1 else 'ies'} fetched into "
        f"{fetched_root('data').parent}; the rest were already here."
    )


@data_app.command("status")
def status_command(
    names: list[str] | None = typer.Argument(
        None, help="Registry names; none or all: every entry."
    ),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
    models_root: str | None = typer.Option(None, help=MODELS_ROOT_HELP),
    verify: bool = typer.Option(
        False, help="Also check every present file's sha256 (reads them all)."
    ),
) -> None:
    """List every dataset and weight file set: present where, or missing, with size and licence."""
    chosen = list(registry().values()) if not names or names == ["all"] else _chosen_entries(names)
    table = Table("name", "default", "here", "size", "licence", "what", box=box.SIMPLE_HEAD)
    missing_defaults, damaged, statuses = [], [], []
    for item in chosen:
        status = entry_status(item, _mirror_option(item, data_root, models_root), verify)
        statuses.append(status)
        here = {
            "mirror": "mirror",
            "cache": "cache",
            "partly": f"[yellow]{len(item.files) - status.missing} of {len(item.files)} files[/]",
            "missing": "[yellow]no[/]",
        }[status.where]
        if status.damaged:
            here += f" [red]({len(status.damaged)} damaged)[/]"
            damaged += [str(status.folder / path) for path in status.damaged]
        if item.default and status.where not in ("mirror", "cache"):
            missing_defaults.append(item.name)
        table.add_row(
            item.name,
            "yes" if item.default else "",
            here,
            size_text(item.size, unknown="?"),
            item.licence,
            item.description,
        )
    console.print(table)
    for root in ("data", "models"):
        mirror = resolve_mirror(root, data_root if root == "data" else models_root)
        console.print(f"{root} mirror: {mirror.describe()}; downloads go to {fetched_root(root)}")
    if damaged:
        console.print(
            f"[red]{len(damaged)} file(s) differ from their sha256:[/] {', '.join(damaged)}"
        )
    if names:
        here = sum(1 for row in statuses if row.where in ("mirror", "cache"))
        console.print(f"{here} of {len(statuses)} named entries here.")
    elif missing_defaults:
        console.print(
            f"Not here yet, read by the defaults: {', '.join(missing_defaults)}; they are fetched "
            "on first use, or now with `gendesign data fetch`."
        )
    else:
        console.print("Everything the defaults read is here.")


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
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
    max_atoms: int | None = typer.Option(None, help="Drop crystals with more atoms than this."),
    niggli: bool = typer.Option(True, help="Niggli-reduce cells."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a dataset (per split) or an input file/folder: counts, elements, atoms, properties."""
    if name in DATASETS:
        with console.status(f"Loading {name} (the first load builds the cache)..."):
            data = load_dataset(
                name,
                data_root=data_root,
                max_atoms=max_atoms,
                niggli=niggli,
            )
        units = {p.name: p.unit for p in data.spec.properties}
        summary = {
            "dataset": name,
            "protocol": data.protocol,
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
