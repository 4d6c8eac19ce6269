"""``gendesign train`` and ``gendesign sample``: the generative model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gendesign.cli.console import console, stage_progress
from gendesign.cli.options import DATA_ROOT_HELP
from gendesign.config import cli_overrides, load_config, write_resolved_config

if TYPE_CHECKING:
    import pandas as pd


def train_command(
    config: Path | None = typer.Option(
        None, help="Model config YAML, e.g. configs/model/mp20.yaml."
    ),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
    out: Path | None = typer.Option(None, help="Run folder (default: the config's out_dir)."),
    resume: bool = typer.Option(
        False, help="Continue the run in the run folder from its last epoch."
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override a config field, e.g. --set max_epochs=10."
    ),
    recover: Path | None = typer.Option(
        None,
        help="A run folder killed before it wrote model.pt: write it from the best checkpoint.",
    ),
    last: bool = typer.Option(False, help="With --recover: take the last epoch, not the best."),
) -> None:
    """Train a generative model (or one stage of a crystalflow model, `kind: crystalflow`
    in its config); writes model.pt or stage.pt, logs and resumable checkpoints."""
    from gendesign.errors import ConfigError
    from gendesign.model.cdvae.config import TrainingConfig
    from gendesign.model.cdvae.training import recover_model, train_model
    from gendesign.model.crystalflow.config import FlowTrainingConfig
    from gendesign.model.crystalflow.training import (
        STAGE_FILE,
        recover_flow_stage,
        train_flow_stage,
    )

    if recover:
        is_flow = (recover / STAGE_FILE).exists() or _is_flow_config(recover / "config.yaml")
        recovered = (recover_flow_stage if is_flow else recover_model)(recover, use_last=last)
        console.print(f"Model: {recovered}")
        return
    if config is None:
        raise ConfigError("--config: a model config is needed to train (or --recover RUN)")

    overrides = cli_overrides(set_, {"data.data_root": data_root, "out_dir": out})
    if _is_flow_config(config):
        path = train_flow_stage(load_config(FlowTrainingConfig, config, overrides), resume)
    else:
        path = train_model(load_config(TrainingConfig, config, overrides), resume=resume)
    console.print(f"Model: {path}")


def judgements(table: pd.DataFrame) -> list[str]:
    """The ``meets_*`` columns that decide whether a sample meets the constraints: the GNN
    ensemble's for a property it estimates, else the latent head's."""
    met = [c for c in table.columns if c.startswith("meets_") and not c.endswith("_gnn")]
    return [f"{c}_gnn" if f"{c}_gnn" in table else c for c in met]


def _is_flow_config(path: Path) -> bool:
    """Whether a training config (or run folder's config.yaml) is for a crystalflow stage."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) if Path(path).is_file() else None
    except yaml.YAMLError:
        return False  # load_config reports the YAML error in one sentence
    return isinstance(data, dict) and data.get("kind") == "crystalflow"


def sample_command(
    n: int = typer.Option(100, "--n", help="Number of crystals."),
    out: Path | None = typer.Option(None, help="Output folder (default outputs/sample-<time>)."),
    model: str = typer.Option("mp20", help="A bundled model name or a model.pt path."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same crystals."),
    target: list[str] | None = typer.Option(
        None, help="Property range, e.g. band_gap=1.5:2.5 or formation_energy_per_atom=:-1.0."
    ),
    elements: str | None = typer.Option(
        None, help="A chemical system: every crystal holds each of these elements, e.g. Li,Fe,P,O."
    ),
    within: bool = typer.Option(
        False, "--within", help="With --elements: any subset of two or more of them will do."
    ),
    exclude: str | None = typer.Option(None, help="None of these elements, e.g. Pb,Cd."),
    atoms: str | None = typer.Option(None, help="Atoms per cell, e.g. 4:12."),
    oxidation_states: str = typer.Option(
        "common",
        help="What charge balanced means: common (pymatgen's common and ICSD oxidation "
        "states), icsd (SMACT's ICSD-24 list) or permissive (SMACT's 2014 list).",
    ),
    compositions: str = typer.Option(
        "auto",
        help="crystalflow models: compositions from the model's chemistry network (model), "
        "drawn toward the reference hull by a composition-only E_hull estimate (hull; with "
        "--elements, every balanced formula of the system is a candidate), or auto: hull "
        "with --elements, else model.",
    ),
    hull: str = typer.Option(
        "full", help="With --compositions hull: the reference hull, full or mp20."
    ),
    frameworks: bool = typer.Option(
        True,
        "--frameworks/--flow-only",
        help="With --compositions hull: decode every other sample of a formula through a "
        "known framework of its stoichiometry (spinel for MgAl2O4, olivine for LiFePO4), "
        "the most common first, or decode every sample by the flow.",
    ),
    start_from: str | None = typer.Option(
        None, help="Crystals (file, folder or split like mp20:test) to start steering from."
    ),
    steps: int | None = typer.Option(
        None, help="crystalflow models: coordinate flow steps (default 50)."
    ),
    guidance: float | None = typer.Option(
        None, help="crystalflow models: guidance weight toward --target (default 2)."
    ),
    symmetrise: bool | None = typer.Option(
        None,
        "--symmetrise/--raw",
        help="crystalflow models: snap each crystal to its space group at 0.2 Å (default) or keep it raw.",
    ),
    templates: bool | None = typer.Option(
        None,
        "--templates/--free",
        help="crystalflow models: decode each crystal inside the space group of a training "
        "crystal its composition fits (default), or place every atom freely.",
    ),
    steps_per_level: int | None = typer.Option(
        None, help="cdvae models: Langevin steps per noise level."
    ),
    levels: int | None = typer.Option(
        None, help="cdvae models: noise levels (default: the model's)."
    ),
    device: str | None = typer.Option(None, help="cpu, cuda, ... (default: CUDA when present)."),
    drop_misses: bool = typer.Option(
        False, help="Write only the samples that meet every --target (and other constraint)."
    ),
) -> None:
    """Generate crystals: CIFs, one extxyz, a table and the resolved settings."""
    import numpy as np
    import pandas as pd

    from gendesign.model.common.constraints import Constraints
    from gendesign.model.common.output import write_samples
    from gendesign.model.generator import Generator
    from predictors.inference import BUNDLED as BUNDLED_PREDICTORS
    from predictors.inference import Predictor

    generator = Generator.load(model, device)
    constraints = Constraints.parse(target, elements, exclude, atoms, oxidation_states, within)
    if generator.is_flow:
        overrides = {"coordinate_steps": steps, "guidance": guidance, "symmetrise": symmetrise,
                     "space_group_templates": templates}  # fmt: skip
        wrong = {"--steps-per-level": steps_per_level, "--levels": levels}
    else:
        overrides = {"steps_per_level": steps_per_level, "levels": levels}
        wrong = {"--steps": steps, "--guidance": guidance, "--symmetrise/--raw": symmetrise,
                 "--templates/--free": templates}  # fmt: skip
    given = [flag for flag, value in wrong.items() if value is not None]
    if given:
        from gendesign.errors import ConfigError

        kind = "crystalflow" if generator.is_flow else "cdvae"
        raise ConfigError(f"{', '.join(given)}: not an option of {kind} models such as '{model}'")
    sampling = generator.sampling_with(cli_overrides(fields=overrides))
    out = out or Path("outputs") / f"sample-{time.strftime('%Y%m%d-%H%M%S')}"
    console.print(
        f"Model: {model} ({generator.checkpoint.dataset}, {generator.device}); "
        f"schedule {generator.schedule_text(sampling)}"
    )
    if compositions == "auto":
        compositions = "hull" if constraints.elements and generator.is_flow else "model"
    planned = _planned_compositions(compositions, generator, n, seed, constraints, hull)
    decoder = (
        _framework_decoder(generator, planned, constraints) if planned and frameworks else None
    )
    with stage_progress() as progress:
        advance = progress("sampling", n)
        if planned:
            from gendesign.sources.formula_decodes import sample_planned

            structures, table = sample_planned(
                generator, [p.composition for p in planned], seed, constraints, sampling,
                decoder, progress=advance,
            )  # fmt: skip
        else:
            structures, table = generator.sample_table(
                n, seed, constraints, sampling, progress=advance
            )
    if planned:
        table["e_hull_composition_estimate"] = [p.e_hull_estimate for p in planned]
        table["e_hull_composition_hull"] = _hull_tag(hull)
    # The bundled predictor of the model's dataset judges the property targets, when there is one.
    dataset = generator.checkpoint.dataset
    if dataset in BUNDLED_PREDICTORS.names() and structures:
        predictor = Predictor.pretrained(dataset, device="cpu")
        estimates = predictor.estimate_columns(structures, constraints.targets)
        table = pd.concat([table, estimates], axis=1)
    judged = judgements(table)
    if drop_misses:
        met = table[judged].all(axis=1).to_numpy() if judged else np.ones(len(table), bool)
        structures = [s for s, keep in zip(structures, met, strict=True) if keep]
        table = table[met].reset_index(drop=True)
    write_samples(out, structures, table)
    write_resolved_config(sampling, out, "sample_config.yaml")
    if drop_misses:
        console.print(f"{len(table)} of {n} samples meet every constraint; only they were written")
    if "charge_balanced" in table:
        unbalanced = int((~table["charge_balanced"].astype(bool)).sum())
        imposed = table["template_space_group"].fillna(0).astype(int)
        console.print(
            f"charge balanced ({constraints.oxidation_states} oxidation states): "
            f"{len(table) - unbalanced}/{len(table)} "
            f"({unbalanced} kept unbalanced after every redraw); "
            f"distinct formulas: {table['formula'].nunique()}"
        )
        by_flow = table["decoder"] == "flow" if "decoder" in table else imposed == imposed
        if not by_flow.all():
            console.print(
                f"decoded through a known framework of the formula's stoichiometry: "
                f"{int((~by_flow).sum())}/{len(table)}; by the flow: {int(by_flow.sum())}"
            )
        console.print(
            f"flow decodes with a space group imposed: {int((imposed[by_flow] > 1).sum())}"
            f"/{int(by_flow.sum())}; snapped by spglib at {sampling.symprec:g} Å: "
            f"{int(table['symmetrised'][by_flow].astype('boolean').fillna(False).sum())}/{int(by_flow.sum())}"
        )
    for column in judged:
        name, by_gnn = column.removeprefix("meets_").removesuffix("_gnn"), column.endswith("_gnn")
        judge = (
            "by the GNN ensemble"
            if by_gnn
            else "by the latent head"
            if name in constraints.targets
            else ""
        )
        console.print(
            f"{name}: {int(table[column].sum())}/{len(table)} samples meet it {judge}".rstrip()
        )
    console.print(
        f"Samples: {out / 'samples.csv'}  ·  CIFs: {out / 'cifs'}  ·  {out / 'structures.extxyz'}"
    )


def _framework_decoder(generator, planned, constraints):
    """The known frameworks of the planned formulas' stoichiometries (the model's training
    crystals and MPTS-52's)."""
    from gendesign.campaign import resources

    return resources.formula_decoder(
        generator.checkpoint.dataset, None, constraints,
        frozenset(p.composition.reduced_formula for p in planned),
    )  # fmt: skip


def _hull_tag(name: str) -> str:
    from relax.reference_hull import reference_hull

    return reference_hull(name).tag


def _planned_compositions(choice: str, generator, n: int, seed: int, constraints, hull: str):
    """The hull-planned compositions for ``--compositions hull``; None for ``model``."""
    from gendesign.errors import ConfigError

    if choice == "model":
        return None
    if choice != "hull":
        raise ConfigError(f"--compositions: '{choice}' is not auto, model or hull")
    from gendesign.sources.hull_compositions import HullCompositionPlanner, plan_compositions
    from predictors.composition import bundled_judge
    from relax.reference_hull import reference_hull

    planner = HullCompositionPlanner(bundled_judge(), reference_hull(hull))
    return plan_compositions(
        planner,
        n,
        seed,
        constraints,
        generator.model.max_atoms,
        lambda count, at: generator.propose_compositions(count, at, constraints),
    )
