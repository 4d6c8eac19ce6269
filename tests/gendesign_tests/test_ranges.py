"""The one range type: parsing, membership, the probability of landing inside, scaling."""

from __future__ import annotations

import math

import pytest

from gendesign.errors import ConfigError
from gendesign.model.common.constraints import Constraints
from gendesign.ranges import OPEN, Range


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("1.5:2.5", 1.5, 2.5), (":-1.0", None, -1.0), ("3:", 3.0, None), ("2", 2.0, 2.0)],
)
def test_every_written_form_reads(text, low, high):
    parsed = Range.parse(text, "--target band_gap")
    assert (parsed.min, parsed.max) == (low, high)
    assert Range.model_validate(text) == parsed  # configs read the same text
    assert Range.parse(parsed.describe(), "again") == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:b", "--atoms: 'a:b' is not a range like 1.5:2.5"),
        ("1:2:3", "not a range like"),
        (":", "gives neither a lower nor an upper bound"),
        ("3:1", "is empty (lower bound above upper)"),
    ],
)
def test_a_bad_range_is_one_sentence(text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Range.parse(text, "--atoms")


def test_membership_and_open_ends():
    gap = Range(min=1.5, max=2.5)
    assert gap.contains(1.5) and gap.contains(2.5) and not gap.contains(2.51)
    assert not gap.contains(math.nan) and not OPEN.contains(math.inf) and OPEN.contains(-1e9)
    assert Range(max=0.0).contains(-3.0) and not Range(min=0.0).contains(-3.0)


def test_probability_of_landing_inside_a_normal_prediction():
    gap = Range(min=1.0, max=3.0)
    assert gap.probability(2.0, 1.0) == pytest.approx(0.6827, abs=1e-4)  # ±1σ
    assert Range(min=2.0).probability(2.0, 0.5) == pytest.approx(0.5)
    assert gap.probability(2.0, 0.0) == pytest.approx(1.0)  # a point estimate inside
    assert gap.probability(5.0, 0.0) == 0.0
    assert gap.touches(3.5, 0.5, 1.0) and not gap.touches(3.5, 0.5, 0.9)


def test_standardised_ranges_and_constraints_take_tuples():
    assert Range(min=1.0, max=3.0).scaled(2.0, 0.5) == Range(min=-2.0, max=2.0)
    assert Range(max=1.0).scaled(0.0, 2.0) == Range(max=0.5)
    constraints = Constraints(atoms=(2, 20), targets={"band_gap": "1:2"})
    assert constraints.atoms == Range(min=2, max=20)
    assert constraints.targets["band_gap"].contains(1.5)
