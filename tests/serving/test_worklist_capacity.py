"""The day's list (issue 10, point 5): capacity per collector and per step, expected recovery.

Measured on main before: with capacity 40 the day's list held 30 escalations and 10
disputes; no reminder or call made it. These tests hold the list to the step capacities.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from features.importing import import_directory
from features.ledger import ledger_from_frames, read_ledger
from features.store import get_engine
from features.synthetic import generate_ledger, write_ledger
from kernel.errors import ConfigurationError
from kernel.policy import PolicySettings
from serving.decisions import OpenInvoice, rank_worklist
from serving.decisions.allocation import expected_recovery, plan_day, step_quotas
from serving.decisions.worklist import WORK_ACTIONS, WorklistItem
from serving.entries import build_entries
from tests.utils.api_support import ApiTemplate
from training.bundle import load_bundle

POLICY = PolicySettings.defaults()
TODAY = dt.date(2026, 11, 25)


def _inv(cid: str, *, overdue: int, amount: float = 1_000.0, p: float = 0.05, **kw) -> OpenInvoice:
    return OpenInvoice(
        invoice_id=f"{cid}-i",
        customer_id=cid,
        due_date=TODAY - dt.timedelta(days=overdue),
        open_amount=amount,
        p_default=p,
        days_late=10.0,
        days_late_p50=10.0,
        **kw,
    )


def _the_measured_day() -> list[OpenInvoice]:
    """Lost causes with the largest priority, then disputes, calls and fresh reminders."""
    invoices = [_inv(f"esc{k:02}", overdue=120 + k, amount=50_000, p=0.9) for k in range(34)]
    invoices += [_inv(f"dis{k:02}", overdue=40, amount=30_000, disputed=True) for k in range(10)]
    invoices += [_inv(f"cal{k:02}", overdue=10, amount=2_000 + k) for k in range(30)]
    invoices += [_inv(f"rem{k:02}", overdue=1, amount=1_500 + k) for k in range(25)]
    return invoices


def _steps(items: tuple[WorklistItem, ...] | list[WorklistItem]) -> Counter[str]:
    return Counter(it.next_action for it in items)


def test_the_day_mixes_steps_in_the_proportions_of_the_capacities():
    wl = rank_worklist(_the_measured_day(), as_of=TODAY, policy=POLICY)
    # Default: 40 items a day, 20 calls + 12 escalations + 8 disputes; reminders automated.
    assert _steps(wl.items) == {"call": 20, "escalate": 12, "dispute_resolution": 8, "reminder": 25}
    assert wl.capacity == 40 and dict(wl.quotas) == {
        "escalate": 12,
        "call": 20,
        "dispute_resolution": 8,
    }
    assert _steps(wl.overflow) == {"escalate": 22, "call": 10, "dispute_resolution": 2}
    assert [it.rank for it in (*wl.items, *wl.overflow)] == list(range(1, 100))


def test_automated_reminders_take_no_capacity_and_manual_ones_do():
    tiny = POLICY.replace(collector_capacity=4)
    wl = rank_worklist(_the_measured_day(), as_of=TODAY, policy=tiny)
    assert _steps(wl.items)["reminder"] == 25  # all of them, on top of the 4 items
    assert sum(n for s, n in _steps(wl.items).items() if s != "reminder") == 4
    manual = tiny.replace(reminders_automated=False)
    wl = rank_worklist(
        _the_measured_day(), as_of=TODAY, policy=manual.replace(collector_capacity=50)
    )
    # 50 items split 20 : 12 : 8 : 10 -> calls 20, escalations 12, disputes 8, reminders 10.
    assert _steps(wl.items) == {"call": 20, "escalate": 12, "dispute_resolution": 8, "reminder": 10}


def test_the_old_single_capacity_still_sets_the_day_split_by_step():
    policy = POLICY.replace(collector_capacity=10)
    assert step_quotas(10, policy=policy) == {"escalate": 3, "call": 5, "dispute_resolution": 2}
    wl = rank_worklist(_the_measured_day(), as_of=TODAY, policy=policy)
    assert _steps(wl.items) == {"call": 5, "escalate": 3, "dispute_resolution": 2, "reminder": 25}


def test_a_step_short_of_customers_leaves_its_share_to_the_others():
    calls_only = [_inv(f"cal{k:02}", overdue=10, amount=2_000 + k) for k in range(50)]
    wl = rank_worklist(calls_only, as_of=TODAY, policy=POLICY)
    assert _steps(wl.items) == {"call": 40} and len(wl.overflow) == 10


def test_within_a_step_expected_recovery_ranks_and_lost_causes_go_last():
    lost = _inv("lost", overdue=200, amount=100_000, p=1.0)
    likely = _inv("likely", overdue=45, amount=20_000, p=0.3)
    policy = POLICY.replace(collector_capacity=2, step_capacity={"escalate": 1, "call": 1})
    wl = rank_worklist([lost, likely], as_of=TODAY, policy=policy)
    escalations = [it.customer_id for it in wl.items if it.next_action == "escalate"]
    assert escalations[0] == "likely"
    item = next(it for it in wl.items if it.customer_id == "likely")
    # 20,000 × (1 - 0.3) × collect rate 0.3 - cost 150.
    assert item.expected_recovery == pytest.approx(20_000 * 0.7 * 0.3 - 150)
    assert expected_recovery(item.invoices, "none", policy=POLICY) == 0.0
    # Priority (expected loss) would have put the lost cause first.
    assert _item(wl, "lost").priority > item.priority


def _item(wl, cid: str) -> WorklistItem:
    return next(it for it in (*wl.items, *wl.overflow, *wl.waiting) if it.customer_id == cid)


def test_each_collector_fills_their_own_day_from_their_own_accounts():
    invoices = _the_measured_day()
    customers = sorted({inv.customer_id for inv in invoices})
    assigned = {cid: ("alice" if k % 2 else "bob") for k, cid in enumerate(customers)}
    policy = POLICY.replace(collector_capacities={"bob": 10})  # bob works part-time
    wl = rank_worklist(invoices, as_of=TODAY, policy=policy, assigned=assigned)
    assert wl.capacity == 50
    mine = {
        name: _steps(
            [it for it in wl.items if it.collector == name and it.next_action != "reminder"]
        )
        for name in ("alice", "bob")
    }
    # Bob: 10 items split 5 : 3 : 2. Alice has 15 calls and 5 disputes for quotas of 20
    # and 8: the 8 spare items go to her best remaining customers (escalations).
    assert mine["bob"] == {"call": 5, "escalate": 3, "dispute_resolution": 2}
    assert mine["alice"] == {"call": 15, "escalate": 17, "dispute_resolution": 5}
    assert {it.collector for it in wl.items} == {"alice", "bob"}


def test_step_tables_name_known_steps_and_give_collectors_work():
    with pytest.raises(ConfigurationError, match="unknown steps"):
        POLICY.replace(step_capacity={"calls": 10})
    with pytest.raises(ConfigurationError, match="no items to the steps collectors work"):
        POLICY.replace(step_capacity={"reminder": 10})
    assert POLICY.model_dump()["step_capacity"]["call"] == 20


# --- on a generated store -----------------------------------------------------------------


@pytest.fixture(scope="module")
def generated_items(api_template: ApiTemplate) -> list[WorklistItem]:
    """Every customer's item on a 200-customer generated ledger, scored by a real bundle."""
    last = dt.date(2026, 3, 1)
    ledger = ledger_from_frames(generate_ledger(customers=200, seed=11, years=2.0, end_date=last))
    bundle = load_bundle(api_template.models_dir / "champion")
    policy = POLICY.with_grade_cutoffs(bundle.thresholds)
    entries, _ = build_entries(ledger, bundle=bundle, policy=policy, as_of=last + dt.timedelta(1))
    return [e.item for e in entries.values() if e.item is not None]


