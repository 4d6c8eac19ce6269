"""The readers on generated inputs: random bytes, every truncation, every field made NaN,
negative, huge, empty or removed. Each input gives structures or reasons (or, for a whole
file, one InputError sentence), never another exception.

The corpus is built from the SrTiO3 fixture in each text format: the exhaustive part
(truncations and field edits) is counted and the count asserted, so a format that stops
generating cases fails; random bytes come from hypothesis."""

from __future__ import annotations

import io
import re

import pytest
from ase.io import write as ase_write
from helpers import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from gendesign.data.readers import read_structures
from gendesign.errors import InputError

FIELD_VALUES = ("nan", "-inf", "-1", "-0", "1e300", "1e-300", "x", "")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _formats() -> dict[str, str]:
    """The perovskite as CIF, POSCAR and extended XYZ text, by file name."""
    cif = (FIXTURES / "crystals" / "SrTiO3_perovskite.cif").read_text()
    structure = Structure.from_str(cif, fmt="cif")
    extxyz = io.StringIO()
    ase_write(extxyz, AseAtomsAdaptor.get_atoms(structure), format="extxyz")
    return {
        "crystal.cif": cif,
        "POSCAR": structure.to(fmt="poscar"),
        "crystal.extxyz": extxyz.getvalue(),
    }


FORMATS = _formats()


def _edits(text: str):
    """Every prefix of whole lines; every number replaced by each of FIELD_VALUES; every
    line removed."""
    lines = text.splitlines(keepends=True)
    for end in range(len(lines)):
        yield "".join(lines[:end])
    for match in NUMBER.finditer(text):
        for value in FIELD_VALUES:
            yield text[: match.start()] + value + text[match.end() :]
    for k in range(len(lines)):
        yield "".join(lines[:k] + lines[k + 1 :])


def _read_or_reason(path, data: bytes) -> str:
    """Read ``data`` as ``path``: 'structure', 'reason' or 'sentence' (an InputError);
    any other exception propagates and fails the test."""
    path.write_bytes(data)
    try:
        crystals = read_structures(path)
    except InputError as err:
        assert str(err).strip(), "an empty error sentence"
        return "sentence"
    assert all(item.reason.strip() for item in crystals.skipped)
    for structure in crystals.structures:  # what a reader returns is usable as it stands
        assert len(structure) and structure.is_ordered and structure.volume > 0
    return "structure" if len(crystals) else "reason"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("reader_cases")


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_truncation_and_field_edit_gives_a_structure_or_a_reason(scratch, name):
    outcomes: dict[str, int] = {}
    for text in _edits(FORMATS[name]):
        outcome = _read_or_reason(scratch / name, text.encode())
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    cases = sum(outcomes.values())
    # the counts of cases each format generates (lines, numbers × values, lines again)
    assert cases == {"crystal.cif": 430, "POSCAR": 274, "crystal.extxyz": 230}[name], outcomes
    assert outcomes.get("structure", 0) > 0 and outcomes.get("reason", 0) > 0, outcomes


@pytest.mark.parametrize("name", [*sorted(FORMATS), "crystals.db"])
@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=1500))
def test_random_bytes_give_a_reason_not_a_traceback(scratch, name, data):
    _read_or_reason(scratch / name, data)


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=150, deadline=None)
@given(cut=st.integers(min_value=0, max_value=4000), junk=st.binary(max_size=64))
def test_a_cut_file_with_junk_appended_gives_a_reason(scratch, name, cut, junk):
    _read_or_reason(scratch / name, FORMATS[name].encode()[:cut] + junk)
