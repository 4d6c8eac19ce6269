"""The campaign store on SQLite and PostgreSQL: pending work by indexed queries, stage
records, discarding stages, and the upgrade of a store written before pending markers."""

from __future__ import annotations

import ase.db
import pytest
from ase import Atoms
from pymatgen.core import Lattice, Structure

from gendesign.campaign.candidates import Outcome
from gendesign.campaign.store import PENDING, CampaignStore


def rock_salt(a: float = 5.6) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]
    )


def generated(n: int) -> list[Outcome]:
    return [
        Outcome(
            f"c{k:03d}", "passed", values={"source": "model"}, structure=rock_salt(5.5 + k / 100)
        )
        for k in range(n)
    ]


def test_pending_work_is_found_by_status_and_recorded(store_url):
    store = CampaignStore(store_url)
    store.add(generated(6))
    assert len(store) == 6 and store.cids() == {f"c{k:03d}" for k in range(6)}
    # Nothing audited yet: every candidate is pending for the audit, none for the screen.
    pending = store.candidates({"generate_status": "passed", "audit_status": None})
    assert [c.cid for c in pending] == [f"c{k:03d}" for k in range(6)]
    assert "audit_status" not in pending[0].values  # "pending" reads as not recorded
    assert pending[0].structure.composition.reduced_formula == "NaCl"

    outcomes = [
        Outcome(c.cid, "passed" if k % 2 else "dropped", "" if k % 2 else "duplicate", {"n": k})
        for k, c in enumerate(pending)
    ]
    store.record("audit", outcomes, step="audit:duplicates")
    assert store.step_done("audit:duplicates")
    passed = store.candidates({"audit_status": "passed", "prescreen_status": None})
    assert [c.cid for c in passed] == ["c001", "c003", "c005"]
    # The dropped ones can never reach the pre-screen: they leave its pending work.
    assert (
        store.count(prescreen_status="skipped") == 3 and store.count(prescreen_status=PENDING) == 3
    )
    assert passed[0].values["audit_n"] == 1 and store.count(audit_status="dropped") == 3
    assert store.candidates({"generate_status": "passed", "audit_status": None}) == []
    assert [c.cid for c in store.candidates(cids={"c003", "c004"})] == ["c003", "c004"]

    table = store.table()
    assert list(table["cid"]) == sorted(table["cid"]) and len(table) == 6
    assert PENDING not in set(table.astype(str).to_numpy().ravel())
    assert "prescreen_status" not in table  # no candidate reached it


def test_a_ctrl_c_inside_a_write_keeps_nothing_of_it_and_stays_a_ctrl_c(store_url):
    store = CampaignStore(store_url)
    store.add(generated(4))
    outcomes = [Outcome(f"c{k:03d}", "passed", values={"n": k}) for k in range(4)]

    # Ctrl-C lands after two of four updates of one transaction; on PostgreSQL, ASE's own
    # rollback would fail and replace it by an AttributeError
    with pytest.raises(KeyboardInterrupt), store._transaction():
        for k, outcome in enumerate(outcomes):
            if k == 2:
                raise KeyboardInterrupt
            store.db.update(store._ids_of([outcome.cid])[outcome.cid], audit_status="passed")
    assert store.count(audit_status="passed") == 0  # the two updates were rolled back
    store.record("audit", outcomes)  # and the store is usable afterwards
    assert store.count(audit_status="passed") == 4


def test_discarding_a_stage_makes_its_candidates_pending_again(store_url):
    store = CampaignStore(store_url)
    store.add(generated(3))
    store.record("audit", [Outcome(f"c{k:03d}", "passed", values={"n": k}) for k in range(3)])
    moved = rock_salt(6.0)
    store.record("prescreen", [Outcome("c000", "passed", structure=moved)])
    store.discard("audit")
    again = store.candidates({"generate_status": "passed", "audit_status": None})
    assert [c.cid for c in again] == ["c000", "c001", "c002"]
    assert "audit_n" not in again[0].values and "prescreen" not in again[0].structures
    assert again[0].structure.lattice.a == pytest.approx(rock_salt(5.5).lattice.a)
    store.discard("generate")
    assert len(store) == 0


def test_a_store_written_before_pending_markers_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    old = ase.db.connect(path)
    old.write(Atoms("NaCl", cell=[5, 5, 5], pbc=True), cid="c000", generate_status="passed")
    old.write(
        Atoms("NaCl", cell=[5, 5, 5], pbc=True),
        cid="c001", generate_status="passed", audit_status="passed",
    )  # fmt: skip
    store = CampaignStore(path)
    assert store.metadata["store_version"] == 2
    assert [c.cid for c in store.candidates({"audit_status": None})] == ["c000"]
    assert [
        c.cid for c in store.candidates({"audit_status": "passed", "prescreen_status": None})
    ] == ["c001"]


def test_the_queries_have_their_indexes(store_url):
    store = CampaignStore(store_url)
    with store.db.managed_connection() as connection:
        cursor = connection.cursor()
        if store.db.type == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        names = {row[0] for row in cursor.fetchall()}
    expected = (
        {
            "gendesign_cid",
            "gendesign_audit_status",
            "gendesign_rank_status",
            "gendesign_text_kv_id",
            "gendesign_keys_id",
        }  # fmt: skip
        if store.db.type == "postgresql"
        else {"gendesign_text_kv", "gendesign_text_kv_id", "gendesign_number_kv_id"}
    )
    assert expected <= names
