"""Named datasets, their evaluation protocol, and loading with the on-disk cache.

Protocol (see docs/data.md): where the public train split of a dataset is not
available with positions, the dataset trains on its published *val* split (with a
seeded holdout for early stopping) and is evaluated on its published *test* split;
MP-20 results are then labelled ``mp20-reduced``. When MP-20's train split with
positions is present (``gendesign data fetch mp20-train``, or a mirror holding
``mp_20/train.csv``), MP-20 trains on it, keeps val as its holdout, and its results
are labelled ``mp20``.

>>> data = load_dataset("perov5")            # doctest: +SKIP
>>> data.splits["train"][0]                  # a CrystalGraph
>>> data.crystal_set("test").structures[0]   # a pymatgen Structure
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from gendesign.config import validate_config
from gendesign.data.arrays import CrystalArrays
from gendesign.data.cache import DatasetCache, cache_key
from gendesign.data.crystal_set import CrystalSet, SkippedItem, write_skipped_csv
from gendesign.data.fetching import data_path, local_copy
from gendesign.data.preprocess import DataConfig, preprocess
from gendesign.data.readers import read_cdvae_csv, read_mattergen_cache
from gendesign.data.registry import MP20_TRAIN_CSV
from gendesign.data.scalers import StandardScaler
from gendesign.data.vocabulary import ElementVocabulary
from gendesign.errors import ConfigError, InputError
from gendesign.paths import resolve_cache_dir

log = logging.getLogger(__name__)

SPLITS = ("train", "holdout", "test")


@dataclass(frozen=True)
class PropertySpec:
    """A property column: our name, its unit, and the column it comes from."""

    name: str
    unit: str
    description: str
    source_column: str
    source_scale: float = 1.0  # our value = source value × this (e.g. -1 where a file stores -Tc)
    csv_column: str | None = None  # for array-format datasets: the column in CDVAE's CSV, if any


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's splits live (relative to the data root) and what they carry."""

    name: str
    description: str
    reader: str  # "mattergen_cache" or "cdvae_csv"
    sources: dict[str, str]  # split -> path; without "holdout", it is drawn from train
    properties: tuple[PropertySpec, ...]
    targets: tuple[str, ...]  # the properties models learn by default
    max_atoms: int | None
    protocol: str  # label for results, e.g. "mp20-reduced"
    # The published train split with positions, when it is on this machine, replaces
    # ``sources`` under the protocol ``full_protocol`` (split -> path, as sources).
    full_sources: dict[str, str] | None = None
    full_protocol: str | None = None

    @property
    def property_names(self) -> list[str]:
        return [p.name for p in self.properties]

    def unit(self, name: str) -> str:
        return next(p.unit for p in self.properties if p.name == name)


_MP20_PROPERTIES = (
    PropertySpec(
        "formation_energy_per_atom",
        "eV/atom",
        "DFT formation energy",
        "formation_energy_per_atom",
        csv_column="formation_energy_per_atom",
    ),
    PropertySpec("band_gap", "eV", "DFT (PBE) band gap", "dft_band_gap", csv_column="band_gap"),
    PropertySpec("magnetic_density", "μB/Å³", "DFT magnetisation per volume", "dft_mag_density"),
    PropertySpec("bulk_modulus", "GPa", "DFT bulk modulus (mostly missing)", "dft_bulk_modulus"),
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mp20",
            description="MP-20: Materials Project crystals with at most 20 atoms per cell",
            reader="mattergen_cache",
            sources={"train": "mp_20/mattergen_cache/val", "test": "mp_20/mattergen_cache/test"},
            properties=_MP20_PROPERTIES,
            targets=("formation_energy_per_atom", "band_gap"),
            max_atoms=20,
            protocol="mp20-reduced",
            full_sources={
                "train": str(MP20_TRAIN_CSV),
                "holdout": "mp_20/mattergen_cache/val",
                "test": "mp_20/mattergen_cache/test",
            },
            full_protocol="mp20",
        ),
        DatasetSpec(
            name="perov5",
            description="Perov-5: cubic perovskites ABX3, 5 atoms per cell",
            reader="cdvae_csv",
            sources={"train": "perov_5/val.csv", "test": "perov_5/test.csv"},
            properties=(
                PropertySpec(
                    "heat_ref", "eV", "heat of formation vs references (CDVAE target)", "heat_ref"
                ),
                PropertySpec("heat_all", "eV", "heat of formation vs all elements", "heat_all"),
                PropertySpec("dir_gap", "eV", "direct band gap (GLLB-SC)", "dir_gap"),
                PropertySpec("ind_gap", "eV", "indirect band gap (GLLB-SC)", "ind_gap"),
            ),
            targets=("heat_ref",),
            max_atoms=20,
            protocol="perov5-valtrain",
        ),
        DatasetSpec(
            name="carbon24",
            description="Carbon-24: carbon allotropes with 6-24 atoms per cell",
            reader="cdvae_csv",
            sources={"train": "carbon_24/val.csv", "test": "carbon_24/test.csv"},
            properties=(
                PropertySpec(
                    "energy_per_atom", "eV/atom", "DFT energy per atom", "energy_per_atom"
                ),
            ),
            targets=("energy_per_atom",),
            max_atoms=24,
            protocol="carbon24-valtrain",
        ),
        DatasetSpec(
            name="mpts52",
            description="MPTS-52: Materials Project crystals with at most 52 atoms, time-split",
            reader="cdvae_csv",
            sources={"train": "mpts_52/val.csv.gz", "test": "mpts_52/test.csv.gz"},
            properties=(
                PropertySpec(
                    "formation_energy_per_atom",
                    "eV/atom",
                    "DFT formation energy",
                    "formation_energy_per_atom",
                ),
                PropertySpec(
                    "energy_above_hull", "eV/atom", "DFT energy above hull", "energy_above_hull"
                ),
            ),
            targets=("formation_energy_per_atom",),
            max_atoms=52,
            protocol="mpts52-valtrain",
        ),
        DatasetSpec(
            name="supercon",
            description="SuperCon (JARVIS): superconductors with electron-phonon Tc",
            reader="cdvae_csv",
            sources={
                "train": "supercon/train.csv",
                "holdout": "supercon/val.csv",
                "test": "supercon/test.csv",
            },
            # The CDVAE files store -Tc (CDVAE minimises its target); we give Tc itself.
            properties=(
                PropertySpec("tc", "K", "critical temperature", "prop", source_scale=-1.0),
            ),
            targets=("tc",),
            max_atoms=None,
            protocol="supercon",
        ),
    )
}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of a named dataset, or one sentence listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(
            f"unknown dataset '{name}'; known datasets: {', '.join(DATASETS)}"
        ) from None


