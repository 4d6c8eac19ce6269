"""What moves between the store and the stages: candidates in, outcomes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pymatgen.core import Structure

from gendesign.campaign.records import StageRecord

Status = Literal["passed", "dropped", "failed"]


@dataclass
class Candidate:
    """One candidate as a stage sees it: its id, its structures so far by stage name
    ("generate", "prescreen", "relax") and the values every earlier stage recorded (``<stage>_<key>``)."""

    cid: str
    structures: dict[str, Structure]
    values: dict[str, Any] = field(default_factory=dict)

    def stage(self, name: str) -> StageRecord:
        """What stage ``name`` recorded for this candidate (status None: not yet)."""
        return StageRecord.from_flat(name, self.values)

    @property
    def structure(self) -> Structure:
        """The latest structure: relaxed, else pre-relaxed by the pre-screen, else as
        generated."""
        return self.structures.get("relax") or self.unrelaxed

    @property
    def unrelaxed(self) -> Structure:
        """Where relaxation starts: the pre-screen's short relaxation, else as generated."""
        return self.structures.get("prescreen") or self.structures["generate"]


@dataclass
class Outcome:
    """What one stage decided about one candidate.

    ``status``: passed (goes on), dropped (a stage criterion removed it; ``reason`` says
    which) or failed (the stage could not judge it; ``reason`` says why). ``values``
    are stored under the stage's prefix; ``structure`` is a new structure (relaxation).
    """

    cid: str
    status: Status
    reason: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    structure: Structure | None = None


def round_of(cid: str) -> int:
    """The round a candidate id belongs to (ids ``c…`` are round 0's, ``r01c…`` round 1's)."""
    return int(cid[1:3]) if cid.startswith("r") else 0


def batch_seed(seed: int, batch: int, round_: int = 0) -> int:
    """An independent seed for each generation batch of each round, the same on every
    machine (round 0's as before rounds existed)."""
    entropy = [seed, batch] if round_ == 0 else [seed, round_, batch]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])
