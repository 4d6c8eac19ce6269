"""Property predictor: test accuracy, ensemble calibration, architectures, fine-tuning, speed.

python -m benchmarks.predictor [--accuracy mp20 perov5] [--compare NAME=CKPT ...]
                               [--finetune] [--speed]

accuracy:  each bundled ensemble (Predictor.pretrained) on its dataset's test split:
           MAE, RMSE, R², calibration of the ensemble spread, a parity plot.
compare:   single checkpoints (e.g. cgcnn vs edge_gated, same data and seed) on mp20 test.
finetune:  small-data transfer: a target trained from scratch vs fine-tuned from the
           bundled mp20 member 0 (perov5 heat_ref on 500 rows; supercon Tc, 846 rows).
speed:     CPU inference throughput (batch 256, mp20 test) and training seconds per epoch.
Each part merges into benchmarks/results/predictor.json; BENCHMARKS.md is rebuilt from it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.reporting import (
    RESULTS,
    markdown_table,
    previous_results,
    publish,
    update_section,
)
from gendesign.data.datasets import load_dataset
from predictors.bundle import best_epoch
from predictors.evaluation import evaluate, plot_parity
from predictors.inference import PRETRAINED_DIR, Predictor
from predictors.model import load_predictor_checkpoint
from predictors.training import PredictorTrainingConfig, train_predictor

# Xie & Grossman 2018, trained on the full Materials Project (~28k+ structures).
CGCNN_PUBLISHED = {"formation_energy_per_atom": 0.039, "band_gap": 0.388}
FINETUNE_CASES = (
    {"dataset": "perov5", "target": "heat_ref", "max_train_crystals": 500},
    {"dataset": "supercon", "target": "tc", "max_train_crystals": None},
)


def accuracy(name: str) -> dict:
    predictor = Predictor.pretrained(name)
    dataset = predictor.members[0].dataset
    crystals = load_dataset(dataset).crystal_set("test")
    metrics, table = evaluate(predictor, crystals)
    members = [evaluate(Predictor([m]), crystals)[0] for m in predictor.members]
    for target in predictor.targets:
        maes = [m[target]["mae"] for m in members]
        metrics[target]["member_mae_mean"] = sum(maes) / len(maes)
        metrics[target]["member_mae_range"] = [min(maes), max(maes)]
    plot_parity(table, predictor, RESULTS / f"predictor_parity_{name}.png", f"{name} test:")
    epochs = [m.metrics.get("epochs") for m in predictor.members]
    return {
        "dataset": dataset,
        "protocol": predictor.members[0].protocol,
        "members": len(predictor.members),
        "train_crystals": predictor.members[0].metrics.get("train_crystals"),
        "epochs": epochs,
        "units": dict(zip(predictor.targets, predictor.units, strict=True)),
        "test": metrics,
    }


def compare(named_checkpoints: list[str]) -> dict:
    crystals = load_dataset("mp20").crystal_set("test")
    results = {}
    for item in named_checkpoints:
        label, path = item.split("=", 1)
        checkpoint = load_predictor_checkpoint(path)
        metrics, _ = evaluate(Predictor([checkpoint]), crystals)
        config = checkpoint.model.network.config
        results[label] = {
            "architecture": config.architecture,
            "layers": config.num_layers,
            "hidden": config.hidden_channels,
            "parameters": sum(p.numel() for p in checkpoint.model.network.parameters()),
            "epochs": checkpoint.metrics.get("epochs") or "stopped",
            "best_epoch": best_epoch(Path(path).parent),
            "test_mae": {t: m["mae"] for t, m in metrics.items()},
        }
    return results


def finetune() -> list[dict]:
    source = sorted((PRETRAINED_DIR / "mp20").glob("member*.pt"))[0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case in FINETUNE_CASES:
            crystals = load_dataset(case["dataset"]).crystal_set("test")
            for mode, extra in (
                ("scratch", {}),
                ("finetuned", {"finetune_from": str(source)}),
                (
                    "finetuned, frozen",
                    {"finetune_from": str(source), "freeze_message_passing": True},
                ),
            ):
                config = PredictorTrainingConfig.model_validate(
                    {
                        "data": {"dataset": case["dataset"]},
                        "targets": [case["target"]],
                        "model": load_predictor_checkpoint(
                            source
                        ).model.network.config.model_dump(),
                        "max_train_crystals": case["max_train_crystals"],
                        "batch_size": 32,
                        "out_dir": str(Path(folder) / f"{case['dataset']}-{mode}"),
                        **extra,
                    }
                )
                checkpoint = load_predictor_checkpoint(train_predictor(config))
                metrics, _ = evaluate(Predictor([checkpoint]), crystals)
                rows.append(
                    {
                        **case,
                        "mode": mode,
                        "train_crystals": checkpoint.metrics["train_crystals"],
                        "epochs": checkpoint.metrics["epochs"],
                        "test_mae": metrics[case["target"]]["mae"],
                        "test_r2": metrics[case["target"]]["r2"],
                    }
                )
    return rows


def speed() -> dict:
    predictor = Predictor.pretrained("mp20")
    crystals = load_dataset("mp20").crystal_set("test")
    timings = {}
    for label, model in (
        ("single model", Predictor(predictor.members[:1])),
        ("5-model ensemble", predictor),
    ):
        model.predict(crystals.subset(range(256)))  # warm-up
        start = time.perf_counter()
        model.predict(crystals, batch_size=256)
        seconds = time.perf_counter() - start
        timings[label] = {
            "structures": len(crystals),
            "seconds": seconds,
            "per_second": len(crystals) / seconds,
        }
    with tempfile.TemporaryDirectory() as folder:
        config = PredictorTrainingConfig.model_validate(
            {**predictor.members[0].training_config, "max_epochs": 2, "out_dir": folder}
        )
        trained = load_predictor_checkpoint(train_predictor(config))
    return {
        "inference": timings,
        "train_seconds_per_epoch": trained.metrics["train_seconds"] / 2,
        "train_crystals": trained.metrics["train_crystals"],
        "torch_threads": torch.get_num_threads(),
    }


def write_tables(results: dict) -> None:
    parts = []
    for name, entry in results.get("accuracy", {}).items():
        rows = []
        for target, m in entry["test"].items():
            unit = entry["units"][target]
            published = CGCNN_PUBLISHED.get(target) if entry["dataset"] == "mp20" else None
            rows.append(
                [
                    target,
                    f"{m['mae']:.4f} {unit}",
                    f"{m['member_mae_mean']:.4f}",
                    f"{m['rmse']:.4f}",
                    f"{m['r2']:.3f}",
                    f"{m['within_1_sigma']:.1%}",
                    f"{m['within_2_sigma']:.1%}",
                    f"{m['spearman_abs_error_vs_sigma']:.2f}",
                    f"{published} {unit}" if published else "–",
                ]
            )
        parts.append(
            f"**{name}** ({entry['protocol']}; {entry['members']}-model ensemble, trained on "
            f"{entry['train_crystals']} crystals; test split n = {next(iter(entry['test'].values()))['n']}; "
            f"parity plot `benchmarks/results/predictor_parity_{name}.png`)\n\n"
            + markdown_table(
                [
                    "target",
                    "ensemble MAE",
                    "mean member MAE",
                    "RMSE",
                    "R²",
                    "err within 1σ",
                    "err within 2σ",
                    "Spearman(abs err, σ)",
                    "CGCNN published (full MP)",
                ],
                rows,
            )
        )
    if results.get("compare"):
        rows = [
            [
                label,
                e["architecture"],
                e["layers"],
                e["hidden"],
                f"{e['parameters']:,}",
                e["epochs"],
                e["best_epoch"],
                *(f"{v:.4f}" for v in e["test_mae"].values()),
            ]
            for label, e in results["compare"].items()
        ]
        targets = list(next(iter(results["compare"].values()))["test_mae"])
        parts.append(
            "**Architectures** (single model, seed 0, same data, loss and schedule; mp20-reduced, "
            "test MAE; 'stopped' means halted at the epoch cap, see the bundle's training summary)\n\n"
            + markdown_table(
                [
                    "run",
                    "architecture",
                    "layers",
                    "hidden",
                    "parameters",
                    "epochs run",
                    "best epoch",
                    *targets,
                ],
                rows,
            )
        )
    if results.get("finetune"):
        rows = [
            [
                r["dataset"],
                r["target"],
                r["train_crystals"],
                r["mode"],
                r["epochs"],
                f"{r['test_mae']:.4f}",
                f"{r['test_r2']:.3f}",
            ]
            for r in results["finetune"]
        ]
        parts.append(
            "**Fine-tuning vs training from scratch** (from bundled mp20 member 0; test split)\n\n"
            + markdown_table(
                ["dataset", "target", "train crystals", "start", "epochs", "test MAE", "R²"], rows
            )
        )
    if results.get("speed"):
        s = results["speed"]
        rows = [
            [label, t["structures"], f"{t['seconds']:.1f}", f"{t['per_second']:.0f}"]
            for label, t in s["inference"].items()
        ]
        parts.append(
            f"**CPU speed** (mp20 test, batch 256, {s['torch_threads']} threads; neighbour search included)\n\n"
            + markdown_table(["predictor", "structures", "seconds", "structures/s"], rows)
            + f"\n\nTraining: {s['train_seconds_per_epoch']:.1f} s per epoch over {s['train_crystals']} crystals "
            "(mean of 2 epochs with holdout validation; neighbour graphs are searched once before the first)."
        )
    update_section("predictor", "Property predictor", "\n\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", nargs="*", default=[])
    parser.add_argument("--compare", nargs="*", default=[])
    parser.add_argument("--finetune", action="store_true")
    parser.add_argument("--speed", action="store_true")
    args = parser.parse_args()
    results = previous_results("predictor")
    for name in args.accuracy:
        results.setdefault("accuracy", {})[name] = accuracy(name)
    if args.compare:
        results["compare"] = compare(args.compare)
    if args.finetune:
        results["finetune"] = finetune()
    if args.speed:
        results["speed"] = speed()
    publish("predictor", results, write_tables)


if __name__ == "__main__":
    main()
