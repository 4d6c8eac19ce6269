"""Fitting the σ calibration of a bundled ensemble on its holdout split.

python -m predictors.recalibrate NAME [--data-root DIR]

Writes ``predictors/pretrained/NAME/calibration.json`` (:mod:`predictors.calibration`)
and prints each target's fit with the 1σ/2σ coverage before and after.
"""

from __future__ import annotations

import argparse

import numpy as np

from gendesign.data.datasets import load_dataset
from predictors.calibration import calibrate
from predictors.inference import PRETRAINED_DIR, Predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a bundled ensemble, e.g. mp20")
    parser.add_argument("--data-root")
    args = parser.parse_args()
    predictor = Predictor.pretrained(args.name, calibrated=False)
    dataset = predictor.members[0].dataset
    holdout = load_dataset(dataset, data_root=args.data_root).crystal_set("holdout")
    table = predictor.predict(holdout)
    error, std, mean = {}, {}, {}
    for target in predictor.targets:
        true = holdout.properties[target].to_numpy()
        predicted = table[f"{target}_mean"].to_numpy()[: len(true)]
        usable = np.isfinite(true) & np.isfinite(predicted)
        error[target] = (predicted - true)[usable]
        mean[target] = predicted[usable]
        std[target] = table[f"{target}_spread"].to_numpy()[: len(true)][usable]
    record = calibrate(error, std, mean, f"{dataset} holdout ({len(holdout)} crystals)")
    print(record.save(PRETRAINED_DIR / args.name))
    for target, fit in record.targets.items():
        print(
            f"{target}: scale {fit.scale:.3f}, floor {fit.floor:.4f}, slope {fit.slope:.4f}; "
            f"1σ/2σ coverage "
            f"{record.coverage_before[target]} → {record.coverage_after[target]}"
        )


if __name__ == "__main__":
    main()
