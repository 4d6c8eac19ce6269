"""Campaigns end to end on the bundled mp20 models (small sizes, real models and data):
stages and store, resume after SIGKILL and Ctrl-C, a real Dask cluster (separate scheduler
and worker processes) losing a worker and its coordinator and giving the same results as
local processes, config changes, bad configs, the report."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import ase.db
import pandas as pd
import pytest
import yaml
from helpers import REPO

from gendesign.campaign.config import CampaignConfig
from gendesign.campaign.pipeline import run_campaign
from gendesign.config import load_config
from gendesign.errors import ConfigError
from gendesign.model.generator import Generator

pytestmark = pytest.mark.needs_data  # campaigns read the MP-20 crystals and hull


# Values that measure time, not results: they differ between otherwise identical runs.
def _is_timing(column: str) -> bool:
    return column.endswith("_seconds")


def small_campaign(folder: Path, **changes) -> dict:
    """24 candidates from all three sources (model 12, substitution 6, prototypes 6:
    4 batches), a short schedule, a loose pre-screen, the best 3 relaxed briefly."""
    config = {
        "name": "small",
        "seed": 3,
        "out_dir": str(folder),
        "batch_size": 8,
        "targets": {"band_gap": {"min": 0.5, "max": 3.0}},
        "atoms": "2:12",
        "generate": {
            "n": 24,
            "sources": {"model": 0.5, "substitution": 0.25, "prototypes": 0.25},
            "sampling": {"coordinate_steps": 20},
            "steering_steps": 50,
        },
        "prescreen": {"e_hull_max": 1.0},
        "screen": {"top_k": 3},
        "relax": {"settings": {"max_steps": 40}},
        "report": {"top_n": 3},
    }
    for key, value in changes.items():
        section, _, field = key.partition(".")
        if field:
            config.setdefault(section, {})[field] = value
        else:
            config[key] = value
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    columns = sorted(c for c in table.columns if not _is_timing(c))
    return table[columns].sort_values("cid").reset_index(drop=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A small campaign run to the end on two local worker processes."""
    folder = tmp_path_factory.mktemp("campaign-local")
    config = CampaignConfig.model_validate(small_campaign(folder))
    run = run_campaign(config, workers=2)
    return config, run


