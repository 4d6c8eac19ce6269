"""The ``gendesign`` command, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil
from conftest import run_gendesign as gendesign


def test_help_lists_the_data_commands():
    result = gendesign("--help")
    assert result.returncode == 0 and "data" in result.stdout
    result = gendesign("data", "list")
    assert result.returncode == 0
    assert all(name in result.stdout for name in ("mp20", "perov5", "carbon24"))


def test_data_info_on_a_named_dataset(perov5):
    result = gendesign("data", "info", "perov5", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["from_cache"] is True  # the fixture already built it
    assert summary["splits"]["test"]["crystals"] == 3785
    assert summary["splits"]["train"]["atoms_per_cell"]["mean"] == 5.0
    heat = summary["splits"]["train"]["properties"]["heat_ref"]
    assert heat["unit"] == "eV" and heat["missing"] == 0
    table = gendesign("data", "info", "perov5")
    assert (
        table.returncode == 0 and "heat_ref" in table.stdout and "No items skipped." in table.stdout
    )


def test_data_info_on_a_folder_reports_skipped_files(tmp_path, pilot_frame):
    for k in range(3):
        (tmp_path / f"ok_{k}.cif").write_text(pilot_frame.cif[k])
    (tmp_path / "broken.cif").write_text("data_x\nnot a cif at all\n")
    result = gendesign("data", "info", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["splits"]["all"]["crystals"] == 3 and summary["skipped"] == 1
    assert any("could not be parsed" in reason for reason in summary["skipped_reasons"])


def test_bad_name_is_one_sentence_and_exit_code_2():
    result = gendesign("data", "info", "mp21")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "'mp21' is neither a dataset (mp20, perov5" in message
    assert "Traceback" not in result.stderr


def test_missing_data_root_is_reported(tmp_path):
    result = gendesign("data", "info", "mp20", "--data-root", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "absent (from --data-root) is not a folder" in " ".join(result.stderr.split())


def test_sigterm_stops_an_audit_like_ctrl_c_and_takes_its_workers_along(pilot_csv, tmp_path):
    """A scheduler's SIGTERM: exit code 130, one sentence, no worker left computing."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gendesign", "audit", str(pilot_csv), "--reference", "none",
         "--out", str(tmp_path / "audit")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 120
    while len(parent.children(recursive=True)) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "the audit started no worker processes"
        time.sleep(0.2)
    workers = parent.children(recursive=True)
    time.sleep(1.0)  # let the workers take their first chunks
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode() and "Traceback" not in stderr.decode()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"worker processes still running: {[p.cmdline()[-1] for p in alive]}"
    assert not (tmp_path / "audit" / "summary.json").exists()
