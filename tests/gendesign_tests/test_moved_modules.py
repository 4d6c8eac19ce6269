"""Modules that moved keep answering under their old names for one release."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from gendesign.moved_modules import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_gives_the_moved_module_with_a_warning(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_names_of_the_old_cdvae_module_still_import_from_its_package():
    from gendesign.model.cdvae import model

    with pytest.warns(DeprecationWarning, match="gendesign.model.cdvae.model.CDVAE"):
        from gendesign.model.cdvae import CDVAE
    assert CDVAE is model.CDVAE
    with pytest.raises(ImportError):
        from gendesign.model.cdvae import NoSuchName  # noqa: F401


def test_python_dash_m_on_an_old_path_runs_the_new_module():
    done = subprocess.run(
        [sys.executable, "-m", "gendesign.model.flow_bundle", "--help"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout and "--rebuild-templates" in done.stdout
