"""A campaign's YAML: what to generate, how to screen, relax and rank it.

Every section is strict (unknown fields are refused with a suggestion), and
:func:`check_campaign` resolves everything a run needs (models, predictor,
potential file, element symbols, the data root) before any work starts, so a bad
config fails in one sentence naming the field.

Each stage has a fingerprint of the fields its results depend on (its own
section plus the fingerprints of the stages before it); a store remembers them,
so a changed config is noticed on ``--resume``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gendesign.audit.composition import DEFAULT_POLICY, OxidationPolicy
from gendesign.config import StrictConfig
from gendesign.errors import ConfigError
from gendesign.model.common.constraints import Constraints, parse_elements
from gendesign.ranges import OPEN, Range
from gendesign.sources import SOURCE_NAMES
from relax.relaxation import RelaxSettings

STAGES = ("generate", "audit", "prescreen", "screen", "relax", "reaudit", "judge", "rank")


class TargetRange(Range):
    """A campaign's property target: a :class:`Range` with at least one end bounded."""

    @model_validator(mode="after")
    def _bounded(self) -> TargetRange:
        if self.is_open:
            raise ValueError("a target needs min, max or both")
        return self


class GenerateSection(StrictConfig):
    """Where the candidates come from: the generative model and/or the template sources."""

    model: str = "mp20"  # a bundled generative model or a model.pt path
    n: int = Field(200, gt=0)  # candidates, all sources together
    # share of n per source (model, substitution, prototypes); normalised to sum to 1
    sources: dict[str, float] = Field(default_factory=lambda: {"model": 1.0})
    # dataset whose training crystals the substitution and prototypes sources start from
    templates: str = "mp20"
    # the model's sampler settings that differ from its defaults, e.g. {coordinate_steps: 50}
    # for crystalflow models or {levels: 10, steps_per_level: 20} for cdvae models
    sampling: dict[str, Any] = Field(default_factory=dict)
    steering_steps: int = Field(300, ge=0)  # latent optimisation steps toward the targets
    # where the model's compositions come from: "model" (its chemistry network), "hull"
    # (drawn toward the reference hull by a composition-only E_hull estimate; with elements
    # given, every balanced formula is a candidate; see gendesign.sources.hull_compositions)
    # or "auto": hull when elements are given (balanced 100 % against 22-58 % in the
    # constrained benchmark), else model (37 % stable against hull's 29 %, 100 relaxed each)
    compositions: Literal["auto", "model", "hull"] = "auto"

    def composition_mode(self, elements: list[str] | None) -> str:
        """``compositions`` with "auto" resolved for the given element constraint."""
        if self.compositions != "auto":
            return self.compositions
        return "hull" if elements else "model"

    hull_temperature: float = Field(0.05, gt=0)  # eV/atom: how hard "hull" favours the hull
    # with "hull" compositions under an element constraint: every other candidate of a
    # formula decoded through a known framework of its stoichiometry (spinel for AB2O4,
    # gendesign.sources.formula_decodes) instead of the flow; its "decoder" says which
    frameworks: bool = True
    # how rounds after the first share n among the sources: "fixed" (the sources' shares)
    # or "adaptive" (by what each yielded so far: S.U.N. in range per worker second,
    # gendesign.campaign.allocation), each keeping at least allocate_floor of n
    allocate: Literal["fixed", "adaptive"] = "fixed"
    allocate_floor: float = Field(0.1, ge=0, le=0.5)  # least share of n per source (adaptive)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = [name for name in value if name not in SOURCE_NAMES]
        if unknown:
            raise ValueError(
                f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCE_NAMES)}"
            )
        if not value or any(not share > 0 for share in value.values()):
            raise ValueError("every source needs a share above 0 (leave a source out instead)")
        return value

    def source_counts(self) -> dict[str, int]:
        """Candidates per source, in SOURCE_NAMES order, summing to ``n``."""
        return split_counts(self.n, self.sources)