def test_every_stage_runs_and_the_store_records_it(finished):
    config, run = finished
    table = run.store.table()
    assert len(table) == 24 and (table["generate_status"] == "passed").all()
    audited = table[table["audit_status"] == "passed"]
    assert len(audited) > 0
    # Dropped and failed candidates carry a reason; passed ones went on to the next stage.
    for stage in ("audit", "prescreen", "screen", "relax", "reaudit", "judge"):
        out = table[table[f"{stage}_status"].isin(["dropped", "failed"])]
        if len(out):
            assert out[f"{stage}_reason"].str.len().gt(0).all(), stage
    selected = table[table["screen_status"] == "passed"]
    assert 0 < len(selected) <= 3
    assert set(selected["cid"]) == set(table.loc[table["relax_status"].notna(), "cid"])
    relaxed = table[table["relax_status"] == "passed"]
    # A converged relaxation gets its E_hull; one stopped by the step limit (40 here) only
    # an estimate, kept apart, and it ranks after every converged one.
    converged = relaxed["relax_converged"].astype(bool)
    assert relaxed.loc[converged, "relax_e_above_hull_eV_atom"].map(math.isfinite).all()
    unconverged = relaxed[~converged]
    if len(unconverged):  # whether any hits the step limit depends on the candidates drawn
        assert unconverged["relax_e_above_hull_eV_atom"].isna().all()
        assert unconverged["relax_e_above_hull_unconverged_eV_atom"].map(math.isfinite).all()
        assert unconverged["relax_hull_status"].str.startswith("not converged").all()
    assert (relaxed["relax_potential"] == "chgnet-0.3.0").all()
    ranked = table[table["rank_status"] == "passed"].sort_values("rank_position")
    assert list(ranked["rank_position"]) == list(range(1, len(ranked) + 1))
    # The independent judges: the second potential re-relaxed every re-audited candidate,
    # and the composition-only judge predicted the targeted band gap
    judged = table[table["judge_status"] == "passed"]
    assert set(judged["cid"]) == set(table.loc[table["reaudit_status"] == "passed", "cid"])
    assert (judged["judge_potential"] == "tensornet-matpes-pbe").all()
    assert (judged["judge_property_judge"] == "mp20-composition").all()
    assert judged["judge_band_gap"].map(math.isfinite).all()
    verdicts = ranked["rank_stability_verdict"].dropna()
    assert verdicts.isin(["stable by both", "stable by one", "stable by neither"]).all()
    has_second = ranked["judge_e_above_hull_eV_atom"].astype(float).map(math.isfinite)
    assert len(verdicts) == int(has_second.sum())
    assert ranked["rank_meets_targets_independent"].notna().all()
    # Every generated structure stayed within the atom limit the config set, and each
    # source made its share, in id order; template candidates name their parent.
    assert table["generate_n_atoms"].between(2, 12).all()
    assert (
        list(table["generate_source"]) == ["model"] * 12 + ["substitution"] * 6 + ["prototypes"] * 6
    )
    templated = table[table["generate_source"] != "model"]
    assert templated["generate_parent"].str.startswith("mp-").all()
    assert templated["generate_charge_balanced"].all()
    # Every audited candidate got a pre-screen estimate from the relaxation potential.
    screened = table[table["prescreen_status"].notna()]
    assert set(screened["cid"]) == set(audited["cid"])
    assert screened["prescreen_e_above_hull_eV_atom"].map(math.isfinite).all()
    dropped = screened[screened["prescreen_status"] == "dropped"]
    assert (dropped["prescreen_e_above_hull_eV_atom"] > 1.0).all()
    assert (
        table["audit_novelty_class"]
        .dropna()
        .isin(["known", "substitution-derived", "novel-framework"])
        .all()
    )
    # The relaxed structure is the row's atoms, the generated one stays in its data.
    db = ase.db.connect(config.store_url)
    row = db.get(cid=relaxed["cid"].iloc[0])
    assert set(row.data) >= {"generate", "relax"}
    assert (run.folder / "report.html").is_file() and (run.folder / "campaign.log").is_file()
    # The counts the run reports (and logs) are the funnel's: candidates that entered each stage.
    for stage in ("generate", "audit", "prescreen", "screen", "relax", "reaudit", "judge", "rank"):
        assert run.computed[stage] == table[f"{stage}_status"].notna().sum(), stage


def test_rerunning_a_finished_campaign_is_a_no_op(finished):
    config, run = finished
    before = comparable(run.store.table())
    again = run_campaign(config, resume=True, workers=1)
    assert not again.did_work
    pd.testing.assert_frame_equal(before, comparable(again.store.table()))


def test_without_resume_an_existing_campaign_is_refused(finished):
    config, _ = finished
    with pytest.raises(ConfigError, match="--resume"):
        run_campaign(config, workers=1)


def test_a_changed_config_is_refused_unless_forced(finished, tmp_path):
    config, run = finished
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run.folder, copy)
    changed = CampaignConfig.model_validate(small_campaign(copy, **{"screen.top_k": 2}))
    with pytest.raises(ConfigError, match=r"'screen\.top_k' \(3 → 2\).*--force"):
        run_campaign(changed, resume=True, workers=1)
    forced = run_campaign(changed, resume=True, force=True, workers=1)
    assert forced.computed["generate"] == 0 and forced.computed["audit"] == 0
    assert forced.computed["screen"] > 0
    table = forced.store.table()
    assert (table["screen_status"] == "passed").sum() <= 2
    assert table["relax_status"].notna().sum() == (table["screen_status"] == "passed").sum()


