"""No code runs from a model or data file: a crafted file is refused with one sentence."""

from __future__ import annotations

import pytest
from conftest import run_gendesign as gendesign
from helpers.crafted import write_crafted_torch_file

from gendesign.data.cache import DatasetCache
from gendesign.errors import InputError
from gendesign.model.generator import Generator
from predictors.composition import CompositionJudge
from predictors.inference import Predictor


@pytest.fixture
def crafted(tmp_path):
    """A model.pt that creates ``ran`` when unpickled, and the path of that marker."""
    marker = tmp_path / "ran"
    return write_crafted_torch_file(tmp_path / "model.pt", marker, format="gendesign"), marker


def test_a_crafted_model_given_to_sample_runs_no_code_and_is_one_sentence(crafted, tmp_path):
    model, marker = crafted
    result = gendesign("sample", "--model", str(model), "--n", "2", "--out", str(tmp_path / "o"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "no code in it ran" in result.stderr, result.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    "load",
    [Generator.load, Predictor.load, CompositionJudge.load],
    ids=["generator", "predictor", "composition judge"],
)
def test_every_checkpoint_loader_refuses_a_crafted_file(crafted, load):
    model, marker = crafted
    with pytest.raises(InputError, match="no code in it ran"):
        load(model)
    assert not marker.exists()


def test_a_crafted_dataset_cache_is_rebuilt_not_run(tmp_path):
    cache = DatasetCache(tmp_path)
    marker = tmp_path / "ran"
    write_crafted_torch_file(cache.path("mp20", "train"), marker)
    assert cache.load("mp20", "train") is None  # treated as absent: rebuilt from the source
    assert not marker.exists()
