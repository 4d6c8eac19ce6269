"""The independent property judge: an ensemble that reads the composition only.

A campaign screens and steers with the GNN ensemble (:mod:`predictors.inference`,
trained on the mp20-reduced training crystals, MP-20's val split). Grading the
finals with that same ensemble grades it against itself. This judge shares neither
its data nor its input: it is trained on MP-20's **train** split (27,136
compositions, the split the GNN never saw; MP-20 test stays held out for the
benchmark) and sees only Magpie element-property statistics of the composition
(matminer), so nothing the steering did to a structure can fool it.

The bundle is one ``model.pt`` of plain tensors and numbers (read with
``weights_only=True``) beside its training summary::

    python -m predictors.composition --out predictors/composition_models/mp20
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Composition
from torch import nn

from gendesign.errors import InputError
from gendesign.torch_files import load_payload

BUNDLED_DIR = Path(__file__).parent / "composition_models"
TARGETS = ("band_gap", "formation_energy_per_atom")
UNITS = {"band_gap": "eV", "formation_energy_per_atom": "eV/atom"}
# MatterGen cache names of the targets
_CACHE_COLUMNS = {
    "band_gap": "dft_band_gap",
    "formation_energy_per_atom": "formation_energy_per_atom",
}


@cache
def _featurizer():
    from matminer.featurizers.composition import ElementProperty

    return ElementProperty.from_preset("magpie", impute_nan=True)


def composition_features(compositions: Sequence[Composition]) -> np.ndarray:
    """Magpie statistics (132 per composition), computed once per reduced formula."""
    featurizer = _featurizer()
    rows: dict[str, np.ndarray] = {}
    out = np.empty((len(compositions), 132))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, composition in enumerate(compositions):
            formula = composition.reduced_formula
            if formula not in rows:
                rows[formula] = np.asarray(featurizer.featurize(composition), dtype=float)
            out[k] = rows[formula]
    return np.nan_to_num(out)


def _network(inputs: int, outputs: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(inputs, hidden),
        nn.SiLU(),
        nn.Linear(hidden, hidden),
        nn.SiLU(),
        nn.Linear(hidden, outputs),
    )


@dataclass
class CompositionJudge:
    """An ensemble of small MLPs on composition features; σ is the members' spread."""

    targets: tuple[str, ...]
    hidden: int
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    target_mean: torch.Tensor
    target_std: torch.Tensor
    members: list[nn.Module]
    name: str = "mp20-composition"

    def predict(self, compositions: Sequence[Composition]) -> pd.DataFrame:
        """``<target>`` (ensemble mean) and ``<target>_std`` per composition."""
        if not compositions:
            return pd.DataFrame(columns=[c for t in self.targets for c in (t, f"{t}_std")])
        x = torch.as_tensor(composition_features(compositions), dtype=torch.float32)
        x = (x - self.feature_mean) / self.feature_std
        with torch.no_grad():
            outputs = torch.stack([member(x) for member in self.members])
        outputs = outputs * self.target_std + self.target_mean
        if "band_gap" in self.targets:  # a gap is never negative
            column = self.targets.index("band_gap")
            outputs[..., column] = outputs[..., column].clamp(min=0)
        mean, std = outputs.mean(0).numpy(), outputs.std(0).numpy()
        table = {}
        for k, target in enumerate(self.targets):
            table[target] = mean[:, k]
            table[f"{target}_std"] = std[:, k]
        return pd.DataFrame(table)

    def save(self, path: Path, training: dict) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "kind": "gendesign composition judge",
                "name": self.name,
                "targets": list(self.targets),
                "hidden": self.hidden,
                "feature_mean": self.feature_mean,
                "feature_std": self.feature_std,
                "target_mean": self.target_mean,
                "target_std": self.target_std,
                "members": [member.state_dict() for member in self.members],
                "training": training,
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> CompositionJudge:
        """A saved judge (tensors and plain values only: no code in it runs); a missing or
        foreign file raises one sentence."""
        payload = load_payload(path, "composition judge")
        if payload.get("kind") != "gendesign composition judge":
            raise InputError(f"{path}: not a gendesign composition judge")
        targets = tuple(payload["targets"])
        members = []
        for state in payload["members"]:
            member = _network(payload["feature_mean"].numel(), len(targets), payload["hidden"])
            member.load_state_dict(state)
            members.append(member.eval())
        return cls(
            targets,
            payload["hidden"],
            payload["feature_mean"],
            payload["feature_std"],
            payload["target_mean"],
            payload["target_std"],
            members,
            payload["name"],
        )