def _wait_for(store: str, condition, process: subprocess.Popen, timeout: float = 300) -> bool:
    """Poll the store until ``condition(rows)`` holds; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if "://" in store or Path(store).exists():
            db = ase.db.connect(store)
            if (
                "://" not in store
            ):  # ASE waits up to 20 s for SQLite's lock; the run may end meanwhile
                db._connect = lambda db=db: sqlite3.connect(db.filename, timeout=0.05)
            try:
                rows = [r.key_value_pairs for r in db.select(include_data=False)]
            except Exception:  # the writer holds the lock; look again
                rows = []
            if condition(rows):
                return True
        time.sleep(0.05)
    raise AssertionError("the campaign did not reach the expected point in time")


def _recorded(values: dict, stage: str) -> bool:
    return values.get(f"{stage}_status", "pending") != "pending"


def _start(config_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gendesign", "campaign", str(config_path), "--workers", "1", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _generated_record(row) -> tuple:
    """What the generate stage wrote into a row: its creation time, values and structure
    (later stages replace the row's atoms, and with them ASE's unique_id)."""
    values = {k: v for k, v in row.key_value_pairs.items() if k.startswith("generate_")}
    return row.ctime, sorted(values.items()), str(row.data["generate"])


def test_sigkill_or_ctrl_c_then_resume_loses_nothing_and_recomputes_nothing(
    finished, tmp_path, store_url
):
    """On SQLite and on PostgreSQL (``store_url``)."""
    _, local = finished
    folder = tmp_path / "killed"
    config_path = write_config(tmp_path / "small.yaml", small_campaign(folder, store=store_url))
    db_path = store_url

    # Kill 1: during generation, once the first batch is committed.
    process = _start(config_path)
    assert _wait_for(db_path, lambda rows: 0 < len(rows) < 24, process), "finished too early"
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed = {r.cid: _generated_record(r) for r in ase.db.connect(db_path).select()}
    assert 0 < len(committed) < 24

    # Ctrl-C: resumed, then interrupted once audit results are committed; it keeps them
    # and says how to go on.
    process = _start(config_path, "--resume")
    audited = _wait_for(db_path, lambda rows: any(_recorded(r, "audit") for r in rows), process)
    assert audited, "finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    assert "--resume" in stderr.decode() and "kept" in stderr.decode()
    kept = [r.key_value_pairs for r in ase.db.connect(db_path).select(include_data=False)]
    assert len(kept) == 24 and any(_recorded(r, "audit") for r in kept)

    config = load_config(CampaignConfig, config_path)
    run = run_campaign(config, resume=True, workers=1)
    rows = {r.cid: _generated_record(r) for r in ase.db.connect(db_path).select()}
    # What was committed before the kill is still the same record, not a recomputed one.
    assert all(rows[cid] == record for cid, record in committed.items())
    assert run.computed["generate"] == 0
    pd.testing.assert_frame_equal(comparable(local.store.table()), comparable(run.store.table()))


# --------------------------------------------------------------------------- rounds
def two_round_campaign(folder: Path, **changes) -> dict:
    """The small campaign over two rounds; the model learns 5 steps in between."""
    return small_campaign(folder, rounds=2, **{"learning.steps": 5, **changes})


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("campaign-rounds")
    config = CampaignConfig.model_validate(two_round_campaign(folder))
    return config, run_campaign(config, workers=1)


def test_a_second_round_samples_from_the_model_that_learnt_the_first_rounds_finds(two_rounds):
    config, run = two_rounds
    table = run.store.table()
    assert len(table) == 48
    first, second = table[table["generate_round"] == 0], table[table["generate_round"] == 1]
    assert list(first["cid"]) == [f"c{k:06d}" for k in range(24)]
    assert list(second["cid"]) == [f"r01c{k:06d}" for k in range(24)]
    # each round relaxes its own top 3, and both rounds are ranked together
    assert (first["relax_status"].notna().sum(), second["relax_status"].notna().sum()) == (3, 3)
    assert table["rank_status"].eq("passed").sum() == table["judge_status"].eq("passed").sum()
    # the round-1 model, with what it learnt from and how
    model = run.folder / "rounds" / "round-1" / "model.pt"
    provenance = json.loads((model.parent / "provenance.json").read_text())
    assert provenance["parent"] == "mp20" and provenance["round"] == 1
    finds = first[
        (first["relax_status"] == "passed")
        & (first["relax_e_above_hull_eV_atom"].astype(float) <= config.learning.e_hull_max)
    ]
    assert [f["cid"] for f in provenance["finds"]] == list(finds["cid"])
    # the model's own finds count fully, a re-decorated known framework a quarter at most
    sources = dict(zip(first["cid"], first["generate_source"], strict=True))
    for find in provenance["finds"]:
        cap = 1.0 if sources[find["cid"]] == "model" else config.learning.template_weight
        assert 0 < find["weight"] <= cap + 1e-4
    assert provenance["settings"]["replay_fraction"] == 0.5
    if len(finds):
        assert provenance["fine_tuning"]["steps"] == 5
    tuned = Generator.from_checkpoint(model, device="cpu")
    assert tuned.checkpoint.training_config["campaign_round"]["round"] == 1
    assert tuned.sampling_defaults == Generator.from_pretrained("mp20").sampling_defaults
    # every stage recorded what its workers spent on each candidate
    assert (table["generate_seconds"] > 0).all()
    report = (run.folder / "report.md").read_text()
    assert "## Per round and source" in report and "novel-framework S.U.N." in report


def test_adding_a_round_on_resume_gives_what_two_rounds_at_once_give(two_rounds, tmp_path):
    _, together = two_rounds
    one = CampaignConfig.model_validate(small_campaign(tmp_path / "grown", **{"learning.steps": 5}))
    run_campaign(one, workers=1)
    grown = run_campaign(
        CampaignConfig.model_validate(two_round_campaign(tmp_path / "grown")),
        resume=True,
        workers=1,
    )
    assert grown.computed["generate"] == 24  # round 1 only
    pd.testing.assert_frame_equal(
        comparable(together.store.table()), comparable(grown.store.table())
    )


def test_a_campaign_killed_in_its_second_round_resumes_to_the_same_result(two_rounds, tmp_path):
    _, together = two_rounds
    folder = tmp_path / "killed-rounds"
    config_path = write_config(tmp_path / "rounds.yaml", two_round_campaign(folder))
    store = str(folder / "campaign.db")
    process = _start(config_path)
    in_round_two = lambda rows: any(  # noqa: E731
        r.get("generate_round") == 1 and _recorded(r, "audit") for r in rows
    )
    assert _wait_for(store, in_round_two, process, timeout=600), "finished too early"
    process.send_signal(signal.SIGKILL)
    process.wait()
    run = run_campaign(load_config(CampaignConfig, config_path), resume=True, workers=1)
    assert run.computed["generate"] == 0
    pd.testing.assert_frame_equal(comparable(together.store.table()), comparable(run.store.table()))


# --------------------------------------------------------------------------- a real cluster
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _dask(*args: str) -> subprocess.Popen:
    """A ``dask`` command (scheduler or worker) as its own process, torch on one thread."""
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli." + args[0], *args[1:]],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        **QUIET,
    )


def _worker(address: str) -> subprocess.Popen:
    return _dask("dask_worker", address, "--nthreads", "1", "--no-dashboard",
                 "--memory-limit", "0", "--death-timeout", "60")  # fmt: skip


def _workers_known(address: str, count: int, timeout: float = 120) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(count, timeout=timeout)


@pytest.fixture
def cluster():
    """A scheduler on a free loopback port; yields its address and a list that takes the
    worker processes (all stopped afterwards)."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _dask("dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--no-dashboard")  # fmt: skip
    processes = [scheduler]
    yield address, processes
    for process in processes:
        process.kill()
        process.wait()


