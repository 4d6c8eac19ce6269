"""Shared fixtures: the real data root, a session-wide cache, loaded datasets and slices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gendesign.data.datasets import PreparedDataset, load_dataset
from gendesign.paths import resolve_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    # No skip: without the data the suite must fail loudly with the reason.
    return resolve_data_root()


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test (and CLI subprocess) caches into one fresh folder, never ~/.cache."""
    folder = tmp_path_factory.mktemp("gendesign-cache")
    previous = os.environ.get("GENDESIGN_CACHE")
    os.environ["GENDESIGN_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("GENDESIGN_CACHE", None)
    else:
        os.environ["GENDESIGN_CACHE"] = previous


@pytest.fixture(scope="session")
def mp20(session_cache: Path) -> PreparedDataset:
    return load_dataset("mp20")


@pytest.fixture(scope="session")
def perov5(session_cache: Path) -> PreparedDataset:
    return load_dataset("perov5")


@pytest.fixture(scope="session")
def carbon24(session_cache: Path) -> PreparedDataset:
    return load_dataset("carbon24")


@pytest.fixture(scope="session")
def pilot_csv(data_root: Path) -> Path:
    """1,000 MP-20 val rows in CDVAE CSV format."""
    return data_root / "mp_20" / "pilot" / "val.csv.gz"


@pytest.fixture(scope="session")
def pilot_frame(pilot_csv: Path):
    import pandas as pd

    return pd.read_csv(pilot_csv)


def run_gendesign(*args: str) -> subprocess.CompletedProcess:
    """Run the ``gendesign`` command as a user does (a subprocess)."""
    return subprocess.run(
        [sys.executable, "-m", "gendesign", *args], capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="session")
def gendesign_cli():
    """The ``gendesign`` command as a function: ``gendesign_cli("data", "list")``."""
    return run_gendesign