def split_counts(n: int, shares: dict[str, float]) -> dict[str, int]:
    """``n`` candidates split by ``shares`` (any positive scale), in SOURCE_NAMES order;
    the largest remainders get the leftover candidates; sources left with 0 are omitted."""
    total = sum(shares.values())
    names = [name for name in SOURCE_NAMES if name in shares]
    exact = {name: n * shares[name] / total for name in names}
    counts = {name: int(exact[name]) for name in names}
    by_remainder = sorted(names, key=lambda name: -(exact[name] - counts[name]))
    for name in by_remainder[: n - sum(counts.values())]:
        counts[name] += 1
    return {name: count for name, count in counts.items() if count}


class AuditSection(StrictConfig):
    """Validity, uniqueness within the campaign and novelty against known crystals."""

    # dataset whose crystals count as known (mp20: all three MP-20 splits)
    novelty_reference: str | None = "mp20"
    known: str | None = None  # more known crystals: a CIF folder, an ASE db, ...
    keep_known: bool = False  # keep candidates that match a known crystal
    keep_invalid: bool = False  # keep candidates that fail the validity checks


class PrescreenSection(StrictConfig):
    """A cheap stability estimate before the property screen: the relaxation potential's
    energy (after ``steps`` FIRE steps; 0: of the structure as generated) turned into
    E_hull against the reference hull (``hull``); candidates estimated above ``e_hull_max`` drop."""

    enabled: bool = True  # false: every audited candidate goes on to the screen
    # FIRE steps before the energy, the same for every source; 0: a single point. On 100
    # fully relaxed mp20-model candidates, 10 steps passed 68 % of the stable ones at
    # precision 0.81, a single point 32 % at 0.75 (BENCHMARKS.md, "A fair pre-screen")
    steps: int = Field(10, ge=0)
    e_hull_max: float = Field(0.3, ge=0)  # eV/atom


class ScreenSection(StrictConfig):
    """GNN predictor screening; the best ``top_k`` by acquisition go on to relaxation."""

    predictor: str | list[str] = "mp20"  # a bundled ensemble name or checkpoint paths
    kappa: float = Field(1.0, ge=0)  # a target passes when mean ± kappa·σ reaches its range
    top_k: int = Field(20, gt=0)  # candidates sent to relaxation
    # shares of top_k kept for the best candidates of a kind, a novelty class or a source,
    # e.g. {novel-framework: 0.25} (new frameworks get relaxed at all); the rest by acquisition
    reserve: dict[str, float] = Field(default_factory=dict)

    @field_validator("reserve")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        kinds = ("known", "substitution-derived", "novel-framework", *SOURCE_NAMES)
        unknown = [kind for kind in value if kind not in kinds]
        if unknown:
            raise ValueError(
                f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(kinds)}"
            )
        if any(not 0 < share <= 1 for share in value.values()) or sum(value.values()) > 1:
            raise ValueError("each reserved share is above 0 and they add up to at most 1")
        return value


class RelaxSection(StrictConfig):
    """Relaxation of the screened candidates and their stability."""

    batch_size: int = Field(8, gt=0)  # relaxations per task (fewer than elsewhere: they are slow)
    potential: str = "auto"  # auto, mace-mp-0-small, ..., mace, chgnet-0.3.0
    potential_path: str | None = None  # a MACE .model file
    settings: RelaxSettings = Field(default_factory=lambda: RelaxSettings(max_steps=300))


class JudgeSection(StrictConfig):
    """Independent judges of the relaxed candidates: a second potential (another
    architecture and training set) re-relaxes each from the first's structure and puts
    it on the reference hull through its own element references; a composition-only model
    that took no part in screening or steering predicts the targets it knows."""

    enabled: bool = True  # false: no judge stage; the ranking uses the first potential alone
    potential: str | None = "tensornet-matpes-pbe"  # None: no second stability judge
    potential_path: str | None = None  # the potential's folder, when not under the models root
    properties: bool = True  # the independent property judge (composition model)
    settings: RelaxSettings = Field(default_factory=lambda: RelaxSettings(max_steps=300))