@cache
def bundled_judge(name: str = "mp20") -> CompositionJudge:
    """The bundled composition judge ``name``."""
    return CompositionJudge.load(BUNDLED_DIR / name / "model.pt")


def train_judge(
    compositions: Sequence[Composition],
    values: np.ndarray,
    targets: tuple[str, ...] = TARGETS,
    members: int = 5,
    hidden: int = 256,
    epochs: int = 200,
    patience: int = 20,
    holdout: float = 0.05,
    seed: int = 0,
) -> tuple[CompositionJudge, dict]:
    """Fit ``members`` MLPs (seeds ``seed``..) on ``values`` (rows × targets; L1 loss),
    each stopped early on a seeded ``holdout`` share; returns the judge and a summary."""
    x = torch.as_tensor(composition_features(compositions), dtype=torch.float32)
    y = torch.as_tensor(values, dtype=torch.float32)
    feature_mean, feature_std = x.mean(0), x.std(0).clamp(min=1e-6)
    target_mean, target_std = y.mean(0), y.std(0)
    x, y = (x - feature_mean) / feature_std, (y - target_mean) / target_std
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    held = order[: int(holdout * len(x))]
    train = order[int(holdout * len(x)) :]
    nets, logs = [], []
    for member in range(members):
        torch.manual_seed(seed + member)
        net = _network(x.shape[1], y.shape[1], hidden)
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        best, best_state, waited, ran = float("inf"), None, 0, 0
        while ran < epochs and waited < patience:
            ran += 1
            net.train()
            for batch in train[torch.randperm(len(train))].split(256):
                optimizer.zero_grad()
                loss = (net(x[batch]) - y[batch]).abs().mean()
                loss.backward()
                optimizer.step()
            net.eval()
            with torch.no_grad():
                error = ((net(x[held]) - y[held]).abs() * target_std).mean(0)
            if error.sum() < best - 1e-5:
                best, waited = float(error.sum()), 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
                best_errors = error.tolist()
            else:
                waited += 1
        net.load_state_dict(best_state)
        nets.append(net.eval())
        logs.append({"epochs": ran, "holdout_mae": dict(zip(targets, best_errors, strict=True))})
    judge = CompositionJudge(
        targets, hidden, feature_mean, feature_std, target_mean, target_std, nets
    )
    return judge, {"members": logs, "n_train": len(train), "n_holdout": len(held), "seed": seed}


def main(argv: list[str] | None = None) -> None:
    from gendesign.data.fetching import data_path
    from gendesign.data.readers import read_mattergen_compositions
    from gendesign.data.registry import MP20_CACHE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR / "mp20")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--members", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    folder = data_path(MP20_CACHE / "train", args.data_root)
    _, compositions, table = read_mattergen_compositions(
        folder, [_CACHE_COLUMNS[t] for t in TARGETS]
    )
    values = table[[_CACHE_COLUMNS[t] for t in TARGETS]].to_numpy(float)
    judge, summary = train_judge(compositions, values, members=args.members)
    summary.update(
        data="MP-20 train split (MatterGen cache, compositions only), 5 % held out",
        targets={t: UNITS[t] for t in TARGETS},
        seconds=round(time.perf_counter() - started, 1),
    )
    path = judge.save(args.out / "model.pt", summary)
    (args.out / "training_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{path}: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
