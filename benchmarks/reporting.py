"""Shared by every benchmark: machine facts, JSON results, the BENCHMARKS.md table."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


def machine() -> dict:
    """Where and when a figure was measured."""
    cpu = platform.processor() or ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": _git("rev-parse", "--short", "HEAD") + ("-dirty" if _code_changed() else ""),
        "date": dt.date.today().isoformat(),
    }


def write_result(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine facts added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path


def previous_results(name: str) -> dict:
    """The figures of ``benchmarks/results/<name>.json`` (without its machine facts), so a
    run that measures only some parts keeps the others."""
    path = RESULTS / f"{name}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.pop("machine", None)
    return results


def publish(name: str, results: dict, write_tables) -> None:
    """Write the JSON, refresh the BENCHMARKS.md section and print the figures."""
    write_result(name, results)
    write_tables(results)
    print(json.dumps(results, indent=2))


def measurement_facts() -> dict:
    """Date, commit and machine of a measurement; take them when it starts (the code it
    runs is the code checked out then)."""
    return {k: v for k, v in machine().items() if k in ("date", "commit", "cpu", "cores", "torch")}


def mark_measured(results: dict, part: str, keys, facts: dict) -> None:
    """Record where and when (``facts``) ``part``'s entries ``keys`` were measured, for
    benchmarks whose parts run separately (another day, another machine): the section's
    stamp names each."""
    for key in keys:
        results.setdefault("measured", {})[f"{part} `{key}`"] = facts


def _stamp(name: str) -> str:
    """The section's provenance line: per measured part where recorded (see
    ``mark_measured``), else the machine facts stored with the results (so re-rendering
    the tables elsewhere does not re-date them), else this machine."""
    path = RESULTS / f"{name}.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    measured = stored.get("measured")
    if not measured:
        facts = stored.get("machine") or machine()
        return (
            f"_Measured {facts['date']} at commit {facts['commit']} on {facts['cpu']} "
            f"({facts['cores']} cores, torch {facts['torch']}, {facts['torch_threads']} threads)._"
        )
    groups: dict[tuple, list[str]] = {}
    for what, facts in measured.items():
        where = (facts["date"], facts["commit"], facts["cpu"], facts["cores"], facts["torch"])
        groups.setdefault(where, []).append(what)
    ordered = sorted(groups.items(), key=lambda item: item[0][0])  # by date, stable otherwise
    lines = [
        f"- {date}, commit {commit}, {cpu} ({cores} cores, torch {torch}): {', '.join(whats)}"
        for (date, commit, cpu, cores, torch), whats in ordered
    ]
    return "_Measured:_\n\n" + "\n".join(lines)


def update_section(name: str, title: str, body: str) -> None:
    """Replace (or append) the section of BENCHMARKS.md between this benchmark's markers."""
    section = f"<!-- {name}:start -->\n## {title}\n\n{_stamp(name)}\n\n{body.strip()}\n<!-- {name}:end -->"
    text = (
        BENCHMARKS_MD.read_text()
        if BENCHMARKS_MD.exists()
        else "# Benchmarks\n\nEvery table below is written by a script in `benchmarks/`; rerun it to refresh.\n"
    )
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    BENCHMARKS_MD.write_text(text)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _code_changed() -> bool:
    """Uncommitted changes to tracked files, other than the benchmark outputs themselves."""
    outputs = [":(exclude)BENCHMARKS.md", ":(exclude)benchmarks/results"]
    return bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", *outputs))


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def side_by_side(description: str, measure_now, measure_checkout) -> dict:
    """``{"<label>": measure_checkout(PATH), "now": measure_now()}`` from the command line
    ``[--before PATH] [--before-label LABEL]``: this code beside an earlier checkout, in one run."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--before", type=Path, help="a checkout of an earlier commit")
    parser.add_argument("--before-label", default="before")
    args = parser.parse_args()
    figures = {}
    if args.before:
        figures[args.before_label] = measure_checkout(args.before.resolve())
        print(args.before_label, figures[args.before_label], flush=True)
    figures["now"] = measure_now()
    print("now", figures["now"], flush=True)
    return figures


def run_or_tables(name: str, doc: str, run, write_tables, options: dict, argv=None) -> None:
    """The command line of a benchmark with one measured part: ``run`` measures (with the
    ``options``, flag → default; a list default takes several values) and publishes,
    ``tables`` re-renders what is stored."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("part", choices=["run", "tables"])
    for flag, default in options.items():
        many = isinstance(default, list)
        kind = type(default[0]) if many else type(default)
        parser.add_argument(f"--{flag}", type=kind, default=default, nargs="+" if many else None)
    args = vars(parser.parse_args(argv))
    results = previous_results(name)
    if args.pop("part") == "run":
        results["run"] = run(**args)
    publish(name, results, write_tables)