class RankSection(StrictConfig):
    """How the relaxed candidates are ordered in the report."""

    e_hull_max: float = Field(0.1, ge=0)  # eV/atom: at or below counts as (meta)stable


class LearningSection(StrictConfig):
    """The closed loop (``rounds`` > 1): after each round but the last, the generator is
    fine-tuned on the round's relaxed finds of every source, with their relaxed positions
    (gendesign.model.crystalflow.finetune), and the next round samples from it."""

    steps: int = Field(100, ge=0)  # fine-tuning steps per round; 0: the model stays as it is
    batch_size: int = Field(16, gt=0)  # crystals per step (drawn by weight, with repeats)
    learning_rate: float = Field(1e-4, gt=0)  # Adam's; small, so the model keeps its chemistry
    e_hull_max: float = Field(
        0.1, ge=0
    )  # eV/atom: finds above (by the relaxation potential) teach nothing
    e_hull_scale: float = Field(0.05, gt=0)  # eV/atom: a find weighs exp(-max(E_hull, 0) / scale)
    # weight factor of a find that misses a target (by the predictor on the relaxed structure)
    off_target_weight: float = Field(0.3, ge=0, le=1)
    # weight factor of a find of ion exchange or prototype decoration: the model is to learn
    # its own new frameworks, not to copy the known ones those sources re-decorate
    template_weight: float = Field(0.25, ge=0, le=1)
    # share of each batch from the model's training crystals (gendesign.alignment.tuning),
    # so that tens of finds move the model without making it forget the rest of chemistry
    replay_fraction: float = Field(0.5, ge=0, lt=1)
    replay_crystals: int = Field(2000, ge=0)  # how many training crystals take part


class ReportSection(StrictConfig):
    """What the report shows (regenerated at will; changing it recomputes nothing)."""

    top_n: int = Field(20, gt=0)  # candidates in the top-candidates table


