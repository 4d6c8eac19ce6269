"""A potential a user brings, end to end: registered through the entry point group, its
element references fitted on first use, relaxations with E_hull on the reference hull,
its precision measured by ``gendesign judges benchmark`` and printed by ``judges list``.

The plug-in is CHGNet 0.2.0 (tests/helpers/plugin_potentials.py), a real potential whose
weights ship inside the chgnet wheel, loaded the way any third-party potential is."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

pytestmark = pytest.mark.needs_data

NAME = "chgnet-0.2.0-plugin"
FACTORY = "helpers.plugin_potentials:chgnet_020"


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution's metadata declaring the plug-in, on the path (what
    ``pip install`` of a package with a ``gendesign.potentials`` entry point leaves)."""
    info = tmp_path / "site" / "gendesign_test_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gendesign-test-plugin\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(f"[gendesign.potentials]\n{NAME} = {FACTORY}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return tmp_path / "site"


def salt() -> Structure:
    return Structure(Lattice.cubic(5.7), ["Na"] * 4 + ["Cl"] * 4, [
        [0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
        [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])  # fmt: skip


def test_a_plugin_potential_end_to_end(registered, monkeypatch, session_cache, tmp_path):
    import relax.energies as energies
    from relax.potentials import load_potential, potential_names, registered_potentials
    from relax.runner import relax_structures

    assert registered_potentials()[NAME] == FACTORY and NAME in potential_names()
    potential = load_potential(NAME, device="cpu")
    assert potential.kind == "plugin" and potential.info.name == NAME
    assert potential.info.weights_path.endswith(".pth.tar")  # the factory named its weights
    # First use: the element references are fitted (a small sample here; 2,000 by default)
    # on MP-20 crystals, checked on MP-20 test crystals and cached in the user cache.
    monkeypatch.setattr(energies, "FIRST_USE_FIT", 150)
    monkeypatch.setattr(energies, "FIRST_USE_CHECK", 30)
    assert energies.element_references(potential, fit=False) is None
    table = relax_structures([salt()], potential, out_dir=tmp_path / "relaxed")
    cached = energies.cached_references_path(potential)
    assert cached.is_file() and cached.is_relative_to(session_cache)
    references = energies.ElementReferences.load(cached)
    assert references.n_structures >= 150 and {"Na", "Cl"} <= set(references.mu)
    assert references.n_check >= 25 and references.check_mae < 0.25  # eV/atom, unseen crystals
    row = table.iloc[0]
    assert row["status"] == "converged" and row["potential"] == NAME
    # rock salt NaCl is the ground state: within a few tenths of the full reference hull
    assert abs(row["e_above_hull_eV_atom"]) < 0.3 and row["hull"].startswith("full@")

    # Its precision, measured as a user would, lands in the table reports print.
    from typer.testing import CliRunner

    from gendesign.cli.main import app

    result = CliRunner().invoke(
        app,
        [
            "judges",
            "benchmark",
            "--potential",
            NAME,
            "--per-class",
            "2",
            "--start",
            "dft",
            "--out",
            str(tmp_path / "judges"),
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "Stored in" in result.output and "4 of 4" in result.output
    from relax.precision import measured_precision, precision_note

    scores = measured_precision(NAME)
    assert scores["n"] == 4 and scores["hull"].startswith("full@") and scores["start"] == "dft"
    assert 0 <= scores["precision_at_30pct_stable"] <= 1
    assert precision_note(NAME).startswith("measured precision on MPTS-52")
    listed = CliRunner().invoke(app, ["judges", "list"])
    assert f"plug-in {NAME}: {FACTORY}" in listed.output


def test_a_factory_string_needs_no_registration_and_bad_ones_get_one_sentence():
    from gendesign.errors import ConfigError, InputError
    from relax.energies import single_point_energies
    from relax.potentials import load_potential

    potential = load_potential(FACTORY, device="cpu")
    assert potential.kind == "plugin" and potential.info.name == FACTORY
    energy = single_point_energies([salt()], potential)[0]
    assert math.isfinite(energy) and -4 < energy / 8 < -2  # eV/atom, CHGNet's NaCl scale
    with pytest.raises(ConfigError, match="cannot import no_such_module:make"):
        load_potential("no_such_module:make")
    with pytest.raises(ConfigError, match="unknown potential 'mace xl'"):
        load_potential("mace xl")
    with pytest.raises(InputError, match="returned dict, not an ASE calculator"):
        load_potential("builtins:dict")  # a real callable, but not a calculator factory
