"""The policy settings group: every environment name kept, pure defaults, checked copies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from kernel.config import Settings
from kernel.errors import ConfigurationError
from kernel.policy import GRADES, PolicySettings

# The names users have set since the policy was first configurable: none may change.
ENV_NAMES = {
    "grade_cutoffs": "DUECAST_GRADE_CUTOFFS",  # shared with training: no policy prefix
    **{
        name: f"DUECAST_POLICY_{name.upper()}"
        for name in (
            "grade_days_late_cutoffs",
            "reminder_at_days",
            "call_from_days",
            "escalate_after_days",
            "dunning_risk_factors",
            "promise_grace_days",
            "follow_up_reminder_days",
            "follow_up_call_days",
            "follow_up_escalate_days",
            "cost_of_capital",
            "collector_capacity",
            # Issue 10: capacity per collector and per step (kernel.policy_steps).
            "collector_capacities",
            "step_capacity",
            "reminders_automated",
            "step_collect_rate",
            "step_cost",
            "credit_limit_floor",
            "credit_limit_ceiling",
            "credit_limit_default",
            "credit_limit_max_change",
            "credit_limit_slack_days",
            "credit_limit_risk_slope",
            "credit_limit_days_late_zero",
            "credit_limit_min_history",
            "credit_limit_rounding",
            "order_review_above",
            "order_decline_above",
            "order_review_grades",
            "order_decline_grades",
            "order_overdue_review_share",
            "reservation_days",  # issue 10: approved orders reserve their amount
            "cash_weeks",
            "cash_interval",
            "discount_rate",
            "discount_rate_min",
            "discount_rate_max",
            "discount_days",
        )
    },
}
CUTOFFS = '{"A": 0.01, "B": 0.03, "C": 0.08, "D": 0.15}'


def test_the_group_holds_exactly_the_documented_settings(settings: Settings) -> None:
    assert set(PolicySettings.model_fields) == set(ENV_NAMES)
    assert "policy" in Settings.model_fields
    assert not any(name.startswith("policy_") for name in Settings.model_fields)
    assert "grade_cutoffs" not in Settings.model_fields  # defined once, in the group


@pytest.mark.parametrize(("field", "env"), sorted(ENV_NAMES.items()))
def test_every_variable_is_read_under_its_name(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, field: str, env: str
) -> None:
    # A value no field accepts: refused at start-up, naming the variable's field.
    monkeypatch.setenv(env, "not-a-value")
    with pytest.raises((ValidationError, SettingsError), match=f"(?i){field}|{env}"):
        Settings()


def test_values_from_the_environment_reach_settings_policy(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUECAST_POLICY_REMINDER_AT_DAYS", "-3")
    monkeypatch.setenv("DUECAST_POLICY_DUNNING_RISK_FACTORS", "[1, 0.9, 0.8, 0.6, 0.4]")
    monkeypatch.setenv("DUECAST_POLICY_ORDER_DECLINE_GRADES", '["D", "E"]')
    monkeypatch.setenv("DUECAST_GRADE_CUTOFFS", CUTOFFS)
    policy = Settings().policy
    assert policy.reminder_at_days == -3
    assert policy.dunning_risk_factors == (1.0, 0.9, 0.8, 0.6, 0.4)
    assert policy.order_decline_grades == ("D", "E")
    assert policy.grade_cutoffs == (0.01, 0.03, 0.08, 0.15)
    # What training stores in the bundle.
    assert policy.grade_thresholds() == {"A": 0.01, "B": 0.03, "C": 0.08, "D": 0.15}


@pytest.mark.parametrize(
    "env",
    [
        "DUECAST_POLICY_GRADE_CUTOFFS",  # the shared name has no policy prefix
        "DUECAST_CALL_FROM_DAYS",  # the policy's names all have it
        "DUECAST_POLICY_POLICY_CALL_FROM_DAYS",
    ],
)
def test_names_that_were_never_settings_stay_ignored(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv(env, "not-a-value")
    assert Settings().policy == PolicySettings.defaults()


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("DUECAST_POLICY_CALL_FROM_DAYS", "40", "reminder <= call <= escalate"),
        ("DUECAST_POLICY_FOLLOW_UP_CALL_DAYS", "-1", "follow_up_call_days"),
        ("DUECAST_GRADE_CUTOFFS", '{"A": 0.1, "B": 0.2, "C": 0.3}', "exactly the keys A, B, C, D"),
        ("DUECAST_GRADE_CUTOFFS", "[0.01, 0.03, 0.08, 0.15]", "exactly the keys A, B, C, D"),
        ("DUECAST_POLICY_ORDER_REVIEW_GRADES", '["D", "F"]', "unknown grades"),
    ],
)
def test_bad_values_are_refused_at_start_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_defaults_ignore_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUECAST_POLICY_CALL_FROM_DAYS", "5")
    monkeypatch.setenv("DUECAST_GRADE_CUTOFFS", CUTOFFS)
    defaults = PolicySettings.defaults()
    assert (defaults.call_from_days, defaults.grade_cutoffs) == (7, (0.02, 0.05, 0.10, 0.20))
    assert defaults.replace(cash_weeks=4).call_from_days == 7  # copies ignore it too
    assert Settings().policy.call_from_days == 5


def test_grade_cutoffs_given_by_name_win_over_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUECAST_GRADE_CUTOFFS", CUTOFFS)
    given = PolicySettings(grade_cutoffs={"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4})
    assert given.grade_cutoffs == (0.1, 0.2, 0.3, 0.4)
    assert PolicySettings().grade_cutoffs == (0.01, 0.03, 0.08, 0.15)


def test_the_policy_is_frozen_and_copies_are_checked() -> None:
    policy = PolicySettings.defaults()
    with pytest.raises(ValidationError, match="frozen"):
        policy.call_from_days = 3  # type: ignore[misc]
    assert policy.replace(call_from_days=3).call_from_days == 3
    assert policy.replace(grade_cutoffs=policy.grade_thresholds()) == policy
    with pytest.raises(ConfigurationError, match="reminder <= call <= escalate"):
        policy.replace(call_from_days=40)
    with pytest.raises(ConfigurationError, match="cost_of_capital"):
        policy.replace(cost_of_capital=-0.1)
    assert hash(policy) == hash(PolicySettings.defaults())


def test_bundle_cutoffs_ignore_extra_keys_and_must_rise() -> None:
    policy = PolicySettings.defaults()
    bundle = {"A": 0.1, "B": 0.2, "C": 0.3, "D": 0.4, "E": 1.0}
    assert policy.with_grade_cutoffs(bundle).grade_cutoffs == (0.1, 0.2, 0.3, 0.4)
    with pytest.raises(ConfigurationError, match="must rise strictly"):
        policy.with_grade_cutoffs({"A": 0.3, "B": 0.2, "C": 0.3, "D": 0.4})


def test_one_list_of_grade_letters() -> None:
    assert GRADES == ("A", "B", "C", "D", "E")
    policy = PolicySettings.defaults()
    assert [policy.dunning_factor(g) for g in GRADES] == list(policy.dunning_risk_factors)
    with pytest.raises(ValueError, match="A, B, C, D, E"):
        policy.dunning_factor("F")
