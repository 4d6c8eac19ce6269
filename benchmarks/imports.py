"""The import graph: modules, import edges, cycles, and the layers contract.

    python -m benchmarks.imports [--before PATH]    # PATH: a checkout of an earlier commit

Counts every import (lazy ones inside functions too) between the modules of
gendesign, predictors and relax with grimp, finds import cycles, and runs the
import-linter contract of pyproject.toml. Results: benchmarks/results/imports.json
and the BENCHMARKS.md section.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

from benchmarks.reporting import ROOT, markdown_table, publish, side_by_side, update_section

PACKAGES = ("gendesign", "predictors", "relax")
# This checkout (its tests and layers contract), also when measuring another one's code.
CONTRACT_ROOT = Path(__file__).resolve().parents[1]


def measure() -> dict:
    """The figures of the code on the import path (this checkout, or ``--before``'s)."""
    sys.path.insert(0, str(CONTRACT_ROOT / "tests"))
    from test_architecture import import_cycles  # the suite's own cycle finder

    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    edges = sum(len(graph.find_modules_directly_imported_by(m)) for m in graph.modules)
    return {
        "modules": len(graph.modules),
        "import_edges": edges,
        "cycles": import_cycles(graph),
        "layer_violations": layer_violations(graph),
    }


def layer_violations(graph) -> list[str]:
    """Imports against this checkout's layers contract (``importer -> imported``)."""
    pyproject = (CONTRACT_ROOT / "pyproject.toml").read_text()
    contract = tomllib.loads(pyproject)["tool"]["importlinter"]
    layers = []
    for text in contract["contracts"][0]["layers"]:
        names = [n.strip() for n in text.split("|")]
        present = [n for n in names if n in graph.modules]
        if present:
            layers.append(grimp.Layer(*present, independent=True))
    found = graph.find_illegal_dependencies_for_layers(layers=layers, containers=set())
    return sorted(f"{d.importer} -> {d.imported}" for d in found)


def measure_checkout(checkout: Path) -> dict:
    """:func:`measure` run on another checkout: a fresh interpreter whose import path
    starts with that checkout, loading this file by its path."""
    code = (
        # this checkout's benchmark helpers first, then the other checkout's packages
        f"import sys, json, importlib.util; sys.path.insert(0, {str(ROOT)!r}); "
        f"import benchmarks.reporting; sys.path.remove({str(ROOT)!r}); "
        f"sys.path.insert(0, {str(checkout)!r}); "
        f"spec = importlib.util.spec_from_file_location('imports_benchmark', {__file__!r}); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "print(json.dumps(module.measure()))"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tempfile.mkdtemp(),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_tables(results: dict) -> None:
    rows = [
        [label, r["modules"], r["import_edges"],
         "; ".join(" ↔ ".join(c) for c in r["cycles"]) or "none",
         "; ".join(r["layer_violations"]) or "none"]
        for label, r in results["code"].items()
    ]  # fmt: skip
    body = (
        "Imports between the modules of `gendesign`, `predictors` and `relax` (lazy "
        "imports included), import cycles (modules that import each other), and imports "
        "against the layers contract of `pyproject.toml` (checked by import-linter in "
        "`tests/test_architecture.py`), for this code and an earlier commit.\n\n"
        + markdown_table(["code", "modules", "import edges", "cycles", "against the layers"], rows)
    )
    update_section("imports", "Import graph", body)


def main() -> None:
    code = side_by_side(__doc__.splitlines()[0], measure, measure_checkout)
    with contextlib.redirect_stdout(io.StringIO()):
        kept = lint_imports(no_cache=True) == 0
    publish("imports", {"code": code, "layers_contract_kept": kept}, write_tables)


if __name__ == "__main__":
    main()
