"""``gendesign predictor train|finetune`` and ``gendesign predict``: the property predictor."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from gendesign.cli.console import console
from gendesign.cli.options import DATA_ROOT_HELP
from gendesign.config import cli_overrides, load_config

predictor_app = typer.Typer(
    help="Train and fine-tune GNN property predictors.", no_args_is_help=True
)
PREVIEW_ROWS = 10


@predictor_app.command("train")
def train(
    config: Path = typer.Option(
        ..., help="Training config YAML, e.g. configs/predictor/mp20.yaml."
    ),
    set_: list[str] | None = typer.Option(
        None, "--set", help="Override a config field, e.g. --set seed=1 --set model.num_layers=3."
    ),
) -> None:
    """Train a predictor (early stopping on the holdout) and write its checkpoint."""
    from predictors.training import PredictorTrainingConfig, train_predictor

    options = load_config(PredictorTrainingConfig, config, cli_overrides(set_))
    report_checkpoint(train_predictor(options))


@predictor_app.command("finetune")
def finetune(
    from_: Path = typer.Option(..., "--from", help="Predictor checkpoint to start from."),
    data: str = typer.Option(..., help="Dataset to fine-tune on (see `gendesign data list`)."),
    target: list[str] = typer.Option(
        ..., help="Property to learn (repeat for several); each gets a new head."
    ),
    freeze: bool = typer.Option(
        False, help="Freeze the message-passing layers (train the embedding and heads only)."
    ),
    max_train_crystals: int | None = typer.Option(
        None, help="Train on a seeded subset of this many crystals."
    ),
    out: Path = typer.Option(Path("outputs/predictor/finetuned"), help="Output folder."),
    config: Path | None = typer.Option(None, help="Training config YAML for the other fields."),
    set_: list[str] | None = typer.Option(None, "--set", help="Override a config field."),
) -> None:
    """Fine-tune a trained predictor on a (small) dataset for new properties."""
    from predictors.training import PredictorTrainingConfig, train_predictor

    flags = {
        "finetune_from": from_,
        "data.dataset": data,
        "targets": list(target),
        "freeze_message_passing": freeze,
        "max_train_crystals": max_train_crystals,
        "out_dir": out,
    }
    overrides = cli_overrides(set_, flags)
    report_checkpoint(train_predictor(load_config(PredictorTrainingConfig, config, overrides)))


@predictor_app.command("recover")
def recover(
    run: Path = typer.Argument(..., help="The output folder of a training run that was killed."),
) -> None:
    """Write predictor.pt from the best weights a killed training run left behind."""
    from predictors.training import recover_predictor

    report_checkpoint(recover_predictor(run))


@predictor_app.command("evaluate")
def evaluate_command(
    data: str = typer.Argument(
        ..., help="Labelled crystals: a dataset split such as mp20:test, or a CDVAE CSV."
    ),
    checkpoint: list[Path] | None = typer.Option(
        None, help="Predictor checkpoint(s); repeat for an ensemble."
    ),
    pretrained: str | None = typer.Option(None, help="A bundled ensemble instead."),
    out: Path = typer.Option(
        Path("outputs/predictor/evaluation"),
        help="Folder for metrics.json, the table, a parity plot.",
    ),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
) -> None:
    """Score a predictor on labelled crystals (MAE, RMSE, R², calibration of its spread).

    Writes metrics.json, predictions.csv and parity.png to --out."""
    from gendesign.data.inputs import load_audit_input
    from predictors.evaluation import evaluate, plot_parity

    predictor = load_predictor(checkpoint, pretrained)
    with console.status("Reading crystals..."):
        crystals = load_audit_input(data, data_root)
    missing = [t for t in predictor.targets if t not in crystals.properties.columns]
    if missing:
        from gendesign.errors import InputError

        raise InputError(f"{data} has no labels for {', '.join(missing)}")
    with console.status(f"Predicting {len(crystals)} crystals..."):
        metrics, table = evaluate(predictor, crystals)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    table.to_csv(out / "predictions.csv", index=False)
    plot_parity(table, predictor, out / "parity.png")

    summary = Table("target", "n", "MAE", "RMSE", "R²", "|err| ≤ 1σ", "|err| ≤ 2σ", box=box.SIMPLE)
    for (target, m), unit in zip(metrics.items(), predictor.units, strict=True):
        summary.add_row(
            target, str(m["n"]), f"{m['mae']:.4f} {unit}", f"{m['rmse']:.4f}", f"{m['r2']:.3f}",
            f"{m['within_1_sigma']:.1%}" if "within_1_sigma" in m else "–",
            f"{m['within_2_sigma']:.1%}" if "within_2_sigma" in m else "–",
        )  # fmt: skip
    console.print(summary)
    console.print(f"Metrics, predictions and parity plot in {out}")


def load_predictor(
    checkpoint: list[Path] | None, pretrained: str | None, device: str | None = None
):
    """The predictor named on the command line (a bundled ensemble by default: mp20)."""
    from gendesign.errors import InputError
    from predictors.inference import BUNDLED, Predictor

    if checkpoint and pretrained:
        raise InputError("give --checkpoint or --pretrained, not both")
    for path in checkpoint or []:
        if not path.exists() and str(path) in BUNDLED.names():
            raise InputError(
                f"--checkpoint {path}: no such file, but '{path}' is a bundled predictor; "
                f"pass it with --pretrained {path}"
            )
    if checkpoint:
        return Predictor.from_checkpoint(checkpoint, device)
    return Predictor.pretrained(pretrained or "mp20", device)


def report_checkpoint(path: Path) -> None:
    from predictors.model import load_predictor_checkpoint

    checkpoint = load_predictor_checkpoint(path)
    holdout = checkpoint.metrics["holdout"]
    table = Table("target", "holdout MAE", box=box.SIMPLE, title=f"Predictor {path}")
    for target, unit in zip(checkpoint.model.targets, checkpoint.model.units, strict=True):
        table.add_row(target, f"{holdout.get(f'val_mae_{target}', float('nan')):.4f} {unit}")
    console.print(table)


def predict_command(
    source: str = typer.Argument(
        ...,
        help="Crystals: a CIF/POSCAR/extxyz file or folder, a CDVAE CSV, an ASE .db, "
        "a generation run folder, or a dataset split such as mp20:test.",
    ),
    checkpoint: list[Path] | None = typer.Option(
        None, help="Predictor checkpoint(s); repeat for an ensemble."
    ),
    pretrained: str | None = typer.Option(
        None, help="A bundled ensemble instead (mp20, perov5). Default: mp20."
    ),
    out: Path = typer.Option(Path("outputs/predictions.csv"), help="CSV of predictions."),
    batch_size: int = typer.Option(256, min=1, help="Crystals per forward pass."),
    device: str | None = typer.Option(None, help="cpu, cuda, ... (default: CUDA when present)."),
    data_root: str | None = typer.Option(None, help=DATA_ROOT_HELP),
) -> None:
    """Predict properties (ensemble mean and spread) for a set of crystals."""
    from gendesign.data.inputs import load_audit_input

    predictor = load_predictor(checkpoint, pretrained, device)
    with console.status("Reading crystals..."):
        crystals = load_audit_input(source, data_root)
    with console.status(f"Predicting {len(crystals)} crystals..."):
        table = predictor.predict(crystals, batch_size=batch_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)

    preview = Table("id", *predictor.targets, "error", box=box.SIMPLE)
    for _, row in table.head(PREVIEW_ROWS).iterrows():
        values = [
            f"{row[f'{t}_mean']:.3f} ± {row[f'{t}_std']:.3f} {unit}"
            for t, unit in zip(predictor.targets, predictor.units, strict=True)
        ]
        preview.add_row(str(row["id"]), *values, row["error"] or "")
    console.print(preview)
    failed = int((table["error"] != "").sum())
    console.print(
        f"{len(table)} crystals, {failed} without a prediction (see 'error'). Table: {out}"
    )
