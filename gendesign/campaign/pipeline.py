"""Running a campaign: each stage over the candidates that still need it, batch by batch.

generate (per source) → audit (+ duplicates) → stability pre-screen → screen (+
selection of the top K) → relax → re-audit → judge (second potential, independent
property model) → rank → report. Batches go to the workers; finished batches are written
to the store by this (coordinating) process, one transaction each, so a killed
campaign resumes from exactly what was committed, and a finished one reruns as a no-op.

With ``rounds`` > 1 the whole pipeline runs once per round; before each round after the
first, the generator learns from the finds of the round before
(:mod:`gendesign.campaign.learning`). Each candidate records the worker seconds its
batches took per stage (``<stage>_seconds``), so the report can say what each source
and round cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gendesign.campaign.candidates import Candidate, Outcome, round_of
from gendesign.campaign.checks import audit_batch, mark_duplicates, reaudit_batch
from gendesign.campaign.config import STAGES, CampaignConfig
from gendesign.campaign.generate import generate_batch, generation_batches
from gendesign.campaign.judging import judge_batch
from gendesign.campaign.preflight import check_campaign
from gendesign.campaign.prescreen import prescreen_batch
from gendesign.campaign.ranking import rank_candidates
from gendesign.campaign.relaxing import relax_batch
from gendesign.campaign.screen import screen_batch, select_for_relaxation
from gendesign.campaign.store import CampaignStore
from gendesign.campaign.workers import open_workers
from gendesign.config import load_config, write_resolved_config
from gendesign.errors import ConfigError, Interrupted

log = logging.getLogger(__name__)

CONFIG_FILE = "campaign.yaml"
LOG_FILE = "campaign.log"
# progress(stage, total) -> advance(n)
Progress = Callable[[str, int], Callable[[int], None]]

# Per-candidate stages: which earlier status lets a candidate in, and the batch function.
_BATCH_STAGES = {
    "audit": ("generate", audit_batch),
    "prescreen": ("audit", prescreen_batch),
    "screen": ("prescreen", screen_batch),
    "relax": ("screen", relax_batch),
    "reaudit": ("relax", reaudit_batch),
    "judge": ("reaudit", judge_batch),
}


@dataclass
class CampaignRun:
    """What one invocation did: the folder, computed counts and seconds per stage."""

    folder: Path
    store: CampaignStore
    computed: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def did_work(self) -> bool:
        return any(self.computed.values())


def run_campaign(
    config: CampaignConfig,
    *,
    resume: bool = False,
    force: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    source: str = "campaign config",
) -> CampaignRun:
    """Run (or continue, with ``resume``) the campaign of ``config``; see the module docstring."""
    check_campaign(config, source)
    folder = config.folder
    store = CampaignStore(config.store_url)
    _check_store(store, config, resume, force, source)
    folder.mkdir(parents=True, exist_ok=True)
    write_resolved_config(config, folder, CONFIG_FILE)
    store.update_metadata(
        name=config.name,
        config=config.model_dump(mode="json"),
        fingerprints=config.stage_fingerprints(),
    )
    run = CampaignRun(folder, store)
    progress = progress or (lambda stage, total: lambda n: None)
    with _log_file(folder / LOG_FILE):
        from relax.potentials import announce_potential

        announce_potential(config.relax.potential, config.relax.potential_path)
        pool = open_workers(workers, scheduler, preload=config.model_dump_json())
        log.info("campaign %s: %s, store %s", config.name, pool.description, store.url)
        stage, interrupted = STAGES[0], False
        try:
            for round_ in range(config.rounds):
                if round_ > 0 and config.learning.steps > 0 and "model" in config.generate.sources:
                    from gendesign.campaign.learning import learn

                    stage = "learn"
                    learn(config, store, round_)
                computed: dict[str, int] = {}
                for stage in STAGES:
                    started = time.perf_counter()
                    computed[stage] = _run_stage(
                        stage, config, store, pool, progress, computed, round_
                    )
                    seconds = time.perf_counter() - started
                    run.computed[stage] = run.computed.get(stage, 0) + computed[stage]
                    run.seconds[stage] = run.seconds.get(stage, 0.0) + seconds
                    log.info(
                        "%s%s: %d computed in %.1f s",
                        f"round {round_}, " if config.rounds > 1 else "",
                        stage, computed[stage], seconds,
                    )  # fmt: skip
        except KeyboardInterrupt:
            interrupted = True
        finally:
            pool.close(now=interrupted)
            timing = store.metadata.get("timing_s", {})
            for stage, seconds in run.seconds.items():
                timing[stage] = round(timing.get(stage, 0.0) + seconds, 3)
            store.update_metadata(timing_s=timing)
        if interrupted:
            raise Interrupted(
                f"campaign '{config.name}' stopped during {stage}; every finished batch is "
                f"kept in {store.url}. Continue with: gendesign campaign {source} --out {folder} --resume"
            )
        if run.did_work or not (folder / "report.html").exists():
            from gendesign.campaign.report import write_campaign_report

            started = time.perf_counter()
            write_campaign_report(folder, store)
            run.seconds["report"] = time.perf_counter() - started
        log.info("campaign %s: computed %s", config.name, run.computed)
    return run


def open_campaign_store(folder: str | Path) -> CampaignStore:
    """The store of the campaign in ``folder`` (named by its campaign.yaml)."""
    from gendesign.errors import InputError

    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{folder}: not a campaign folder (no {CONFIG_FILE})")
    config = load_config(CampaignConfig, path)
    return CampaignStore(config.store_url)


def _run_stage(
    stage: str,
    config: CampaignConfig,
    store,
    pool,
    progress: Progress,
    computed: dict[str, int],
    round_: int = 0,
) -> int:
    """Run ``stage`` over what still needs it; returns how many candidates it computed
    (``computed``: the counts of the stages before it in this round). A stage's global
    step (duplicates, selection) goes over the same candidates, so it adds nothing to
    the count, unless it is all that ran (a resume after a kill right before it).
    Per-candidate stages and the selection of the top K take round ``round_``'s candidates
    only: earlier rounds' choices stand."""
    if stage == "generate":
        return _generate(config, store, pool, progress, round_)
    if stage == "rank":
        return _global_step(
            store,
            "rank",
            "rank",
            {"judge_status": "passed"},
            lambda c: rank_candidates(config, c),
            computed["judge"],
        )
    previous, function = _BATCH_STAGES[stage]
    pending = store.candidates({f"{previous}_status": "passed", f"{stage}_status": None})
    # a campaign killed in a later round resumes from round 0: each round's stages take
    # only that round's candidates (a later round's wait for its own selection)
    pending = [c for c in pending if round_of(c.cid) == round_]
    done = _run_batches(stage, config, store, pool, progress, function, pending)
    if stage == "audit":
        judged = _global_step(
            store, "audit", "audit:duplicates", {"audit_status": "passed"}, mark_duplicates, done
        )
        done = done or judged
    if stage == "screen":
        selected = _global_step(
            store,
            "screen",
            "screen:selection",
            {"screen_status": "passed"},
            lambda c: select_for_relaxation(config, [x for x in c if round_of(x.cid) == round_]),
            done,
            step_suffix=f":round-{round_}" if round_ else "",
        )
        done = done or selected
    return done