def test_a_cluster_losing_a_worker_and_its_coordinator_completes_the_campaign(
    finished, cluster, postgres_database, tmp_path
):
    """The scheduler and every worker are separate ``dask`` processes on loopback, as on a
    cluster, and the store is on PostgreSQL: one worker is SIGKILLed during the audit stage
    and another joins later; then the coordinator is SIGKILLed and the campaign resumed
    against the same cluster. The results equal a local run's; nothing recorded before
    the kills is computed again."""
    _, local = finished
    address, processes = cluster
    doomed, survivor = _worker(address), _worker(address)
    processes += [doomed, survivor]
    _workers_known(address, 2)
    config_path = write_config(
        tmp_path / "small.yaml", small_campaign(tmp_path / "c", store=postgres_database)
    )
    store = postgres_database

    # A worker dies while the audit stage runs; another joins later.
    coordinator = _start(config_path, "--scheduler", address)
    started = _wait_for(store, lambda rows: any(_recorded(r, "audit") for r in rows), coordinator)
    assert started, "the campaign ended before the audit stage"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    time.sleep(5)
    processes.append(_worker(address))

    # The coordinator dies once the pre-screen has recorded something.
    reached = _wait_for(store, lambda rows: any(_recorded(r, "prescreen") for r in rows),
                        coordinator)  # fmt: skip
    assert reached, "the campaign ended before the pre-screen"
    coordinator.send_signal(signal.SIGKILL)
    coordinator.wait()
    before = {
        row.cid: row.key_value_pairs.get("audit_status")
        for row in ase.db.connect(store).select(include_data=False)
    }
    assert len(before) == 24 and all(status != "pending" for status in before.values())

    config = load_config(CampaignConfig, config_path)
    run = run_campaign(config, resume=True, scheduler=address)
    # generated and audited before the kills: nothing computed again
    assert run.computed["generate"] == 0 and run.computed["audit"] == 0
    pd.testing.assert_frame_equal(comparable(local.store.table()), comparable(run.store.table()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"generate.nn": 5}, r"unknown field 'generate\.nn' \(did you mean 'n'\?\)"),
        ({"targets": {"band_gap": {"min": 3, "max": 1}}}, r"targets\.band_gap.*range is empty"),
        ({"elements": ["Li", "Xx"]}, r"elements.*'Xx' is not a chemical element"),
        ({"generate.model": "missing/model.pt"}, r"field 'generate\.model'.*missing/model\.pt"),
        ({"generate.model": "mp99"}, r"field 'generate\.model'.*no bundled generative model"),
        ({"targets": {"bulk_modulus": {"min": 100}}}, r"bulk_modulus"),
        ({"relax.potential_path": "nowhere.model"}, r"field 'relax\.potential_path'"),
        ({"audit.novelty_reference": "mp30"}, r"field 'audit\.novelty_reference'"),
        ({"audit.known": "no/such/folder"}, r"field 'audit\.known': no file or folder"),
        (
            {"judge.potential_path": "no/such/folder"},
            r"field 'judge\.potential_path'.*not a matgl potential folder",
        ),
        ({"judge.potential": "chgnet-0.3.0"}, r"field 'judge\.potential'.*must differ"),
        ({"relax.potential": "mace xl"}, r"field 'relax\.potential'.*unknown potential 'mace xl'"),
        ({"judge.potential": "my_pkg.calc:make"}, r"field 'judge\.potential'.*cannot import"),
        ({"hull": "mp"}, r"hull.*'full' or 'mp20'"),
        ({"generate.sources": {"gan": 1.0}}, r"generate\.sources.*unknown source\(s\) gan"),
        ({"generate.sources": {"model": 0}}, r"generate\.sources.*share above 0"),
        ({"generate.templates": "mp30"}, r"field 'generate\.templates'.*unknown dataset"),
        (
            {"generate.sources": {"substitution": 1.0}, "elements": ["He", "Ne"]},
            r"generate\.sources\.substitution'.*no mp20 training crystal",
        ),
    ],
)
def test_bad_configs_fail_before_any_work(tmp_path, change, message):
    folder = tmp_path / "never"
    config_path = write_config(tmp_path / "bad.yaml", small_campaign(folder, **change))
    with pytest.raises(ConfigError) as failure:
        run_campaign(load_config(CampaignConfig, config_path), workers=1, source=str(config_path))
    error = str(failure.value)
    assert "bad.yaml" in error and re.search(message, error), error
    assert "\n" not in error
    assert not folder.exists()


