"""``gendesign judges``: the stability judges a campaign can use, and how often each is right."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from gendesign.cli.console import console, stage_progress
from gendesign.cli.options import DATA_ROOT_HELP

judges_app = typer.Typer(
    help="Stability judges: list them with their measured precision, or measure one.",
    no_args_is_help=True,
)


@judges_app.command("list")
def list_command() -> None:
    """Every potential a name loads (built-ins and registered plug-ins) and its measured
    precision on MPTS-52."""
    from relax.potentials import potential_names, registered_potentials
    from relax.precision import CONSENSUS, measured_precision

    plugins = registered_potentials()
    table = Table("judge", "kind", "precision at 30 % stable", "recall", "crystals", box=box.SIMPLE)
    for name in (*potential_names(), CONSENSUS):
        scores = measured_precision(name) or {}
        kind = "plug-in" if name in plugins else "rule" if name == CONSENSUS else "built-in"
        table.add_row(
            name,
            kind,
            f"{scores['precision_at_30pct_stable']:.2f}" if scores else "not measured",
            f"{scores['recall']:.2f}" if scores else "",
            str(scores.get("n", "")),
        )
    console.print(table)
    console.print(f"{CONSENSUS}: the project's verdict, the largest E_hull of every judge")
    for name, factory in plugins.items():
        console.print(f"plug-in {name}: {factory}")
    hulls = {
        s.get("hull", "mp20") for s in map(measured_precision, (*potential_names(), CONSENSUS)) if s
    }
    console.print(f"Measured on MPTS-52 test, hull {', '.join(sorted(hulls)) or '–'}")
    console.print("A plug-in by module:factory needs no registration: --potential my_pkg.calc:make")


@judges_app.command("benchmark")
def benchmark_command(
    potential: str = typer.Option(
        ..., help="A built-in, a registered plug-in, or module:factory (returns an ASE calculator)."
    ),
    per_class: int = typer.Option(
        50, help="MPTS-52 test crystals drawn from each side of 0.1 eV/atom (DFT)."
    ),
    hull: str = typer.Option("full", help="Reference hull: full or mp20."),
    starts: list[str] = typer.Option(
        ["perturbed"], "--start", help="perturbed (rattled and strained; the default) and/or dft."
    ),
    seed: int = typer.Option(0, help="Seed of the sample and of the perturbation."),
    max_atoms: int = typer.Option(20, help="Largest cell sampled (0: any size)."),
    out: Path = typer.Option(
        Path("outputs") / "judges", help="Folder of the relaxations; rerunning it resumes."
    ),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
) -> None:
    """Measure how often POTENTIAL's "stable" is right on DFT-labelled MPTS-52 crystals and
    store it where reports read it (the user's judge table)."""
    from gendesign.errors import ConfigError
    from relax.judge_benchmark import STARTS, measure_judge
    from relax.potentials import check_potential_name, load_potential
    from relax.precision import write_measured
    from relax.reference_hull import check_hull_name, reference_hull

    check_potential_name(potential)
    check_hull_name(hull)
    unknown = [s for s in starts if s not in STARTS]
    if unknown:
        raise ConfigError(f"--start: '{unknown[0]}' is not one of {', '.join(STARTS)}")
    with console.status("Loading the potential and the reference hull..."):
        name = load_potential(potential).info.name
        reference = reference_hull(hull, data_root)
    with stage_progress() as progress:
        result = measure_judge(
            potential,
            reference,
            out,
            per_class,
            seed,
            max_atoms or None,
            starts,
            data_root,
            progress=lambda what, total: progress(what, total),
        )
    table = Table(
        "start",
        "precision",
        "recall",
        "precision at 30 % stable",
        "E_hull MAE",
        "converged",
        box=box.SIMPLE,
    )
    for start in starts:
        s = result[start]
        table.add_row(
            start,
            f"{s['precision']:.3f}",
            f"{s['recall']:.3f}",
            f"{s['precision_at_30pct_stable']:.3f}",
            f"{s['mae_eV_atom']:.3f} eV/atom",
            f"{s['converged']} of {s['tp'] + s['fp'] + s['fn'] + s['tn']}",
        )
    console.print(f"{name} on {result['sample']}; E_hull on the {reference.label}")
    console.print(table)
    main = result["perturbed"] if "perturbed" in result else result[starts[0]]
    n = main["tp"] + main["fp"] + main["fn"] + main["tn"]
    path = write_measured(
        {
            name: {k: main[k] for k in ("precision", "recall", "precision_at_30pct_stable")}
            | {"n": n, "hull": reference.tag, "start": starts[0]}
        },
        f"gendesign judges benchmark: {result['sample']}",
        user=True,
    )
    console.print(f"Stored in {path}: reports now print it beside {name}'s verdicts.")
