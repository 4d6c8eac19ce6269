"""What a user asks of generated crystals: elements, atom counts, property ranges, and
the oxidation-state policy their formulas must balance under.

``elements`` names a chemical system: every listed element is present in every
crystal (Mg, Al, O asks for Mg-Al-O compounds, not Mg3Al). ``within`` is the opt-in
to any subset of two or more of them (one for a model that draws its own formulas).
Element and atom-count constraints are enforced while decoding (masked logits),
so every returned sample meets them; property targets steer the latent and are
checked afterwards, per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from pymatgen.core import Element, Structure

from gendesign.audit.composition import DEFAULT_POLICY, POLICY_LISTS, OxidationPolicy
from gendesign.errors import ConfigError
from gendesign.ranges import OPEN, Range


def parse_elements(text: str | list[str] | None, what: str) -> list[str]:
    """``"Li,Fe,P,O"`` → ["Li", "Fe", "P", "O"], each checked to be an element."""
    if not text:
        return []
    symbols = text if isinstance(text, list) else [s.strip() for s in text.split(",") if s.strip()]
    for symbol in symbols:
        if not Element.is_valid_symbol(symbol):
            raise ConfigError(f"{what}: '{symbol}' is not a chemical element symbol")
    return list(symbols)


@dataclass
class Constraints:
    """Every one of ``elements`` (if given; with ``within``, only them), none of
    ``exclude``, ``atoms`` per cell in range, and each property of ``targets`` in its
    range; formulas charge balanced under the ``oxidation_states`` policy
    (:mod:`gendesign.audit.composition`)."""

    elements: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    within: bool = False  # True: any subset of ``elements`` will do
    atoms: Range = OPEN
    targets: dict[str, Range] = field(default_factory=dict)
    oxidation_states: OxidationPolicy = DEFAULT_POLICY

    def __post_init__(self) -> None:
        if self.oxidation_states not in POLICY_LISTS:
            raise ConfigError(
                f"oxidation states: '{self.oxidation_states}' is not a policy; "
                f"choose from {', '.join(POLICY_LISTS)}"
            )
        # (low, high) tuples and "low:high" texts are ranges too
        self.atoms = Range.model_validate(self.atoms)
        self.targets = {name: Range.model_validate(r) for name, r in self.targets.items()}
        both = sorted(set(self.elements) & set(self.exclude))
        if both:
            raise ConfigError(
                f"--elements/--exclude: {', '.join(both)} both asked for and excluded"
            )
        if self.within and not self.elements:
            raise ConfigError("--within needs --elements: the elements a subset is taken of")

    @property
    def required(self) -> list[str]:
        """The elements every crystal must contain."""
        return [] if self.within else list(self.elements)

    @classmethod
    def parse(
        cls,
        targets: list[str] | None = None,
        elements: str | None = None,
        exclude: str | None = None,
        atoms: str | None = None,
        oxidation_states: OxidationPolicy = DEFAULT_POLICY,
        within: bool = False,
    ) -> Constraints:
        """From CLI strings: ``targets`` like ``["band_gap=1.5:2.5"]``."""
        parsed: dict[str, Range] = {}
        for item in targets or []:
            name, _, text = item.partition("=")
            if not name or not text:
                raise ConfigError(f"--target: '{item}' is not of the form property=low:high")
            parsed[name.strip()] = Range.parse(text, f"--target {name.strip()}")
        return cls(
            elements=parse_elements(elements, "--elements"),
            exclude=parse_elements(exclude, "--exclude"),
            atoms=Range.parse(atoms, "--atoms") if atoms else OPEN,
            targets=parsed,
            oxidation_states=oxidation_states,
            within=within,
        )

    def check_against(
        self, atomic_numbers: list[int], max_atoms: int, properties: list[str],
        max_elements: int | None = None,
    ) -> None:  # fmt: skip
        """Raise one sentence if the model (its vocabulary, atom limit, elements per
        crystal, property heads) cannot honour these constraints."""
        known = {Element.from_Z(z).symbol for z in atomic_numbers}
        missing = [s for s in self.elements if s not in known]
        if missing:
            raise ConfigError(
                f"--elements: {', '.join(missing)} never appear(s) in this model's training data"
            )
        if not self.allowed_symbols(known):
            raise ConfigError("--elements/--exclude: no element is left to build crystals from")
        low, high = self.atoms.min, self.atoms.max
        if (low is not None and low > max_atoms) or (high is not None and high < 1):
            raise ConfigError(f"--atoms: this model makes cells of 1 to {max_atoms} atoms")
        required = self.required
        if max_elements is not None and len(required) > max_elements:
            raise ConfigError(
                f"--elements: this model makes crystals of at most {max_elements} elements, "
                f"not all {len(required)} asked for (add --within for subsets)"
            )
        if len(required) > self.atom_bounds(max_atoms)[1]:
            raise ConfigError(f"--elements: {len(required)} elements need at least as many atoms")
        for name in self.targets:
            if name not in properties:
                raise ConfigError(
                    f"--target: this model cannot steer '{name}' "
                    f"(it learned {', '.join(properties) or 'no properties'})"
                )

    def allowed_symbols(self, known: set[str]) -> set[str]:
        allowed = set(self.elements) if self.elements else set(known)
        return allowed - set(self.exclude)

    def element_mask(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """(V,) True for vocabulary entries that samples may contain."""
        known = {Element.from_Z(int(z)).symbol for z in atomic_numbers}
        allowed = self.allowed_symbols(known)
        return torch.tensor(
            [Element.from_Z(int(z)).symbol in allowed for z in atomic_numbers],
            device=atomic_numbers.device,
        )

    def required_indices(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """Vocabulary indices of the required elements, ascending (the decoding order)."""
        wanted = {Element(symbol).Z for symbol in self.required}
        rows = [k for k, z in enumerate(atomic_numbers.tolist()) if int(z) in wanted]
        return torch.tensor(rows, dtype=torch.long, device=atomic_numbers.device)

    def atom_bounds(self, max_atoms: int) -> tuple[int, int]:
        """(fewest, most) whole atoms per cell these constraints allow in a model that makes
        cells of at most ``max_atoms``."""
        low, high = self.atoms.min, self.atoms.max
        return (
            max(1, math.ceil(low) if low is not None else 1),
            min(max_atoms, math.floor(high) if high is not None else max_atoms),
        )

    def atoms_mask(self, max_atoms: int, device=None) -> torch.Tensor:
        """(max_atoms + 1,) True for allowed atom counts (never 0)."""
        counts = torch.arange(max_atoms + 1, device=device)
        low, high = self.atoms.min, self.atoms.max
        mask = counts >= max(1, math.ceil(low) if low is not None else 1)
        if high is not None:
            mask &= counts <= high
        return mask

    def meets_elements(self, symbols: set[str]) -> bool:
        """Whether a crystal of the elements ``symbols`` meets the element constraints."""
        inside = not self.elements or symbols <= set(self.elements)
        return inside and set(self.required) <= symbols and not symbols & set(self.exclude)

    def report(self, structure: Structure, properties: dict[str, float]) -> dict[str, bool]:
        """Whether ``structure`` (with ``properties``, physical units) meets each constraint;
        keys ``meets_elements``, ``meets_atoms``, ``meets_<property>``."""
        symbols = {el.symbol for el in structure.composition.elements}
        row = {}
        if self.elements or self.exclude:
            row["meets_elements"] = self.meets_elements(symbols)
        if not self.atoms.is_open:
            row["meets_atoms"] = self.atoms.contains(len(structure))
        for name, bounds in self.targets.items():
            row[f"meets_{name}"] = bounds.contains(properties.get(name, math.nan))
        return row
