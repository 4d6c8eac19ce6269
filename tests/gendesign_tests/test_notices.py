"""Third-party warnings stay quiet, in worker processes too."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

from gendesign.notices import VERBOSE_ENV, quiet_third_party

# pymatgen warns when a noble gas's electronegativity is read (formula ordering does)
NOBLE_GAS = "from pymatgen.core import Element; Element('He').X"


def _child_stderr() -> str:
    return subprocess.run(
        [sys.executable, "-c", NOBLE_GAS], capture_output=True, text=True, env=dict(os.environ)
    ).stderr


def test_worker_processes_inherit_the_quiet_filters(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "")
    monkeypatch.setenv(VERBOSE_ENV, "0")
    assert "No Pauling electronegativity for He" in _child_stderr()
    with warnings.catch_warnings():  # this process's filters go back afterwards
        quiet_third_party()
        quiet_third_party()  # twice: the environment's list does not grow
        assert os.environ["PYTHONWARNINGS"].count("No Pauling") == 1
        assert _child_stderr() == ""


def test_verbose_keeps_third_party_warnings(monkeypatch):
    monkeypatch.setenv("PYTHONWARNINGS", "")
    monkeypatch.setenv(VERBOSE_ENV, "1")
    with warnings.catch_warnings():
        quiet_third_party()
        assert "No Pauling electronegativity for He" in _child_stderr()
