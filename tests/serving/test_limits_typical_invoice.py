"""A suggested limit is never below the policy floor, nor below one typical invoice of a
customer graded C or better (issue 10: a typical invoice of 1,815 got a limit of 1,500,
so even an order of 100 was declined)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kernel.policy import GRADES, PolicySettings
from serving.decisions.limits import suggest_credit_limit

POLICY = PolicySettings.defaults()

_money = st.floats(min_value=1.0, max_value=1e7, allow_nan=False)


def test_the_measured_case_is_raised_to_one_typical_invoice() -> None:
    kwargs = {
        "monthly_sales": 1000.0,
        "terms_days": 30,
        "p_default": 0.02,
        "policy": POLICY,
        "current_limit": 1500.0,
        "history_invoices": 10,
        "typical_invoice": 1815.0,
    }
    before = suggest_credit_limit(**kwargs)  # type: ignore[arg-type]
    assert before.amount < 1815.0  # without a grade, nothing raises it
    limit = suggest_credit_limit(**kwargs, grade="B")  # type: ignore[arg-type]
    assert limit.amount == 1900.0  # rounded up to the policy's unit
    assert any("one typical invoice" in r for r in limit.rationale)
    worse = suggest_credit_limit(**kwargs, grade="D")  # type: ignore[arg-type]
    assert worse.amount == before.amount  # D and E get no such raise


@given(
    monthly_sales=st.one_of(st.none(), _money),
    terms=st.integers(min_value=0, max_value=120),
    p_default=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)),
    current=st.one_of(st.none(), _money),
    history=st.integers(min_value=0, max_value=50),
    typical=st.one_of(st.none(), _money),
    grade=st.sampled_from(GRADES),
)
def test_never_below_the_floor_nor_one_typical_invoice_for_grades_a_to_c(
    monthly_sales: float | None,
    terms: int,
    p_default: float | None,
    current: float | None,
    history: int,
    typical: float | None,
    grade: str,
) -> None:
    limit = suggest_credit_limit(
        monthly_sales=monthly_sales,
        terms_days=terms,
        p_default=p_default,
        policy=POLICY,
        current_limit=current,
        history_invoices=history,
        typical_invoice=typical,
        grade=grade,
    )
    assert POLICY.credit_limit_floor <= limit.amount <= POLICY.credit_limit_ceiling
    if typical is not None and grade in ("A", "B", "C"):
        # The ceiling is the one bound above a typical invoice.
        assert limit.amount >= min(typical, POLICY.credit_limit_ceiling)


@given(
    typical=_money,
    p_low=st.floats(min_value=0.0, max_value=1.0),
    p_high=st.floats(min_value=0.0, max_value=1.0),
    grades=st.tuples(st.sampled_from(GRADES), st.sampled_from(GRADES)),
)
def test_still_monotone_in_risk(
    typical: float, p_low: float, p_high: float, grades: tuple[str, str]
) -> None:
    """More risk (a higher P and a grade no better) never raises the limit."""
    (p_low, p_high) = sorted((p_low, p_high))
    better, worse = sorted(grades, key=GRADES.index)

    def limit(p: float, grade: str) -> float:
        return suggest_credit_limit(
            monthly_sales=5000.0,
            terms_days=30,
            p_default=p,
            policy=POLICY,
            history_invoices=10,
            typical_invoice=typical,
            grade=grade,
        ).amount

    assert limit(p_high, worse) <= limit(p_low, better)
