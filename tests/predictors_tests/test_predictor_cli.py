"""``gendesign predictor train|finetune`` and ``gendesign predict``, run as a user runs them."""

from __future__ import annotations

import json

import pandas as pd
import yaml

TINY_MODEL = {"hidden_channels": 16, "num_layers": 2, "head_hidden": 16}


def test_train_finetune_and_predict_from_the_command_line(perov5, gendesign_cli, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"dataset": "perov5"},
                "model": TINY_MODEL,
                "batch_size": 32,
                "max_steps": 16,
                "max_train_crystals": 256,
                "out_dir": str(tmp_path / "run"),
            }
        )
    )
    trained = gendesign_cli("predictor", "train", "--config", str(config), "--set", "seed=3")
    assert trained.returncode == 0, trained.stderr
    checkpoint = tmp_path / "run" / "predictor.pt"
    assert checkpoint.is_file() and "heat_ref" in trained.stdout
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["seed"] == 3

    tuned = gendesign_cli(
        "predictor", "finetune", "--from", str(checkpoint), "--data", "perov5",
        "--target", "ind_gap", "--freeze", "--max-train-crystals", "128",
        "--out", str(tmp_path / "tuned"), "--set", "max_steps=8",
    )  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr
    assert "ind_gap" in tuned.stdout and (tmp_path / "tuned" / "predictor.pt").is_file()

    folder = tmp_path / "cifs"
    folder.mkdir()
    crystals = perov5.crystal_set("test").subset(range(5))
    for structure, item_id in zip(crystals.structures, crystals.ids, strict=True):
        structure.to(filename=str(folder / f"{item_id}.cif"))
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 4.0\n")
    out = tmp_path / "predictions.csv"
    predicted = gendesign_cli(
        "predict", str(folder), "--checkpoint", str(checkpoint), "--out", str(out)
    )
    assert predicted.returncode == 0, predicted.stderr
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == 6 and "1 without a prediction" in predicted.stdout
    broken = table[table["id"].str.contains("broken")]
    assert len(broken) == 1 and broken["heat_ref_mean"].iloc[0] == ""
    assert broken["error"].iloc[0] != ""
    assert (pd.to_numeric(table["heat_ref_mean"], errors="coerce").notna().sum()) == 5

    scored = gendesign_cli(
        "predictor", "evaluate", "perov5:test", "--checkpoint", str(checkpoint),
        "--out", str(tmp_path / "evaluation"),
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    metrics = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert metrics["heat_ref"]["n"] == 3785 and metrics["heat_ref"]["mae"] > 0
    assert (tmp_path / "evaluation" / "parity.png").stat().st_size > 0
    wrong = gendesign_cli("predictor", "evaluate", "carbon24:test", "--checkpoint", str(checkpoint))
    assert wrong.returncode == 2 and "no labels for heat_ref" in wrong.stderr


def test_predict_names_what_is_wrong(gendesign_cli, tmp_path):
    missing = gendesign_cli("predict", "mp20:test", "--checkpoint", str(tmp_path / "none.pt"))
    assert missing.returncode == 2 and "predictor checkpoint not found" in missing.stderr
    bundled = gendesign_cli("predict", "mp20:test", "--checkpoint", "mp20")
    said = " ".join(bundled.stderr.split())  # the console wraps long lines
    assert bundled.returncode == 2 and "pass it with --pretrained mp20" in said, said
    unknown = gendesign_cli("predict", "mp20:test", "--pretrained", "nosuchset")
    assert unknown.returncode == 2 and "no bundled predictor named 'nosuchset'" in unknown.stderr