def _generate(config: CampaignConfig, store, pool, progress: Progress, round_: int = 0) -> int:
    wanted = generation_batches(config, round_, _round_counts(config, store, round_))
    present = store.cids() & {cid for b in wanted for cid in b.ids}
    batches = [b for b in wanted if not set(b.ids) <= present]
    if not batches:
        return 0
    advance = progress("generate", config.generate.n)
    advance(len(present))
    futures = {pool.submit(timed, generate_batch, config, b): b for b in batches}
    made = 0
    for future in _completed(pool, futures, lambda outcomes: store.add(outcomes)):
        try:
            outcomes = future.result()
        except Exception as err:  # a failed batch is retried by the next --resume
            batch = futures[future]
            log.error(
                "generate: %s batch %d failed (%s); --resume retries it",
                batch.source,
                batch.index,
                err,
            )
            continue
        store.add(outcomes)
        made += len(outcomes)
        advance(len(outcomes))
    return made


def _round_counts(config: CampaignConfig, store, round_: int) -> dict[str, int] | None:
    """Candidates per source of an adaptive round, made once and kept in the store (None:
    the configured shares)."""
    if round_ == 0 or config.generate.allocate == "fixed":
        return None
    kept = store.metadata.get("allocation", {})
    if str(round_) not in kept:
        from gendesign.campaign.allocation import adaptive_counts

        kept[str(round_)] = adaptive_counts(store.table(), config, round_)
        store.update_metadata(allocation=kept)
        log.info("round %d: candidates per source %s (adaptive)", round_, kept[str(round_)])
    return kept[str(round_)]


