"""Data and weights on first use, end to end against a mirror served over HTTP
(``python -m http.server``): a fresh cache, the download, the checksum, reuse, a
corrupted file refused, the offline sentence, and the mirror order."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from helpers.http_mirror import copy_layout, free_port, http_server

from gendesign.data.fetching import (
    data_path,
    entry_status,
    git_blob_sha1,
    local_copy,
    model_path,
    sha256,
)
from gendesign.data.registry import entry, files_under, registry
from gendesign.errors import DataRootError
from gendesign.paths import resolve_mirror

pytestmark = pytest.mark.needs_data

MPTS52_VAL = "mpts_52/val.csv.gz"
TENSORNET = "matgl/TensorNet-MatPES-PBE-v2025.1-PES"
SERVED = {
    "data": [f.path for name in ("mpts52", "mp-e-form") for f in entry(name).files],
    "models": [f.path for f in entry("tensornet-matpes-pbe").files],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """A mirror of a few registered files, served over HTTP: (folder, base URL)."""
    folder = copy_layout(tmp_path_factory.mktemp("mirror"), SERVED)
    with http_server(folder) as url:
        yield folder, url


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENDESIGN_CACHE", str(cache))
    return cache


def test_every_registered_file_has_a_pinned_url_a_checksum_and_a_licence():
    names = set()
    for item in registry().values():
        assert item.licence and item.description and item.root in ("data", "models")
        for file in item.files:
            assert file.url.startswith("https://raw.githubusercontent.com/")
            commit = file.url.split("/")[5]
            assert len(commit) == 40, f"{file.url}: not pinned to a commit"
            assert file.sha256 or file.git_blob_sha1
            names.add((item.root, file.path))
    # every default reads only registered files: the hull's, the judge's, MP-20's
    for root, path in [
        ("data", MPTS52_VAL),
        ("data", "mp_e_form/mp_e_form.csv"),
        ("data", "mp_20/mattergen_cache/train/num_atoms.npy"),
        ("models", f"{TENSORNET}/state.pt"),
    ]:
        assert (root, path) in names


def test_the_registry_matches_the_local_mirror_byte_for_byte():
    """Every registered file the local mirror holds has the registered size and sha256."""
    checked = 0
    for item in registry().values():
        folder = resolve_mirror(item.root).folder
        for file in item.files:
            local = folder / file.path
            if file.sha256 and local.is_file():
                assert local.stat().st_size == file.size, file.path
                assert sha256(local) == file.sha256, file.path
                checked += 1
    assert checked >= 60


def test_first_use_downloads_verifies_caches_and_reuses(served, fresh_cache, monkeypatch):
    folder, url = served
    monkeypatch.setenv("GENDESIGN_DATA", f"{url}/data")
    path = data_path(MPTS52_VAL)
    assert path == fresh_cache / "data" / MPTS52_VAL
    assert sha256(path) == files_under("data", MPTS52_VAL)[0][1].sha256
    # reuse: with the server gone (an unreachable URL) the cached copy is served
    monkeypatch.setenv("GENDESIGN_DATA", f"http://127.0.0.1:{free_port()}/data")
    assert data_path(MPTS52_VAL) == path
    # a cached file cut short is noticed by its size and fetched again
    path.write_bytes(path.read_bytes()[:1000])
    monkeypatch.setenv("GENDESIGN_DATA", f"{url}/data")
    assert sha256(data_path(MPTS52_VAL)) == files_under("data", MPTS52_VAL)[0][1].sha256


def test_a_corrupted_download_is_refused_and_never_kept(served, fresh_cache, monkeypatch, tmp_path):
    folder, _ = served
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    original = (damaged / "data" / MPTS52_VAL).read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0xFF  # same size, one byte changed
    (damaged / "data" / MPTS52_VAL).write_bytes(bytes(flipped))
    with http_server(damaged) as url:
        monkeypatch.setenv("GENDESIGN_DATA", f"{url}/data")
        with pytest.raises(DataRootError, match="does not match its registered sha256"):
            data_path(MPTS52_VAL)
    assert not (fresh_cache / "data" / MPTS52_VAL).exists()
    assert not list((fresh_cache / "data").rglob("*.csv.gz*"))  # no partial file either


def test_offline_without_a_mirror_is_one_sentence_naming_file_url_and_variable(
    fresh_cache, monkeypatch
):
    """No mirror, no network: the public URL cannot be reached (a dead proxy stands in for
    a machine without a network, so the test does not depend on this machine's)."""
    monkeypatch.setattr("gendesign.paths.SIBLING_DATA_ROOT", fresh_cache / "no-such-folder")
    monkeypatch.setattr(
        "gendesign.paths._SIBLING", {"data": fresh_cache / "none", "models": fresh_cache / "none"}
    )
    monkeypatch.delenv("GENDESIGN_DATA", raising=False)
    dead = f"http://127.0.0.1:{free_port()}"
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(variable, dead)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(DataRootError) as caught:
        data_path(MPTS52_VAL)
    message = str(caught.value)
    public = files_under("data", MPTS52_VAL)[0][1].url
    assert MPTS52_VAL in message and public in message and "GENDESIGN_DATA" in message
    assert "\n" not in message


def test_weights_come_from_the_models_mirror_over_http(served, fresh_cache, monkeypatch):
    from relax.matgl_potentials import matgl_folder

    _, url = served
    monkeypatch.setenv("GENDESIGN_MODELS", f"{url}/models")
    folder = matgl_folder("tensornet-matpes-pbe")
    assert folder == fresh_cache / "models" / TENSORNET
    for file in entry("tensornet-matpes-pbe").files:
        assert sha256(fresh_cache / "models" / file.path) == file.sha256
    assert entry_status(entry("tensornet-matpes-pbe")).where == "cache"
    assert model_path(TENSORNET) == folder


def test_a_local_mirror_comes_first_and_is_read_as_it_is(
    served, fresh_cache, monkeypatch, tmp_path, caplog
):
    """A local mirror is the user's folder: read in place, an edited file too (named in a
    warning); the registry's checksums guard what is downloaded or copied."""
    folder, url = served
    local = tmp_path / "local"
    shutil.copytree(folder / "data", local)
    assert data_path(MPTS52_VAL, local) == local / MPTS52_VAL  # nothing copied or fetched
    assert not (fresh_cache / "data" / MPTS52_VAL).exists()
    (local / MPTS52_VAL).write_bytes(b"edited")
    assert local_copy("data", MPTS52_VAL, local) == local / MPTS52_VAL
    assert "val.csv.gz is not the size the registry gives; read as it is" in caplog.text
    status = entry_status(entry("mpts52"), local, verify=True)
    assert status.where == "partly" and status.missing == 1
    # a named folder that does not exist is one sentence, not a silent download
    with pytest.raises(DataRootError, match="is not a folder"):
        data_path(MPTS52_VAL, tmp_path / "missing")


def test_git_blob_id_is_githubs(tmp_path):
    """The checksum of files known only by their git blob id (``git hash-object``)."""
    file = tmp_path / "hello.txt"
    file.write_bytes(b"hello\n")
    assert git_blob_sha1(file) == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_data_cli_status_then_fetch_then_status(served, gendesign_cli, tmp_path):
    import os

    _, url = served
    env = {"GENDESIGN_DATA": f"{url}/data", "GENDESIGN_CACHE": str(tmp_path / "cli-cache")}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        before = gendesign_cli("data", "status")
        # --data-root takes a URL too, and wins over the variable (set to a dead URL here)
        os.environ["GENDESIGN_DATA"] = f"http://127.0.0.1:{free_port()}/data"
        fetched = gendesign_cli(
            "data", "fetch", "mpts52", "mp-e-form", "--data-root", f"{url}/data"
        )
        os.environ["GENDESIGN_DATA"] = f"{url}/data"
        after = gendesign_cli("data", "status", "mpts52", "mp-e-form", "--verify")
        unknown = gendesign_cli("data", "fetch", "mp21")
    finally:
        for key, value in previous.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    assert before.returncode == 0, before.stderr
    assert "Not here yet, read by the defaults: mp20, mpts52, mp-e-form" in " ".join(
        before.stdout.split()
    )
    assert fetched.returncode == 0, fetched.stderr
    assert "2 of 2 entries fetched" in fetched.stdout
    assert after.returncode == 0 and "damaged" not in after.stdout
    assert "2 of 2 named entries here" in after.stdout
    assert after.stdout.count("cache") >= 2
    assert unknown.returncode == 2 and "'mp21' is not in the data registry" in unknown.stderr


def _mattergen_slice(source: Path, target: Path, count: int) -> None:
    """The first ``count`` crystals of a MatterGen cache split, in its format."""
    import json

    import numpy as np

    target.mkdir(parents=True)
    num_atoms = np.load(source / "num_atoms.npy")[:count]
    atoms = int(num_atoms.sum())
    np.save(target / "num_atoms.npy", num_atoms)
    np.save(target / "structure_id.npy", np.load(source / "structure_id.npy")[:count])
    np.save(target / "cell.npy", np.load(source / "cell.npy")[:count])
    for name in ("atomic_numbers", "pos"):
        np.save(target / f"{name}.npy", np.load(source / f"{name}.npy")[:atoms])
    for path in source.glob("*.json"):
        values = json.loads(path.read_text())["values"][:count]
        (target / path.name).write_text(json.dumps({"values": values}))


def test_full_mp20_train_split_replaces_the_reduced_protocol(tmp_path):
    """With MP-20's train split (positions included) in the mirror, MP-20 trains on it,
    keeps val as its holdout and labels its figures mp20; the 1,000-row pilot of that
    split stands in for it (val and test cut to 150 crystals to keep the test short)."""
    from gendesign.audit.novelty_reference import novelty_reference
    from gendesign.data.datasets import dataset_sources, get_dataset_spec, load_dataset

    shared = resolve_mirror("data").folder
    mirror = tmp_path / "with-train"
    for split in ("val", "test"):
        _mattergen_slice(
            shared / "mp_20/mattergen_cache" / split, mirror / "mp_20/mattergen_cache" / split, 150
        )
    (mirror / "mp_20/mattergen_cache/train").symlink_to(shared / "mp_20/mattergen_cache/train")
    spec = get_dataset_spec("mp20")
    assert dataset_sources(spec, mirror) == (spec.sources, "mp20-reduced")  # no train.csv yet
    with gzip.open(shared / "mp_20" / "pilot" / "train.csv.gz") as packed:
        (mirror / "mp_20" / "train.csv").write_bytes(packed.read())
    sources, protocol = dataset_sources(spec, mirror)
    assert protocol == "mp20" and sources["train"] == "mp_20/train.csv"

    data = load_dataset("mp20", data_root=str(mirror), cache_dir=str(tmp_path / "cache"))
    assert data.protocol == "mp20"
    assert data.published_splits == {"train": "train", "holdout": "val", "test": "test"}
    assert len(data.splits["train"]) + len(data.skipped) >= 990  # the pilot's 1,000 rows
    assert len(data.splits["holdout"]) == len(data.splits["test"]) == 150
    bands = data.splits["train"].properties[:, data.property_names.index("band_gap")]
    assert bands.isfinite().all()  # from CDVAE's band_gap column
    bulk = data.splits["train"].properties[:, data.property_names.index("bulk_modulus")]
    assert bulk.isnan().all()  # not in CDVAE's CSV
    reference = novelty_reference("mp20", str(mirror))
    assert reference.cells is None  # train is known by its structures, not its cells alone
    assert reference.label == "mp20 mp20:test, mp20:train, mp20:val"
