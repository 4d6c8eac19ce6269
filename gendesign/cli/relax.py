"""``gendesign relax``: relax structures with a universal interatomic potential."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from gendesign.cli.console import console, stage_progress
from gendesign.config import cli_overrides, load_config, write_resolved_config


def relax_command(
    source: str = typer.Argument(
        ...,
        help="Crystals: a CIF/POSCAR/extxyz file or folder, a CDVAE CSV, an ASE .db, "
        "a generation run folder, or a dataset split such as mp20:test.",
    ),
    potential: str = typer.Option(
        "auto",
        help="auto (MACE if its weights are on disk, else CHGNet), mace-mp-0-small, "
        "mace-mp-0-medium, mace-mpa-0, mace (the file given by --potential-path), chgnet-0.3.0 "
        "tensornet-matpes-pbe (matgl's TensorNet on MatPES, the second judge of campaigns), "
        "a registered plug-in, or module:factory (a function returning an ASE calculator).",
    ),
    potential_path: Path | None = typer.Option(
        None, help="A MACE .model file (for tensornet-matpes-pbe: its matgl folder)."
    ),
    out: Path | None = typer.Option(
        None, help="Folder for results.csv and relaxed/*.cif; rerunning it resumes."
    ),
    config: Path | None = typer.Option(None, help="YAML file of relaxation settings."),
    hull: str = typer.Option(
        "full",
        help="Reference hull of the E_hull column: full (MP-20, MPTS-52 and Materials Project "
        "formation energies aligned to MP-20) or mp20 (MP-20 alone, as earlier figures).",
    ),
    fmax: float | None = typer.Option(None, help="Force criterion, eV/Å (default 0.05)."),
    max_steps: int | None = typer.Option(None, help="FIRE steps per structure (default 500)."),
    device: str | None = typer.Option(None, help="cpu, cuda, ... (default: CUDA when present)."),
    batch_atoms: int | None = typer.Option(
        None, help="Most atoms relaxed together (default 256 on CPU, 4096 on CUDA)."
    ),
    sequential: bool = typer.Option(
        False,
        "--sequential",
        help="One structure at a time with ASE's FIRE, not torch-sim batches.",
    ),
    trajectories: bool = typer.Option(
        False, help="Write every step to trajectories/<id>.extxyz (relaxes one at a time)."
    ),
) -> None:
    """Relax structures (FIRE with cell relaxation); failures are rows with a reason."""
    from relax.potentials import load_potential
    from relax.reference_hull import check_hull_name
    from relax.relaxation import RelaxSettings
    from relax.runner import RESULTS_FILE, relax_structures

    flags = {"fmax": fmax, "max_steps": max_steps, "batch_atoms": batch_atoms}
    if sequential:
        flags["batched"] = False
    settings = load_config(RelaxSettings, config, cli_overrides(fields=flags))
    check_hull_name(hull)
    out = out or Path("outputs") / f"relax-{time.strftime('%Y%m%d-%H%M%S')}"
    with console.status("Loading the potential..."):
        loaded = load_potential(potential, potential_path, device)
    console.print(
        f"Potential: {loaded.info.name} ({loaded.info.package_version}) on {loaded.device}"
    )
    write_resolved_config(settings, out, "relax_config.yaml")
    from gendesign.data.inputs import load_audit_input

    crystals = load_audit_input(source)
    with stage_progress() as progress:
        advance = progress("relaxing", len(crystals) + len(crystals.skipped))
        table = relax_structures(crystals, loaded, settings, out, trajectories, advance, hull=hull)

    counts = table["status"].value_counts()
    summary = Table("status", "structures", box=box.SIMPLE, title=f"Relaxation of {source}")
    for status in ("converged", "not_converged", "failed"):
        summary.add_row(status, str(int(counts.get(status, 0))))
    console.print(summary)
    if "hull" in table and table["hull"].astype(str).str.len().any():
        console.print(f"E_hull against the {_hull_label(hull)}")
    console.print(f"Results: {out / RESULTS_FILE}  ·  relaxed structures: {out / 'relaxed'}")


def _hull_label(name: str) -> str:
    from relax.reference_hull import reference_hull

    return reference_hull(name).label
