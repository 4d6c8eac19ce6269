"""Helpers shared by the tests (importable as ``helpers``: pytest puts tests/ on the path)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository root
FIXTURES = REPO / "tests" / "fixtures"  # small real crystals, for tests without the data root
