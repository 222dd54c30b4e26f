"""Answers name the bundle's risk target: default, or paying more than V days late."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from features.store import get_engine
from kernel.policy import PolicySettings
from serving.decisions.grades import assess_grade
from serving.decisions.limits import suggest_credit_limit
from serving.decisions.target import RiskTarget, chance_words
from serving.schemas import NewInvoice
from serving.state import ServingState
from serving.usecases.customers import customer_view
from serving.usecases.invoices import score_invoices
from serving.usecases.orders import assess_order
from serving.usecases.worklist import worklist_page
from tests.utils.api_support import AS_OF, ApiTemplate, settings_for
from training.bundle import load_bundle

VERY_LATE = "chance of paying more than 30 days late"
# The policy's own fallback limit is a "default" of the policy, not of a customer.
_POLICY_DEFAULT = re.compile(r"policy default limit")


def _state(template: ApiTemplate, tmp_path: Path, **target: object) -> ServingState:
    settings = settings_for(template, tmp_path)
    bundle = load_bundle(settings.models_dir / "champion")
    return ServingState.build(
        get_engine(settings.database_url),
        bundle=dataclasses.replace(bundle, **target),  # type: ignore[arg-type]
        policy=settings.policy,
        as_of=AS_OF,
    )


@pytest.fixture(scope="module")
def very_late_state(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> ServingState:
    return _state(
        api_template,
        tmp_path_factory.mktemp("very-late"),
        risk_target="very_late",
        very_late_days=30,
    )


@pytest.fixture(scope="module")
def default_state(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> ServingState:
    return _state(api_template, tmp_path_factory.mktemp("default"))


def _customer_with_invoice(state: ServingState) -> tuple[str, str]:
    """A customer with an open invoice not yet past due + H (scored by the model)."""
    for cid, entry in sorted(state.entries.items()):
        for inv in entry.invoices:
            if (state.as_of - inv.due_date).days <= state.bundle.horizon_days:
                return cid, inv.invoice_id
    raise AssertionError("the template has no open invoice within the horizon")


def _targets(state: ServingState) -> set[tuple[str, int | None]]:
    """The (risk_target, very_late_days) pairs the answers carry."""
    cid, invoice_id = _customer_with_invoice(state)
    owners = {inv.invoice_id: c for c, e in state.entries.items() for inv in e.invoices}
    scored = score_invoices(
        state,
        invoice_ids=[invoice_id],
        new_invoices=[NewInvoice(customer_id=cid, amount=500.0)],
        owner_of=owners.get,
    )
    order = assess_order(state, None, customer_id=cid, amount=1234.0).answer  # type: ignore[arg-type]
    customer = customer_view(state, cid)
    worklist = worklist_page(state, limit=None)
    return {
        (order.risk_target, order.very_late_days),
        (customer.risk_target, customer.very_late_days),
        (worklist.risk_target, worklist.very_late_days),
        *((inv.risk_target, inv.very_late_days) for inv in scored.data),
    }


def _texts(state: ServingState) -> dict[str, list[str]]:
    """Every sentence of the order, customer, invoice and worklist answers."""
    cid, invoice_id = _customer_with_invoice(state)
    order = assess_order(state, None, customer_id=cid, amount=1234.0).answer  # type: ignore[arg-type]
    customer = customer_view(state, cid)
    owners = {inv.invoice_id: c for c, e in state.entries.items() for inv in e.invoices}
    scored = score_invoices(
        state,
        invoice_ids=[invoice_id],
        new_invoices=[NewInvoice(customer_id=cid, amount=500.0)],
        owner_of=owners.get,
    )
    worklist = worklist_page(state, limit=None)
    # The risk model answered: the reasons below are those of a probability.
    assert order.p_default is not None and customer.p_default is not None
    assert all(inv.p_default is not None for inv in scored.data)
    return {
        "order": [r.text for r in order.reasons],
        "customer": [customer.grade_reason, *customer.credit_limit.rationale]
        + [r.text for r in customer.reasons],
        "invoices": [r.text for inv in scored.data for r in inv.reasons],
        "worklist": [text for item in worklist.data for text in item.reasons],
    }


def test_very_late_answers_name_the_target_and_never_default(
    very_late_state: ServingState,
) -> None:
    texts = _texts(very_late_state)
    sentences = [t for group in texts.values() for t in group]
    for text in sentences:
        assert "default" not in _POLICY_DEFAULT.sub("", text), text
    # Grades (order, customer), limits and the worklist say what they rest on.
    assert any(VERY_LATE in t for t in texts["order"])
    assert VERY_LATE in texts["customer"][0]
    limits = [t for e in very_late_state.entries.values() for t in e.limit.rationale]
    assert any(VERY_LATE in t for t in limits)
    assert not any("chance of default" in t for t in limits)
    assert any(VERY_LATE in t for t in texts["worklist"])
    assert _targets(very_late_state) == {("very_late", 30)}


def test_default_answers_are_unchanged(default_state: ServingState) -> None:
    texts = _texts(default_state)
    sentences = [t for group in texts.values() for t in group]
    assert not any("days late" in t and "chance of paying" in t for t in sentences)
    assert any("chance of default" in t for t in texts["order"])
    assert "chance of default" in texts["customer"][0]
    assert _targets(default_state) == {("default", None)}


def test_order_answer_carries_the_target_fields(
    very_late_state: ServingState, default_state: ServingState
) -> None:
    cid, _ = _customer_with_invoice(very_late_state)
    late = assess_order(very_late_state, None, customer_id=cid, amount=100.0).answer  # type: ignore[arg-type]
    plain = assess_order(default_state, None, customer_id=cid, amount=100.0).answer  # type: ignore[arg-type]
    assert (late.risk_target, late.very_late_days) == ("very_late", 30)
    assert (plain.risk_target, plain.very_late_days) == ("default", None)
    # The target changes the words, never the numbers.
    assert (late.p_default, late.risk_grade, late.decision) == (
        plain.p_default,
        plain.risk_grade,
        plain.decision,
    )
    keys = list(late.model_dump())
    assert keys.index("risk_target") == keys.index("p_default") + 1


def test_one_wording_for_every_decision() -> None:
    target = RiskTarget.of("very_late", 45)
    assert chance_words(target) == "chance of paying more than 45 days late"
    assert chance_words(RiskTarget.of("default")) == "chance of default"
    policy = PolicySettings.defaults()
    grade = assess_grade(0.08, policy=policy, target=target)
    assert grade.reason.endswith("8.0% chance of paying more than 45 days late")
    limit = suggest_credit_limit(
        monthly_sales=10_000.0, terms_days=30, p_default=0.08, policy=policy, target=target
    )
    assert "8.0% chance of paying more than 45 days late" in limit.rationale[1]


@pytest.mark.parametrize(("name", "days"), [("very_late", None), ("very_late", 0), ("late", 30)])
def test_a_target_must_be_known_and_complete(name: str, days: int | None) -> None:
    with pytest.raises(ValueError, match="risk target"):
        RiskTarget.of(name, days)


def test_unpaid_more_than_v_days_past_due_is_very_late_for_certain(
    very_late_state: ServingState, default_state: ServingState
) -> None:
    """Like past due + H for a default: unpaid past due + V it will be paid after V days."""

    def overdue(state: ServingState) -> dict[str, float]:
        return {
            inv.invoice_id: inv.p_default
            for e in state.entries.values()
            for inv in e.invoices
            if 30 < (state.as_of - inv.due_date).days <= state.bundle.horizon_days
        }

    late, plain = overdue(very_late_state), overdue(default_state)
    assert late and set(late) == set(plain)
    assert all(p == 1.0 for p in late.values())
    assert any(p < 1.0 for p in plain.values())
    invoice_id = sorted(late)[0]
    owners = {inv.invoice_id: c for c, e in very_late_state.entries.items() for inv in e.invoices}
    scored = score_invoices(
        very_late_state, invoice_ids=[invoice_id], new_invoices=[], owner_of=owners.get
    ).data[0]
    assert scored.p_default == 1.0
    assert [r.text for r in scored.reasons] == [
        "more than 30 days past due: already more than 30 days late"
    ]
