"""Order decisions: examples per rule, and never more lenient with more exposure or risk."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.decisions import DECISIONS, GRADES, PolicySettings, order_decision

POLICY = PolicySettings.defaults()
HYP = hypothesis.settings(max_examples=300, deadline=None)
SEVERITY = {d: i for i, d in enumerate(DECISIONS)}

money = st.floats(0, 1e6)
grades = st.sampled_from(GRADES)


def _severity(**kwargs) -> int:
    return SEVERITY[order_decision(policy=POLICY, **kwargs).decision]


def test_within_limit_good_grade_is_approved():
    d = order_decision(
        amount=2_000, open_amount=5_000, credit_limit=10_000, grade="B", policy=POLICY
    )
    assert d.decision == "approve"
    assert d.exposure_after_order == 7_000
    assert d.utilisation == pytest.approx(0.7)
    assert "70%" in d.reasons[0] and "grade B" in d.reasons[0]


def test_over_limit_is_reviewed_and_far_over_declined():
    review = order_decision(
        amount=6_000, open_amount=5_000, credit_limit=10_000, grade="A", policy=POLICY
    )
    assert review.decision == "review"
    assert "review point" in review.reasons[0]
    decline = order_decision(
        amount=9_000, open_amount=5_000, credit_limit=10_000, grade="A", policy=POLICY
    )
    assert decline.decision == "decline"
    assert "decline point" in decline.reasons[0]


def test_risky_grades():
    d = order_decision(amount=1_000, open_amount=0, credit_limit=10_000, grade="D", policy=POLICY)
    assert d.decision == "review" and "grade D" in d.reasons[0]
    e_over = order_decision(
        amount=10_500, open_amount=0, credit_limit=10_000, grade="E", policy=POLICY
    )
    assert e_over.decision == "decline"
    assert any("grade E" in r for r in e_over.reasons)


def test_large_overdue_needs_review():
    d = order_decision(
        amount=100,
        open_amount=4_000,
        overdue_amount=3_000,
        credit_limit=10_000,
        grade="A",
        policy=POLICY,
    )
    assert d.decision == "review"
    assert any("overdue" in r for r in d.reasons)


def test_zero_limit_declines_any_order():
    d = order_decision(amount=1, open_amount=0, credit_limit=0, grade="A", policy=POLICY)
    assert d.decision == "decline"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(amount=-1.0, open_amount=0.0, credit_limit=10.0, grade="A"),
        dict(amount=float("nan"), open_amount=0.0, credit_limit=10.0, grade="A"),
        dict(amount=1.0, open_amount=0.0, credit_limit=10.0, grade="F"),
    ],
)
def test_bad_input_is_refused(kwargs):
    with pytest.raises(ValueError):
        order_decision(policy=POLICY, **kwargs)


@HYP
@given(
    amounts=st.tuples(money, money),
    open_amount=money,
    overdue=money,
    limit=money,
    grade=grades,
)
def test_more_order_amount_is_never_more_lenient(amounts, open_amount, overdue, limit, grade):
    small, large = sorted(amounts)
    common = dict(open_amount=open_amount, overdue_amount=overdue, credit_limit=limit, grade=grade)
    assert _severity(amount=small, **common) <= _severity(amount=large, **common)


@HYP
@given(amount=money, opens=st.tuples(money, money), limit=money, grade=grades)
def test_more_open_exposure_is_never_more_lenient(amount, opens, limit, grade):
    small, large = sorted(opens)
    common = dict(amount=amount, credit_limit=limit, grade=grade)
    assert _severity(open_amount=small, **common) <= _severity(open_amount=large, **common)


@HYP
@given(amount=money, open_amount=money, overdues=st.tuples(money, money), limit=money, grade=grades)
def test_more_overdue_is_never_more_lenient(amount, open_amount, overdues, limit, grade):
    small, large = sorted(overdues)
    common = dict(amount=amount, open_amount=open_amount, credit_limit=limit, grade=grade)
    assert _severity(overdue_amount=small, **common) <= _severity(overdue_amount=large, **common)


@HYP
@given(amount=money, open_amount=money, limits=st.tuples(money, money), grade=grades)
def test_a_lower_limit_is_never_more_lenient(amount, open_amount, limits, grade):
    low, high = sorted(limits)
    common = dict(amount=amount, open_amount=open_amount, grade=grade)
    assert _severity(credit_limit=low, **common) >= _severity(credit_limit=high, **common)


@HYP
@given(amount=money, open_amount=money, limit=money, pair=st.tuples(grades, grades))
def test_a_worse_grade_is_never_more_lenient(amount, open_amount, limit, pair):
    better, worse = sorted(pair)  # "A" < "E"
    common = dict(amount=amount, open_amount=open_amount, credit_limit=limit)
    assert _severity(grade=better, **common) <= _severity(grade=worse, **common)


def test_the_exposure_reason_reads_as_a_person_says_it():
    """Issue 10, point 7: an order far over a small limit read "44894% of the approved
    limit 100", and one against a limit of 0 "is above of the approved limit 0"."""
    far = order_decision(
        amount=100, open_amount=44_794, credit_limit=100, grade="B", policy=POLICY,
        limit_kind="approved",
    )  # fmt: skip
    assert far.reasons[0].startswith(
        "exposure after the order 44,894 is over 10 times the approved limit 100"
    )
    near = order_decision(
        amount=2_500, open_amount=7_500, credit_limit=1_000, grade="B", policy=POLICY
    )
    assert near.reasons[0].startswith(
        "exposure after the order 10,000 is 1,000% of the suggested limit 1,000"
    )
    none = order_decision(amount=1, open_amount=0, credit_limit=0, grade="A", policy=POLICY)
    assert none.reasons[0].startswith(
        "exposure after the order 1 is above the suggested limit 0 (no credit)"
    )
    assert " above of " not in " ".join(far.reasons + near.reasons + none.reasons)
