"""Strict configs and the one builder that turns command-line flags into overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from gendesign.campaign.config import CampaignConfig
from gendesign.config import cli_overrides, load_config
from gendesign.errors import ConfigError


def test_flags_keep_zero_and_false_and_win_over_set():
    overrides = cli_overrides(
        ["seed=3", "screen.top_k=5", "generate.sources={model: 1.0}"],
        {"screen.top_k": 0, "prescreen.enabled": False, "out_dir": Path("runs/x"), "x": None},
    )
    assert overrides == {
        "seed": 3,
        "screen.top_k": 0,  # the named flag wins, and 0 is a value
        "generate.sources": {"model": 1.0},  # --set values read as YAML
        "prescreen.enabled": False,
        "out_dir": "runs/x",  # paths become strings; None means "not given"
    }
    assert cli_overrides() == {}


def test_overrides_reach_the_config_and_bad_ones_are_one_sentence():
    config = load_config(
        CampaignConfig, None, cli_overrides(["name=trial"], {"screen.kappa": 0, "seed": 0})
    )
    assert config.name == "trial" and config.screen.kappa == 0
    with pytest.raises(
        ConfigError, match=r"unknown field 'screen\.topk' \(did you mean 'top_k'\?\)"
    ):
        load_config(CampaignConfig, None, cli_overrides(["name=x", "screen.topk=3"]))
    with pytest.raises(ConfigError, match="must look like field=value"):
        cli_overrides(["top_k"])
