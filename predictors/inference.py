"""Applying trained predictors to structures: batched, ensemble mean and spread.

>>> predictor = Predictor.pretrained("mp20")                          # doctest: +SKIP
>>> predictor = Predictor.from_checkpoint(["seed0.pt", "seed1.pt"])   # doctest: +SKIP
>>> predictor.predict(structures)      # id, <target>_mean, <target>_std, error
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure
from torch_geometric.loader import DataLoader

from gendesign.data.arrays import CrystalArrays
from gendesign.data.crystal_set import CrystalSet
from gendesign.data.validation import check_structure
from gendesign.errors import InputError, StructureError
from gendesign.graphs.neighbors import radius_graph_for_batch
from gendesign.nn.pretrained import BundledModels
from gendesign.ranges import Range
from predictors.calibration import CalibrationRecord
from predictors.model import PredictorCheckpoint, load_predictor_checkpoint

# Bundled ensembles: pretrained/<name>/member*.pt, with their config and training summary.
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
BUNDLED = BundledModels(PRETRAINED_DIR, "member*.pt", "predictor")


class Predictor:
    """One checkpoint or an ensemble of them (same targets and element vocabulary)."""

    def __init__(
        self,
        members: Sequence[PredictorCheckpoint],
        device: str | None = None,
        calibration: CalibrationRecord | None = None,
    ):
        """``device``: "cpu", "cuda", ...; None picks CUDA when present. ``calibration``:
        how each target's ensemble spread becomes a calibrated σ (:mod:`predictors.calibration`)."""
        if not members:
            raise InputError("a predictor needs at least one checkpoint")
        first = members[0]
        for member in members[1:]:
            if member.model.targets != first.model.targets:
                raise InputError(
                    "ensemble members predict different targets "
                    f"({first.model.targets} vs {member.model.targets})"
                )
            first.model.vocabulary.check_compatible(member.model.vocabulary, "an ensemble member")
        self.members = list(members)
        self.targets = first.model.targets
        self.units = first.model.units
        self.vocabulary = first.model.vocabulary
        self.calibration = calibration
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        for member in self.members:
            member.model.to(self.device).eval()
        self._graph_groups: dict[tuple[float, int | None], list[int]] = {}
        for m, member in enumerate(self.members):
            config = member.model.network.config
            self._graph_groups.setdefault((config.cutoff, config.max_neighbors), []).append(m)

    @classmethod
    def from_checkpoint(
        cls, paths: str | Path | Sequence[str | Path], device: str | None = None
    ) -> Predictor:
        """Load one checkpoint file or several (an ensemble)."""
        if isinstance(paths, str | Path):
            paths = [paths]
        return cls([load_predictor_checkpoint(p) for p in paths], device)

    @classmethod
    def load(cls, spec: str | Path | Sequence[str | Path], device: str | None = None) -> Predictor:
        """A bundled ensemble by name (calibrated), or checkpoint path(s)."""
        name = BUNDLED.name_of(spec) if isinstance(spec, str | Path) else None
        return cls.pretrained(name, device) if name else cls.from_checkpoint(spec, device)

    @classmethod
    def pretrained(
        cls, name: str = "mp20", device: str | None = None, calibrated: bool = True
    ) -> Predictor:
        """A bundled ensemble by name (see ``BUNDLED.names()``), with the σ
        calibration stored beside it unless ``calibrated`` is False."""
        members = BUNDLED.files(name)
        calibration = CalibrationRecord.load(PRETRAINED_DIR / name) if calibrated else None
        return cls([load_predictor_checkpoint(p) for p in members], device, calibration)

    def unsupported_reason(self, structure: Structure) -> str:
        """Why this predictor cannot judge ``structure`` (one sentence), or ""."""
        try:
            check_structure(structure)  # empty, NaN, degenerate or disordered
        except StructureError as err:
            return err.reason
        unknown = sorted(
            {site.specie.symbol for site in structure if site.specie.Z not in self.vocabulary}
        )
        if unknown:
            return f"element(s) {', '.join(unknown)} not in the predictor's training data"
        return ""

    @torch.no_grad()
    def predict(
        self, structures: Sequence[Structure] | CrystalSet, batch_size: int = 256
    ) -> pd.DataFrame:
        """One row per structure: ``id``, ``<target>_mean``, ``<target>_spread`` (the
        ensemble's standard deviation; 0 for a single model), ``<target>_std`` (σ: the
        spread calibrated, when the predictor has a calibration, else the spread) in
        the targets' units, and ``error`` (why a row is NaN; empty otherwise). Items a
        CrystalSet could not read come last, with their reason."""
        crystals = (
            structures
            if isinstance(structures, CrystalSet)
            else CrystalSet([str(i) for i in range(len(structures))], list(structures))
        )
        errors = [self.unsupported_reason(s) for s in crystals.structures]
        usable = [i for i, e in enumerate(errors) if not e]
        values = np.full((len(self.members), len(crystals), len(self.targets)), np.nan)
        if usable:
            arrays = CrystalArrays.from_crystal_set(crystals.subset(usable), property_names=[])
            outputs = [self._predict_batch(batch) for batch in DataLoader(arrays, batch_size)]
            values[:, usable] = torch.cat(outputs, dim=1).double().numpy()
        mean = values.mean(axis=0)
        # Sample standard deviation over members (ddof=1); one model has no spread.
        std = values.std(axis=0, ddof=1) if len(self.members) > 1 else mean * 0.0
        table = pd.DataFrame({"id": crystals.ids})
        for k, target in enumerate(self.targets):
            table[f"{target}_mean"] = mean[:, k]
            table[f"{target}_std"] = self.sigma(target, std[:, k], mean[:, k])
            table[f"{target}_spread"] = std[:, k]
        table["error"] = errors
        unreadable = pd.DataFrame(
            {
                "id": [item.item_id for item in crystals.skipped],
                "error": [item.reason for item in crystals.skipped],
            }
        )
        return pd.concat([table, unreadable], ignore_index=True) if len(unreadable) else table

    def sigma(self, target: str, spread: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """The calibrated σ of ``target`` for ensemble spreads ``spread`` at predicted
        values ``mean`` (the spread itself without a calibration for it)."""
        if self.calibration is None or target not in self.calibration.targets:
            return spread
        return self.calibration.targets[target].apply(spread, mean)

    def _predict_batch(self, batch) -> torch.Tensor:
        """(members, crystals, targets) in physical units. Members sharing a neighbour
        graph definition share one neighbour search."""
        batch = batch.to(self.device)
        values = [None] * len(self.members)
        for (cutoff, max_neighbors), indices in self._graph_groups.items():
            graph = radius_graph_for_batch(batch, cutoff, max_neighbors)
            batch.edge_index, batch.edge_distance = graph.edge_index, graph.distances
            for m in indices:
                values[m] = self.members[m].model(batch)
        return torch.stack(values).cpu()

    def estimate_columns(
        self, structures: Sequence[Structure], targets: Mapping[str, Range] | None = None
    ) -> pd.DataFrame:
        """Per structure (input order): ``<target>_gnn`` (ensemble mean), ``<target>_gnn_std``
        (calibrated σ) and, for each of ``targets`` this predictor covers,
        ``meets_<target>_gnn`` (the mean inside the range)."""
        estimates = self.predict(structures)
        columns = pd.DataFrame(index=range(len(structures)))
        for name in self.targets:
            columns[f"{name}_gnn"] = estimates[f"{name}_mean"].to_numpy()
            columns[f"{name}_gnn_std"] = estimates[f"{name}_std"].to_numpy()
            if targets and name in targets:
                columns[f"meets_{name}_gnn"] = [
                    targets[name].contains(v) for v in columns[f"{name}_gnn"]
                ]
        return columns

    def property_function(self):
        """Structures → table of predicted means, the shape the audit's property hook takes."""

        def predict_means(structures: Sequence[Structure]) -> pd.DataFrame:
            table = self.predict(structures)
            return pd.DataFrame({t: table[f"{t}_mean"] for t in self.targets})

        return predict_means