def _run_batches(stage, config, store, pool, progress: Progress, function, pending) -> int:
    if not pending:
        return 0
    advance = progress(stage, len(pending))
    size = config.relax.batch_size if stage == "relax" else config.batch_size
    batches = [pending[k : k + size] for k in range(0, len(pending), size)]
    futures = {pool.submit(timed, function, config, batch): batch for batch in batches}
    for future in _completed(pool, futures, lambda outcomes: store.record(stage, outcomes)):
        batch = futures[future]
        try:
            outcomes = future.result()
        except Exception as err:  # the batch is recorded as failed; the campaign goes on
            log.error(
                "%s: a batch of %d failed (%s: %s)", stage, len(batch), type(err).__name__, err
            )
            reason = f"{stage} failed: {type(err).__name__}: {err}"
            outcomes = [Outcome(c.cid, "failed", reason) for c in batch]
        store.record(stage, outcomes)
        advance(len(batch))
    return len(pending)


def timed(function, config: CampaignConfig, batch) -> list[Outcome]:
    """``function(config, batch)`` with each outcome's share of its wall seconds in the
    worker recorded as its ``seconds`` (runs in the worker)."""
    started = time.perf_counter()
    outcomes = function(config, batch)
    share = (time.perf_counter() - started) / max(len(outcomes), 1)
    for outcome in outcomes:
        outcome.values.setdefault("seconds", round(share, 4))  # relax and judge time their own
    return outcomes


def _completed(pool, futures: dict, keep: Callable[[list[Outcome]], None]):
    """``pool.completed(futures)``; on Ctrl-C, the batches that finished but were not yet
    handed out are stored with ``keep`` before the interrupt goes on."""
    handed: set = set()
    try:
        for future in pool.completed(futures):
            handed.add(future)
            yield future
    except KeyboardInterrupt:
        for future in futures:
            finished = future not in handed and future.done() and not future.cancelled()
            if finished and future.exception() is None:
                keep(future.result())
        raise


def _global_step(
    store,
    stage: str,
    step: str,
    where: dict,
    function: Callable[[list[Candidate]], list[Outcome]],
    new_results: int = 0,
    step_suffix: str = "",
) -> int:
    """A step over all candidates at once, rerun only when its inputs changed."""
    step += step_suffix
    if store.step_done(step) and not new_results:
        return 0
    candidates = store.candidates(where)
    store.record(stage, function(candidates) if candidates else [], step=step)
    return len(candidates)


def _check_store(
    store: CampaignStore, config: CampaignConfig, resume: bool, force: bool, source: str
) -> None:
    """Refuse to mix campaigns, and refuse config changes that would invalidate stored
    stages (unless ``force``, which discards them)."""
    metadata = store.metadata
    if "fingerprints" not in metadata and not len(store):
        return
    if not resume:
        raise ConfigError(
            f"{store.url} already holds campaign '{metadata.get('name', '?')}'; "
            "add --resume to continue it, or set another out_dir"
        )
    stored = metadata.get("fingerprints", {})
    current = config.stage_fingerprints()
    changed = next((s for s in STAGES if stored.get(s) not in (None, current[s])), None)
    if changed is None:
        return
    old = CampaignConfig.model_validate(metadata["config"])
    before = old.stage_fields(changed)
    fields = {
        k: (v, before.get(k)) for k, v in config.stage_fields(changed).items() if before.get(k) != v
    }
    described = ", ".join(f"'{k}' ({was!r} → {now!r})" for k, (now, was) in fields.items())
    if not force:
        raise ConfigError(
            f"{source}: {described or 'fields'} changed since this campaign's {changed} stage "
            f"ran; its results and every later stage's would no longer match. Add --force "
            "to discard and recompute them, or set another out_dir"
        )
    log.warning("config changed (%s): discarding the %s stage and later ones", described, changed)
    store.discard(changed)


@contextmanager
def _log_file(path: Path):
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
