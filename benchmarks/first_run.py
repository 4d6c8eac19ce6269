"""From a bare cache to the demo's report: fetch, first load, campaign; and sampling speed.

python -m benchmarks.first_run [--before COMMIT] [--samples 1000]

Each side runs the README's main job (``gendesign campaign configs/campaign/demo.yaml``)
twice, as separate processes: first on an empty cache (``GENDESIGN_CACHE`` a fresh
folder: the first MP-20 load, the reference hull, the known-crystal descriptors), then
again warm (a new campaign folder). "After" is this checkout with no local mirror: its
data and weights come over HTTP from a local ``python -m http.server`` serving a copy
of what the defaults read (the way a site without a network runs it), fetched by
``gendesign data fetch`` first. "Before" is ``COMMIT`` (a git worktree), which reads a
local mirror folder (it has no fetching). Both in one run, on one machine, one after
the other. Sampling speed: ``--samples`` crystals from the bundled ``mp20`` model at its
default schedule (seed 0), timed around the sampling call alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.reporting import (
    ROOT,
    markdown_table,
    measurement_facts,
    update_section,
    write_result,
)
from gendesign.data.registry import default_entries
from gendesign.paths import resolve_mirror

NAME = "first_run"
DEMO = "configs/campaign/demo.yaml"
STAGE_LINE = re.compile(r"(\w+): (\d+) computed in ([\d.]+) s")
SAMPLING = """
import json, time
from gendesign.model.generator import Generator
generator = Generator.load("mp20")
generator.sample_table(20, seed=1)  # warm-up: first-call costs are not sampling speed
started = time.perf_counter()
structures, table = generator.sample_table({n}, seed=0)
seconds = time.perf_counter() - started
print(json.dumps({{"samples": len(structures), "seconds": seconds}}))
"""


def run(command: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    """Wall seconds and the combined output of one command (raises on failure)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout + done.stderr


def stage_seconds(output: str) -> dict[str, float]:
    return {name: float(seconds) for name, _, seconds in STAGE_LINE.findall(output)}


def demo_runs(tree: Path, env: dict, scratch: Path) -> dict:
    """The demo on an empty cache, then warm: wall seconds and stage seconds of each."""
    python = [sys.executable, "-m", "gendesign"]
    rows = {}
    for label in ("first", "warm"):
        seconds, output = run(
            [*python, "campaign", DEMO, "--out", str(scratch / f"demo-{label}")], tree, env
        )
        stages = stage_seconds(output)
        rows[label] = {
            "wall_s": round(seconds, 1),
            "stages_s": stages,
            "stage_total_s": round(sum(stages.values()), 1),
        }
    first, warm = rows["first"], rows["warm"]
    # what the empty cache costs: the first run's wall time beyond the warm run's
    rows["first_load_s"] = round(first["wall_s"] - warm["wall_s"], 1)
    return rows


def sampling_speed(tree: Path, env: dict, n: int) -> dict:
    _, output = run([sys.executable, "-c", SAMPLING.format(n=n)], tree, env)
    result = json.loads(output.strip().splitlines()[-1])
    result["samples_per_s"] = round(result["samples"] / result["seconds"], 1)
    result["seconds"] = round(result["seconds"], 1)
    return result


def mirror_copy(folder: Path) -> Path:
    """What the defaults read, copied from the local mirrors into ``folder/{data,models}``."""
    for item in default_entries():
        source = resolve_mirror(item.root).folder
        for file in item.files:
            target = folder / item.root / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / file.path, target)
    return folder


def side(tree: Path, env: dict, scratch: Path, samples: int, fetch: bool) -> dict:
    result: dict = {}
    if fetch:
        seconds, _ = run([sys.executable, "-m", "gendesign", "data", "fetch"], tree, env)
        result["fetch_s"] = round(seconds, 1)
    result |= demo_runs(tree, env, scratch)
    result["sampling"] = sampling_speed(tree, env, samples)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="Commit to compare with (a worktree).")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers.http_mirror import http_server

    facts = measurement_facts()
    data, models = resolve_mirror("data").folder, resolve_mirror("models").folder
    results: dict = {"samples": args.samples}
    with tempfile.TemporaryDirectory(prefix="gendesign-first-run-") as scratch_name:
        scratch = Path(scratch_name)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("GENDESIGN_")}
        if args.before:
            tree = scratch / "before-tree"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), args.before],
                cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
            try:
                env = base_env | {
                    "GENDESIGN_CACHE": str(scratch / "cache-before"),
                    "GENDESIGN_DATA": str(data),
                    "GENDESIGN_MODELS": str(models),
                    "PYTHONPATH": str(tree),
                }
                results["before"] = {"commit": args.before[:7], "mirror": "local folder"}
                results["before"] |= side(tree, env, scratch / "before", args.samples, False)
            finally:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
                )
        served = mirror_copy(scratch / "served")
        with http_server(served) as url:
            env = base_env | {
                "GENDESIGN_CACHE": str(scratch / "cache-after"),
                "GENDESIGN_DATA": f"{url}/data",
                "GENDESIGN_MODELS": f"{url}/models",
                "PYTHONPATH": str(ROOT),
            }
            results["after"] = {"commit": facts["commit"], "mirror": "http (local server)"}
            results["after"] |= side(ROOT, env, scratch / "after", args.samples, True)
    results["measured"] = {"first run, demo and sampling `before and after`": facts}
    write_result(NAME, results)
    write_tables(results)
    print(json.dumps(results, indent=2))


def write_tables(results: dict) -> None:
    sides = [s for s in ("before", "after") if s in results]
    stages = sorted({st for s in sides for run in ("first", "warm") for st in results[s][run]["stages_s"]},
                    key=["generate", "audit", "prescreen", "screen", "relax", "reaudit", "judge", "rank"].index)  # fmt: skip
    header = ["", *[f"{s} ({results[s]['commit']}, {results[s]['mirror']})" for s in sides]]
    rows = [
        ["fetch (`gendesign data fetch`, 28.5 MB)", *[_s(results[s].get("fetch_s")) for s in sides]],
        ["first demo, empty cache (wall)", *[_s(results[s]["first"]["wall_s"]) for s in sides]],
        ["of which the first load (first − warm)", *[_s(results[s]["first_load_s"]) for s in sides]],
        ["warm demo (wall)", *[_s(results[s]["warm"]["wall_s"]) for s in sides]],
        ["warm demo, in its stages", *[_s(results[s]["warm"]["stage_total_s"]) for s in sides]],
        *[[f"  {stage}", *[_s(results[s]["warm"]["stages_s"].get(stage)) for s in sides]] for stage in stages],
        ["sampling, samples/s (mp20, default schedule)",
         *[f"{results[s]['sampling']['samples_per_s']:.1f}" for s in sides]],
    ]  # fmt: skip
    body = (
        "The README's main job from an empty cache and again warm, and the bundled model's "
        f"sampling speed ({results['samples']} samples, seed 0), old and new code one after "
        "the other on the same machine (`python -m benchmarks.first_run --before COMMIT`). "
        "After: no local mirror; data and weights come over HTTP from a local "
        "`python -m http.server`, fetched and checked first. Before: the local mirror folder "
        "(that code has no fetching). The install (about 2 minutes) is not included.\n\n"
        + markdown_table(header, rows)
        + "\n\nTargets: first demo on an empty cache ≤ 180 s, warm demo ≤ 60 s, ≥ 30 samples/s."
    )
    update_section(NAME, "From a bare cache to the report", body)


def _s(value) -> str:
    return "–" if value is None else f"{value:.1f} s"


if __name__ == "__main__":
    main()