@dataclass
class PreparedDataset:
    """A named dataset, preprocessed: splits as tensors plus what models need to use them."""

    spec: DatasetSpec
    config: DataConfig
    splits: dict[str, CrystalArrays]
    vocabulary: ElementVocabulary  # elements of the train split
    lattice_scaler: StandardScaler  # fit on train: a, b, c (Å), α, β, γ (degrees)
    property_scaler: StandardScaler  # fit on train, NaN-aware
    protocol: str  # e.g. "mp20" with MP-20's train split, "mp20-reduced" without
    published_splits: dict[str, str]  # our split -> the published split it comes from
    skipped: list[SkippedItem] = field(default_factory=list)
    cache_path: Path | None = None
    from_cache: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def property_names(self) -> list[str]:
        return self.spec.property_names

    @property
    def skipped_csv(self) -> Path | None:
        return self.cache_path.with_suffix(".skipped.csv") if self.cache_path else None

    def require_properties(self, names: list[str], what: str) -> list[str]:
        """``names`` unchanged, or one sentence naming those this dataset lacks."""
        unknown = [name for name in names if name not in self.property_names]
        if unknown:
            raise ConfigError(
                f"{what}: {', '.join(unknown)} not in dataset '{self.name}' "
                f"(properties: {', '.join(self.property_names)})"
            )
        return list(names)

    def training_subset(self, max_crystals: int | None, seed: int) -> CrystalArrays:
        """The train split, or a seeded random subset of ``max_crystals`` of it."""
        train = self.splits["train"]
        if max_crystals and max_crystals < len(train):
            generator = torch.Generator().manual_seed(seed)
            train = train.subset(torch.randperm(len(train), generator=generator)[:max_crystals])
        return train

    def crystal_set(self, split: str) -> CrystalSet:
        """A split as pymatgen Structures with property columns."""
        return self._split(split).to_crystal_set(source=f"{self.name}/{split}")

    def loader(
        self, split: str, batch_size: int = 64, shuffle: bool = False, seed: int = 0
    ) -> DataLoader:
        """A PyG DataLoader over CrystalGraphs of ``split`` (seeded when shuffling)."""
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(
            self._split(split), batch_size=batch_size, shuffle=shuffle, generator=generator
        )

    def _split(self, split: str) -> CrystalArrays:
        if split not in self.splits:
            raise InputError(
                f"dataset '{self.name}' has no split '{split}'; splits: {', '.join(self.splits)}"
            )
        return self.splits[split]


def load_dataset(
    dataset: str | DataConfig = "mp20", *, use_cache: bool = True, **options
) -> PreparedDataset:
    """Load a named dataset, from the cache when its sources and options are unchanged.

    ``options`` are :class:`DataConfig` fields (``data_root``, ``max_atoms``, ``niggli``...).
    """
    base = dataset.model_dump() if isinstance(dataset, DataConfig) else {"dataset": dataset}
    config = validate_config(DataConfig, {**base, **options}, source="load_dataset")
    spec = get_dataset_spec(config.dataset)
    relative, protocol = dataset_sources(spec, config.data_root)
    sources = {split: data_path(path, config.data_root) for split, path in relative.items()}
    published = {split: Path(path).name.split(".")[0] for split, path in relative.items()}
    published.setdefault("holdout", published["train"])
    max_atoms = config.max_atoms if config.max_atoms is not None else spec.max_atoms
    options = config.content_options(max_atoms)
    scales = {p.name: p.source_scale for p in spec.properties if p.source_scale != 1.0}
    if scales:  # only then, so datasets without rescaled columns keep their cache
        options["property_scales"] = scales
    key = cache_key(spec.name, sources, options)
    cache = DatasetCache(resolve_cache_dir(config.cache_dir))

    payload = cache.load(spec.name, key) if use_cache else None
    from_cache = payload is not None
    if payload is None:
        log.info("processing %s (first load; cached afterwards)", spec.name)
        payload = _process(spec, config, sources, max_atoms)
        cache.save(spec.name, key, payload)
    prepared = _from_payload(
        spec, config, payload, cache.path(spec.name, key), from_cache, protocol, published
    )
    if prepared.skipped and not from_cache:
        write_skipped_csv(prepared.skipped, prepared.skipped_csv)
        log.warning(
            "%d item(s) skipped; reasons per row in %s", len(prepared.skipped), prepared.skipped_csv
        )
    return prepared