def test_generated_store_day_holds_reminders_calls_and_escalations(generated_items):
    work = [it for it in generated_items if it.next_action in WORK_ACTIONS]
    available = _steps(work)
    assert available["escalate"] > 12  # enough lost causes to fill the day alone
    plan = plan_day(work, policy=POLICY)
    today = _steps(plan.today)
    assert today["reminder"] == available["reminder"] > 0  # automated: every one
    quotas = {"call": 20, "escalate": 12, "dispute_resolution": 8}
    for step, quota in quotas.items():
        # Each step gets its share, or every customer it has when it has fewer (the
        # share left over goes to the other steps).
        assert today[step] >= min(quota, available[step])
    assert today["call"] > 0 and today["escalate"] > 0
    assert sum(today[s] for s in quotas) == min(40, sum(available[s] for s in quotas))


def test_generated_store_day_per_collector(generated_items):
    work = [it for it in generated_items if it.next_action in WORK_ACTIONS]
    names = ("alice", "bob", "chloe")
    work = [WorklistItem(**{**vars(it), "collector": names[k % 3]}) for k, it in enumerate(work)]
    plan = plan_day(work, policy=POLICY)
    assert plan.capacity == 120
    for name in names:
        mine = [it for it in plan.today if it.collector == name and it.next_action != "reminder"]
        assert len(mine) <= 40
        queue = [it for it in work if it.collector == name and it.next_action != "reminder"]
        assert len(mine) == min(40, len(queue))
        mine_steps, queue_steps = _steps(mine), _steps(queue)
        for step, quota in {"call": 20, "escalate": 12, "dispute_resolution": 8}.items():
            assert mine_steps[step] >= min(quota, queue_steps[step])


def test_accounts_are_assigned_by_the_import_column(api_template: ApiTemplate, tmp_path):
    last = dt.date(2026, 3, 1)
    frames = generate_ledger(customers=30, seed=3, years=1.0, end_date=last)
    ids = frames["customers"]["customer_id"].tolist()
    frames["customers"]["collector"] = ["alice" if k % 3 else None for k in range(len(ids))]
    write_ledger(frames, tmp_path / "data")
    engine = get_engine(f"sqlite:///{tmp_path / 'store.db'}")
    import_directory(engine, tmp_path / "data")
    ledger, bad = read_ledger(engine)
    assert not bad
    bundle = load_bundle(api_template.models_dir / "champion")
    entries, _ = build_entries(
        ledger, bundle=bundle, policy=POLICY, as_of=last + dt.timedelta(days=1)
    )
    items = {cid: e.item for cid, e in entries.items() if e.item is not None}
    assert items
    for cid, item in items.items():
        assert item.collector == ("alice" if ids.index(cid) % 3 else None)