class CampaignConfig(StrictConfig):
    """A whole campaign; see configs/campaign/demo.yaml for an annotated example."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # names the run folder outputs/<name>
    seed: int = 0  # every batch's seed derives from it: the same seed gives the same candidates
    out_dir: str | None = None  # default outputs/<name>
    store: str | None = None  # default <out_dir>/campaign.db; or postgresql://user@host/db
    data_root: str | None = (
        None  # mirror folder or URL; None: GENDESIGN_DATA, ../shared/data, else fetched
    )
    batch_size: int = Field(32, gt=0)  # candidates per task
    targets: dict[str, TargetRange] = Field(default_factory=dict)  # property → range
    elements: list[str] | None = None  # every one of these in every candidate
    within: bool = False  # true: any subset of two or more of ``elements`` will do
    exclude: list[str] | None = None  # none of these
    atoms: str | None = None  # atoms per cell, e.g. "4:20"
    # rounds of the whole pipeline; between rounds the generator learns from the finds
    # (see learning); each round makes generate.n candidates
    rounds: int = Field(1, ge=1)
    # what charge balanced means for the model, the template sources and the audit alike:
    # common (pymatgen's common and ICSD states), icsd (SMACT's ICSD-24), permissive (SMACT 2014)
    oxidation_states: OxidationPolicy = DEFAULT_POLICY
    # the reference hull of every E_hull (pre-screen, relaxation, judges, hull compositions):
    # full (MP-20, MPTS-52 and Materials Project formation energies aligned to MP-20) or
    # mp20 (MP-20 alone, as earlier figures); see relax.reference_hull
    hull: Literal["full", "mp20"] = "full"
    generate: GenerateSection = Field(default_factory=GenerateSection)
    audit: AuditSection = Field(default_factory=AuditSection)
    prescreen: PrescreenSection = Field(default_factory=PrescreenSection)
    screen: ScreenSection = Field(default_factory=ScreenSection)
    relax: RelaxSection = Field(default_factory=RelaxSection)
    judge: JudgeSection = Field(default_factory=JudgeSection)
    rank: RankSection = Field(default_factory=RankSection)
    learning: LearningSection = Field(default_factory=LearningSection)
    report: ReportSection = Field(default_factory=ReportSection)

    @field_validator("elements", "exclude")
    @classmethod
    def _symbols(cls, value: list[str] | None, info) -> list[str] | None:
        try:
            return parse_elements(value, info.field_name) or None
        except ConfigError as err:
            raise ValueError(str(err)) from None

    @field_validator("atoms")
    @classmethod
    def _atoms(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Range.parse(str(value), "atoms")
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return value

    @property
    def folder(self) -> Path:
        return Path(self.out_dir) if self.out_dir else Path("outputs") / self.name

    @property
    def store_url(self) -> str:
        return self.store or str(self.folder / "campaign.db")

    def constraints(self) -> Constraints:
        """The generation constraints (elements, atoms, targets)."""
        return Constraints(
            elements=list(self.elements or []),
            exclude=list(self.exclude or []),
            atoms=Range.parse(self.atoms, "atoms") if self.atoms else OPEN,
            targets=dict(self.targets),
            oxidation_states=self.oxidation_states,
            within=self.within,
        )

    def _hull_compositions(self) -> bool:
        sources = self.generate.sources or {"model": 1.0}
        return "model" in sources and self.generate.composition_mode(self.elements) == "hull"

    def stage_fingerprints(self) -> dict[str, str]:
        """Per stage, a hash of every field its results depend on (chained)."""
        shared = {
            "seed": self.seed,
            "batch_size": self.batch_size,
            "targets": self.targets,
            "elements": self.elements,
            "exclude": self.exclude,
            "atoms": self.atoms,
            "oxidation_states": self.oxidation_states,
        }
        if self.within:  # only when set: campaigns from before the field keep their hashes
            shared["within"] = True
        inputs: dict[str, Any] = {
            "generate": {**shared, "generate": self.generate}
            # the hull draws the model's compositions only when they come from the hull
            | ({"hull": self.hull} if self._hull_compositions() else {}),
            "audit": {"audit": self.audit},
            # the pre-screen's energies come from the relaxation potential; every later
            # stage follows it in the chain, so a new hull judges them all again
            "prescreen": {
                "prescreen": self.prescreen,
                "potential": [self.relax.potential, self.relax.potential_path],
                "hull": self.hull,
            },
            "screen": {"screen": self.screen},
            "relax": {"relax": self.relax},
            "reaudit": {},
            "judge": {"judge": self.judge},
            "rank": {"rank": self.rank},
        }
        fingerprints, previous = {}, ""
        for stage in STAGES:
            payload = {k: _plain(v) for k, v in inputs[stage].items()}
            text = json.dumps({"previous": previous, **payload}, sort_keys=True)
            previous = fingerprints[stage] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return fingerprints

    def stage_fields(self, stage: str) -> dict[str, Any]:
        """The dotted config fields ``stage`` depends on directly, with their values."""
        data = self.model_dump(mode="json")
        names = {
            "generate": [
                "seed",
                "batch_size",
                "targets",
                "elements",
                "within",
                "exclude",
                "atoms",
                "oxidation_states",
                "generate",
            ],
            "audit": ["audit"],
            "prescreen": ["prescreen", "relax", "hull"],
            "screen": ["screen"],
            "relax": ["relax"],
            "reaudit": [],
            "judge": ["judge"],
            "rank": ["rank"],
        }[stage]
        return {key: value for name in names for key, value in _flatten(name, data[name]).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, StrictConfig):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(f"{prefix}.{key}", item))
        return flat
    return {prefix: value}