def dataset_sources(
    spec: DatasetSpec, data_root: str | Path | None = None
) -> tuple[dict[str, str], str]:
    """The split sources to read (relative to the data root) and the protocol they make:
    the full ones when the published train split is already on this machine (it is not
    downloaded for this), else the reduced ones."""
    if spec.full_sources and all(
        local_copy("data", path, data_root) is not None for path in spec.full_sources.values()
    ):
        return spec.full_sources, spec.full_protocol
    return spec.sources, spec.protocol


# --------------------------------------------------------------------------- processing


def _process(
    spec: DatasetSpec, config: DataConfig, sources: dict[str, Path], max_atoms: int | None
) -> dict:
    sets = {split: _read_source(spec, path) for split, path in sources.items()}
    sets = {split: preprocess(crystals, config, max_atoms) for split, crystals in sets.items()}
    skipped = [item for crystals in sets.values() for item in crystals.skipped]
    arrays = {
        split: CrystalArrays.from_crystal_set(crystals, spec.property_names)
        for split, crystals in sets.items()
    }
    if "holdout" not in arrays:
        arrays["train"], arrays["holdout"] = _draw_holdout(
            arrays["train"], config.holdout_fraction, config.seed
        )
    train = arrays["train"]
    if len(train) == 0:
        raise InputError(
            f"dataset '{spec.name}': no usable training structures after preprocessing"
        )
    return {
        "splits": {split: arrays[split].state_dict() for split in SPLITS},
        "vocabulary": ElementVocabulary(train.atom_types.unique().tolist()).symbols,
        "lattice_scaler": StandardScaler.fit(
            train.lattice_params(), ["a", "b", "c", "alpha", "beta", "gamma"]
        ).state_dict(),
        "property_scaler": StandardScaler.fit(train.properties, spec.property_names).state_dict(),
        "skipped": [(s.source, s.item_id, s.reason) for s in skipped],
    }


def _read_source(spec: DatasetSpec, path: Path) -> CrystalSet:
    """A split's crystals with our property names; an array-format dataset's split may come
    as CDVAE's CSV (MP-20's train), whose columns are ``csv_column`` (absent ones: NaN)."""
    if path.is_dir():
        columns = {p.source_column: p.name for p in spec.properties}
        crystals = read_mattergen_cache(path, properties=list(columns))
    else:
        columns = {
            (p.csv_column if spec.reader == "mattergen_cache" else p.source_column): p.name
            for p in spec.properties
        }
        columns.pop(None, None)
        crystals = read_cdvae_csv(path, property_columns=list(columns))
    crystals.properties = crystals.properties.rename(columns=columns)
    for prop in spec.properties:
        if prop.name not in crystals.properties:
            crystals.properties[prop.name] = np.nan
    crystals.properties = crystals.properties[spec.property_names]
    for prop in spec.properties:
        crystals.properties[prop.name] *= prop.source_scale
    return crystals


def _draw_holdout(
    train: CrystalArrays, fraction: float, seed: int
) -> tuple[CrystalArrays, CrystalArrays]:
    """Split off a seeded random ``fraction`` of train; both parts keep their original order."""
    order = np.random.default_rng(seed).permutation(len(train))
    n_holdout = int(round(fraction * len(train)))
    holdout = np.sort(order[:n_holdout])
    kept = np.sort(order[n_holdout:])
    return train.subset(kept.tolist()), train.subset(holdout.tolist())


def _from_payload(
    spec: DatasetSpec,
    config: DataConfig,
    payload: dict,
    path: Path,
    from_cache: bool,
    protocol: str,
    published_splits: dict[str, str],
) -> PreparedDataset:
    return PreparedDataset(
        spec=spec,
        config=config,
        protocol=protocol,
        published_splits=published_splits,
        splits={s: CrystalArrays.from_state_dict(state) for s, state in payload["splits"].items()},
        vocabulary=ElementVocabulary.from_symbols(payload["vocabulary"]),
        lattice_scaler=StandardScaler.from_state_dict(payload["lattice_scaler"]),
        property_scaler=StandardScaler.from_state_dict(payload["property_scaler"]),
        skipped=[SkippedItem(*row) for row in payload["skipped"]],
        cache_path=path,
        from_cache=from_cache,
    )
