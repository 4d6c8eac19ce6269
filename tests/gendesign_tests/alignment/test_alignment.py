"""Stability alignment end to end on the bundled mp20 model, at a tiny scale: a real
sampler, a real CHGNet reward on the full hull, real fine-tuning with replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gendesign.alignment.config import AlignmentConfig
from gendesign.alignment.loop import align, iteration_folder
from gendesign.alignment.tuning import stability_weight
from gendesign.config import load_config
from gendesign.errors import ConfigError
from gendesign.model.generator import Generator, load_generator_checkpoint

pytestmark = pytest.mark.needs_data  # the full hull, the training crystals of the replay

TINY = [
    "sample.n=6", "iterations=2", "reward.steps=3", "tuning.steps=4", "tuning.batch_size=8",
    "tuning.replay_crystals=30", "reward.e_hull_max=0.5", "model=mp20-base",
]  # fmt: skip


def tiny_config(folder: Path, *changes: str) -> AlignmentConfig:
    return load_config(
        AlignmentConfig,
        "configs/alignment/mp20.yaml",
        [*TINY, f"out_dir={folder}", *changes],
    )


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_generator_checkpoint(path).model.state_dict()


@pytest.fixture(scope="module")
def aligned(tmp_path_factory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("aligned")
    return folder, align(tiny_config(folder))


def test_an_alignment_run_keeps_every_iteration_and_says_where_its_model_came_from(aligned):
    folder, summaries = aligned
    assert [s.iteration for s in summaries] == [1, 2]
    for s in summaries:
        # a sample with atoms closer than 0.5 Å is refused by the relaxation: no reward
        assert s.samples == 6 and 4 <= s.scored <= 6 and 0 <= s.stable_share <= 100
        assert 0 <= s.unique_share <= 100 and s.space_groups >= 1
    first = iteration_folder(folder, 1)
    assert {"samples.json", "model.pt", "provenance.json", "sampling.yaml"} <= {
        p.name for p in first.iterdir()
    }
    assert (first / "reward" / "results.csv").is_file()  # one row per relaxation
    record = load_generator_checkpoint(folder / "model.pt").training_config["alignment"]
    assert [r["iteration"] for r in record] == [1, 2]
    assert record[0]["parent"] == "mp20-base"
    assert record[1]["parent"].endswith("iteration-1/model.pt")
    assert record[0]["reward"]["potential"] == "chgnet-0.3.0" and record[1]["seed"] == 1
    learned = [r for r in record if r["fine_tuning"]]
    assert learned, "no iteration found a sample to learn from"
    # the model moved, and it still samples
    base = Generator.load("mp20-base").model.state_dict()
    tuned = weights(folder / "model.pt")
    assert any(not torch.equal(base[k], tuned[k]) for k in base)
    assert len(Generator.load(folder / "model.pt").sample(3, seed=0)) == 3


def test_the_same_seed_gives_the_same_models(aligned, tmp_path):
    folder, _ = aligned
    again = tmp_path / "again"
    align(tiny_config(again, "iterations=1"))
    first, repeat = (
        weights(iteration_folder(folder, 1) / "model.pt"),
        weights(iteration_folder(again, 1) / "model.pt"),
    )
    assert all(torch.equal(first[k], repeat[k]) for k in first)


def test_a_killed_run_resumes_where_it_stopped(aligned, tmp_path):
    """SIGKILL in the middle of the first iteration's reward relaxations; --resume keeps
    the rows already written and ends with the uninterrupted run's models (the relaxations
    of the second process share batches differently, so to round-off)."""
    folder, _ = aligned
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "gendesign", "align", "configs/alignment/mp20.yaml",
               "--out", str(out), *[arg for change in TINY for arg in ("--set", change)]]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rows = out / "iteration-1" / "reward" / "results.csv"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if rows.is_file() and len(rows.read_text().splitlines()) >= 2:  # header + a row
            break
        time.sleep(0.1)
    assert process.poll() is None, process.stderr.read().decode()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    kept = len(rows.read_text().splitlines()) - 1
    assert kept >= 1 and not (out / "iteration-1" / "model.pt").exists()

    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode == 2 and "add --resume to continue it" in refused.stderr
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    # the kept rows, then the rest (refusals too)
    assert len(rows.read_text().splitlines()) - 1 == 6
    expected, got = weights(folder / "model.pt"), weights(out / "model.pt")
    assert all(torch.allclose(expected[k].float(), got[k].float(), atol=1e-3) for k in expected)


def test_a_resumed_run_refuses_changed_settings_in_one_sentence(aligned):
    folder, _ = aligned
    with pytest.raises(ConfigError, match="other settings for reward; only iterations"):
        align(tiny_config(folder, "reward.steps=5"), resume=True)
    with pytest.raises(ConfigError, match="unknown field 'reward.step' \\(did you mean 'steps'"):
        tiny_config(folder, "reward.step=5")
    with pytest.raises(Exception, match="no bundled generative model named 'nope'"):
        align(tiny_config(folder.parent / "other", "model=nope"))


def test_stability_weight_counts_stable_crystals_most_and_unknown_ones_not_at_all():
    assert stability_weight(-0.02, 0.1, 0.05) == 1.0
    assert stability_weight(0.05, 0.1, 0.05) == pytest.approx(0.3679, abs=1e-4)
    assert stability_weight(0.2, 0.1, 0.05) == 0.0
    assert stability_weight(float("nan"), 0.1, 0.05) == 0.0