def test_a_bad_config_is_one_red_sentence_on_the_command_line(tmp_path, gendesign_cli):
    config = small_campaign(tmp_path / "never", **{"screen.top_k": 0})
    result = gendesign_cli("campaign", str(write_config(tmp_path / "bad.yaml", config)))
    assert result.returncode == 2
    error = " ".join(result.stderr.split())
    assert re.search(r"error: .*bad\.yaml: field 'screen\.top_k'", error), error
    assert "Traceback" not in result.stderr


def test_report_opens_in_headless_chromium_with_the_top_candidates(finished):
    from helpers.browser import open_in_chromium

    _, run = finished
    page = open_in_chromium(run.folder / "report.html")
    assert page.errors == []
    assert page.top_candidate_rows >= 1
    assert page.broken_images == 0
    # The decision sheet: a rotatable view of every top candidate (drawn on demand, one at a
    # time) and its hull plot (or the sentence why not), the raw table as CSV and the CIFs
    # as one zip
    assert page.structure_views == page.top_candidate_rows and page.live_3d_views == 1
    assert page.hull_plots + len(page.hull_notes) == page.top_candidate_rows
    assert all(note.startswith("no hull plot") for note in page.hull_notes)
    sheet = pd.read_csv(run.folder / page.links["sheet-csv"])
    assert len(sheet) == page.top_candidate_rows
    assert sheet["P(band_gap in range)"].between(0, 1).all()
    with zipfile.ZipFile(run.folder / page.links["cifs-zip"]) as archive:
        assert sorted(archive.namelist()) == sorted(f"cifs/{cid}.cif" for cid in sheet["id"])
    # The regenerated report is the same page.
    regenerated = subprocess.run(
        [sys.executable, "-m", "gendesign", "report", str(run.folder)],
        capture_output=True,
        text=True,
    )
    assert regenerated.returncode == 0, regenerated.stderr
    assert (
        open_in_chromium(run.folder / "report.html").top_candidate_rows == page.top_candidate_rows
    )
    # Every "stable" names its judge; both judges' verdicts and the rediscovered list show
    text = " ".join((run.folder / "report.md").read_text().split())
    assert "(stable by chgnet-0.3.0; measured precision on MPTS-52" in text
    assert "Second stability judge: tensornet-matpes-pbe" in text
    assert "| stability verdict |" in text and "band_gap (independent)" in text
    # where each candidate came from and the known crystal it is closest to
    assert "| source | parent | made by | novelty | closest known |" in text
    assert "| band_gap (pred.) | P(band_gap in range) |" in text
    assert "## Rediscovered known crystals" in text


