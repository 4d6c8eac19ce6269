"""Shared fixtures: the real data root, a session-wide cache, loaded datasets and slices.

Tests that read the external data root carry the ``needs_data`` marker: set here for
every test that uses a data fixture, and by ``pytestmark`` in modules that load data
themselves. ``pytest -m "not needs_data"`` runs the rest, which need only the
repository (tests/fixtures holds their crystals)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gendesign.data.datasets import PreparedDataset, load_dataset
from gendesign.paths import resolve_data_root

# Fixtures that read the data root; a test whose fixtures include one needs the data.
DATA_FIXTURES = {"data_root", "mp20", "perov5", "carbon24", "pilot_csv", "pilot_frame"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_data)


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


# --------------------------------------------------------------------------- PostgreSQL
POSTGRES_ENV = "GENDESIGN_TEST_POSTGRES"  # a server's maintenance URL, e.g. postgresql://root@localhost/postgres


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of a PostgreSQL server the store tests may create databases on (.ci/run
    starts one and sets it). Without one these tests are reported as skipped, with how
    to run them; with GENDESIGN_REQUIRE_POSTGRES=1 (as in CI) they fail instead."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        message = (
            f"no PostgreSQL server: set {POSTGRES_ENV}=postgresql://USER@HOST/postgres "
            "(.ci/run installs and starts one)"
        )
        if os.environ.get("GENDESIGN_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_database(postgres_server: str):
    """A fresh, empty database on the test server (dropped afterwards); yields its URL."""
    import uuid

    import psycopg2

    name = f"gendesign_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_server)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    base = postgres_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A new campaign store on each backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "campaign.db")
    return request.getfixturevalue("postgres_database")
