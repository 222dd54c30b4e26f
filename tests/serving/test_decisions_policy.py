"""Policy from settings, refusal of contradictory numbers, grades, a light import."""

from __future__ import annotations

import math
import subprocess
import sys

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kernel.config import Settings
from kernel.errors import ConfigurationError
from serving.decisions import GRADES, PolicySettings, assess_grade, risk_grade

POLICY = PolicySettings.defaults()


def test_defaults_are_the_settings_defaults(settings: Settings):
    assert settings.policy == POLICY
    assert POLICY.call_from_days == 7 and POLICY.escalate_after_days == 30
    assert POLICY.reminder_at_days == 0
    assert POLICY.cost_of_capital == 0.08
    assert POLICY.discount_rate_min == 0.008 and POLICY.discount_rate_max == 0.015
    assert POLICY.grade_cutoffs == (0.02, 0.05, 0.10, 0.20)


def test_environment_sets_the_policy(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DUECAST_POLICY_CALL_FROM_DAYS", "5")
    monkeypatch.setenv("DUECAST_POLICY_COST_OF_CAPITAL", "0.12")
    monkeypatch.setenv("DUECAST_POLICY_ORDER_REVIEW_GRADES", '["C", "D", "E"]')
    monkeypatch.setenv("DUECAST_GRADE_CUTOFFS", '{"A": 0.01, "B": 0.03, "C": 0.08, "D": 0.15}')
    policy = Settings().policy
    assert policy.call_from_days == 5
    assert policy.cost_of_capital == 0.12
    assert policy.order_review_grades == ("C", "D", "E")
    assert policy.grade_cutoffs == (0.01, 0.03, 0.08, 0.15)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DUECAST_POLICY_CREDIT_LIMIT_FLOOR": "300000"}, "floor"),
        ({"DUECAST_POLICY_CREDIT_LIMIT_DEFAULT": "999999"}, "default credit limit"),
        ({"DUECAST_POLICY_CALL_FROM_DAYS": "40"}, "reminder <= call <= escalate"),
        ({"DUECAST_POLICY_DUNNING_RISK_FACTORS": "[0.5, 1, 1, 1, 1]"}, "risk factors"),
        ({"DUECAST_POLICY_ORDER_REVIEW_GRADES": '["C"]'}, "worst grades"),
        (
            {
                "DUECAST_POLICY_ORDER_DECLINE_GRADES": '["D", "E"]',
                "DUECAST_POLICY_ORDER_REVIEW_GRADES": '["E"]',
            },
            "also be a review grade",
        ),
        (
            {"DUECAST_POLICY_ORDER_REVIEW_ABOVE": "2", "DUECAST_POLICY_ORDER_DECLINE_ABOVE": "1.5"},
            "review share",
        ),
        ({"DUECAST_POLICY_DISCOUNT_RATE": "0.02"}, "band"),
        ({"DUECAST_POLICY_COST_OF_CAPITAL": "-0.1"}, "cost_of_capital"),
        ({"DUECAST_GRADE_CUTOFFS": '{"A": 0.2, "B": 0.1, "C": 0.3, "D": 0.4}'}, "grade cut-offs"),
    ],
)
def test_settings_refuse_nonsense(monkeypatch: pytest.MonkeyPatch, env: dict, message: str):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_policy_refuses_nonsense_directly():
    with pytest.raises(ConfigurationError, match="floor"):
        POLICY.replace(credit_limit_floor=1e9)


def test_bundle_thresholds_replace_grade_cutoffs():
    policy = POLICY.with_grade_cutoffs({"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4})
    assert policy.grade_cutoffs == (0.1, 0.2, 0.3, 0.4)
    assert POLICY.with_grade_cutoffs(None) is POLICY
    with pytest.raises(ConfigurationError, match="lack"):
        POLICY.with_grade_cutoffs({"A": 0.1})


@pytest.mark.parametrize(
    ("p", "grade"),
    [(0.0, "A"), (0.02, "A"), (0.03, "B"), (0.05, "B"), (0.07, "C"), (0.2, "D"), (0.21, "E")],
)
def test_grade_from_probability(p, grade):
    graded = assess_grade(p, 99.0, policy=POLICY)
    assert (graded.grade, graded.basis) == (grade, "p_default")
    assert f"{p:.1%}" in graded.reason


def test_bundle_thresholds_win_over_the_policy():
    assert risk_grade(0.07, policy=POLICY) == "C"
    bundle_policy = POLICY.with_grade_cutoffs({"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4})
    assert risk_grade(0.07, policy=bundle_policy) == "A"


def test_grade_from_days_late_without_default_model():
    graded = assess_grade(math.nan, 12.0, policy=POLICY)
    assert (graded.grade, graded.basis) == ("C", "days_late")
    assert "too few defaults" in graded.reason
    assert risk_grade(None, -3.0, policy=POLICY) == "A"
    assert risk_grade(None, 45.0, policy=POLICY) == "E"
    assert assess_grade(None, None, policy=POLICY).basis == "none"


@hypothesis.settings(max_examples=200, deadline=None)
@given(
    pair=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    days=st.tuples(st.floats(-30, 400), st.floats(-30, 400)),
)
def test_grades_never_improve_with_risk(pair, days):
    lo, hi = sorted(pair)
    assert GRADES.index(risk_grade(lo, policy=POLICY)) <= GRADES.index(
        risk_grade(hi, policy=POLICY)
    )
    early, late = sorted(days)
    assert GRADES.index(risk_grade(None, early, policy=POLICY)) <= GRADES.index(
        risk_grade(None, late, policy=POLICY)
    )


def test_decisions_import_no_pandas_web_or_database():
    code = (
        "import sys, serving.decisions; "
        "print(sorted(m for m in ('pandas', 'fastapi', 'sqlalchemy', 'lightgbm', 'mlflow') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_worklist_grade_filter_offers_exactly_the_grades() -> None:
    # A Literal cannot be built from a tuple in a way type checkers read: the route
    # spells the letters out, and this keeps them equal to the one GRADES tuple.
    import typing

    from serving.routes.worklist import get_worklist

    grade = typing.get_type_hints(get_worklist)["grade"]
    literal = next(arg for arg in typing.get_args(grade) if arg is not type(None))
    assert typing.get_args(literal) == GRADES