@pytest.mark.parametrize(
    "path",
    sorted((REPO / "configs" / "campaign").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_bundled_campaign_configs_pass_the_preflight_checks(path):
    from gendesign.campaign.preflight import check_campaign

    config = load_config(CampaignConfig, path)
    check_campaign(config, str(path))
    assert config.targets and config.generate.n >= 200


def test_a_chemical_system_campaign_decodes_its_formulas_by_flow_and_by_framework(tmp_path):
    """``elements`` asks for the system: every model candidate holds Mg, Al and O, and
    every other candidate of a formula comes from a known framework of its stoichiometry."""
    from gendesign.campaign.generate import generate_batch, generation_batches

    config = CampaignConfig.model_validate(
        small_campaign(
            tmp_path,
            elements=["Mg", "Al", "O"],
            targets={},
            atoms="2:60",
            **{"generate.sources": {"model": 1.0}, "generate.n": 8},
        )  # fmt: skip
    )
    outcomes = generate_batch(config, generation_batches(config)[0])
    assert [o.status for o in outcomes] == ["passed"] * 8
    for outcome in outcomes:
        assert {el.symbol for el in outcome.structure.composition.elements} == {"Mg", "Al", "O"}
    decoders = [o.values["decoder"] for o in outcomes]
    assert set(decoders) == {"flow", "framework"}
    for outcome in outcomes:
        assert ("parent" in outcome.values) == (outcome.values["decoder"] == "framework")
