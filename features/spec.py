"""The feature set: every model input with its dtype and a description a collector can read.

Training logs `spec_as_records()` with each run and stores it in the bundle; serving
checks its frames with `check_feature_frame` and turns LightGBM `pred_contrib` into
sentences from the descriptions. Every feature of a row with snapshot date S uses only
events dated strictly before S.

NaN means "unknown", never zero: only the features marked `nullable` may be NaN
(LightGBM handles NaN natively; other models must impute). Flags are 0/1 integers.
Categorical columns are pandas `category`; LightGBM stores the training categories in
the model and re-aligns them at prediction, other consumers use `align_categories`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from duecast.errors import DuecastError

__all__ = [
    "CATEGORICAL_COLUMNS",
    "CUSTOMER_FEATURE_COLUMNS",
    "DEFAULT_AFTER_DAYS",
    "FEATURE_COLUMNS",
    "FEATURE_SET_VERSION",
    "FEATURE_SPEC",
    "HISTORY_CAP_DAYS",
    "INVOICE_FEATURE_COLUMNS",
    "NEW_CUSTOMER_DAYS",
    "FeatureSpec",
    "FeatureSpecError",
    "align_categories",
    "check_feature_frame",
    "feature_by_name",
    "spec_as_records",
]

FeatureDtype = Literal["float", "int", "bool", "category"]

# Bump when a definition below changes: models trained on another version are refused.
# 2: a write-off booked on an already settled invoice no longer counts as a default.
FEATURE_SET_VERSION = "2"
# A customer's past invoice counts as a default once it is this many days past due
# unpaid, or written off (a feature definition, independent of the label horizon).
DEFAULT_AFTER_DAYS = 90
# Days late of past invoices are capped so one ancient invoice cannot swamp an average.
HISTORY_CAP_DAYS = 365
# A customer younger than this (from creation or first invoice) is "new".
NEW_CUSTOMER_DAYS = 90
# Weight of the most recent invoice in the exponentially weighted days late.
EWM_ALPHA = 0.3
# "Recent" in the trend: the last few settled invoices against all earlier ones.
TREND_RECENT = 5


class FeatureSpecError(DuecastError):
    """A feature frame does not match the feature spec (missing column, dtype, NaN)."""


@dataclass(frozen=True)
class FeatureSpec:
    """One model input.

    Attributes:
        name: column name.
        dtype: "float", "int" (whole numbers and 0/1 flags), "bool" or "category".
        description: what it measures, in words a collector understands.
        nullable: NaN allowed (it means unknown, e.g. no history yet).
        unit: how to print a value: "money", "days", "share", "count", "flag" or "".
        level: "invoice" (depends on the invoice) or "customer" (same for every
            invoice of a customer at a date; served from `customer_state`).
    """

    name: str
    dtype: str
    description: str
    nullable: bool = False
    unit: str = ""
    level: str = "customer"


def _f(name: str, dtype: FeatureDtype, description: str, **kw: object) -> FeatureSpec:
    return FeatureSpec(name, dtype, description, **kw)  # type: ignore[arg-type]


FEATURE_SPEC: tuple[FeatureSpec, ...] = (
    # Invoice
    _f("invoice_amount", "float", "invoice amount", unit="money", level="invoice"),
    _f("invoice_log_amount", "float", "invoice size (log of amount)", level="invoice"),
    _f("invoice_terms_days", "int", "payment terms of the invoice", unit="days", level="invoice"),
    _f(
        "invoice_amount_vs_usual",
        "float",
        "invoice amount relative to the customer's median invoice (1 = usual size)",
        nullable=True,
        level="invoice",
    ),
    _f("invoice_issue_month", "int", "month the invoice was issued (1-12)", level="invoice"),
    _f(
        "invoice_issued_quarter_end",
        "int",
        "invoice issued in the last month of a quarter",
        unit="flag",
        level="invoice",
    ),
    _f(
        "invoice_issue_weekday",
        "int",
        "weekday the invoice was issued (0 = Monday)",
        level="invoice",
    ),
    _f(
        "invoice_age_days", "int", "days since the invoice was issued", unit="days", level="invoice"
    ),
    _f(
        "invoice_days_past_due",
        "int",
        "days past the due date (negative = not yet due)",
        unit="days",
        level="invoice",
    ),
    _f(
        "invoice_open_share",
        "float",
        "share of the invoice amount still unpaid",
        unit="share",
        level="invoice",
    ),
    _f("invoice_disputed", "int", "the invoice is disputed", unit="flag", level="invoice"),
    # Customer payment history (invoices settled before the snapshot)
    _f("history_settled_count", "int", "invoices the customer has paid so far", unit="count"),
    _f(
        "history_days_late_mean",
        "float",
        f"average days late on paid invoices (capped at {HISTORY_CAP_DAYS})",
        nullable=True,
        unit="days",
    ),
    _f(
        "history_days_late_median",
        "float",
        "typical (median) days late on paid invoices",
        nullable=True,
        unit="days",
    ),
    _f(
        "history_days_late_max",
        "float",
        "worst days late on a paid invoice",
        nullable=True,
        unit="days",
    ),
    _f(
        "history_days_late_recent",
        "float",
        "days late on paid invoices, weighted toward the most recent",
        nullable=True,
        unit="days",
    ),
    _f(
        "history_share_late",
        "float",
        "share of paid invoices that were paid late",
        nullable=True,
        unit="share",
    ),
    _f(
        "history_share_late_over_30",
        "float",
        "share of paid invoices paid more than 30 days late",
        nullable=True,
        unit="share",
    ),
    _f(
        "history_last_days_late",
        "float",
        "days late on the most recently paid invoice",
        nullable=True,
        unit="days",
    ),
    _f(
        "history_days_late_trend",
        "float",
        f"change in days late: last {TREND_RECENT} paid invoices vs earlier ones "
        "(positive = paying later)",
        nullable=True,
        unit="days",
    ),
    _f(
        "history_default_count",
        "int",
        f"invoices written off or unpaid {DEFAULT_AFTER_DAYS}+ days past due",
        unit="count",
    ),
    _f(
        "history_default_share",
        "float",
        "share of concluded invoices that were written off or went unpaid "
        f"{DEFAULT_AFTER_DAYS}+ days past due",
        nullable=True,
        unit="share",
    ),
    _f(
        "history_partial_payment_share",
        "float",
        "share of paid invoices whose first payment was only partial",
        nullable=True,
        unit="share",
    ),
    # Exposure at the snapshot
    _f("exposure_open_amount", "float", "amount the customer owes in total", unit="money"),
    _f("exposure_open_count", "int", "open invoices of the customer", unit="count"),
    _f("exposure_overdue_amount", "float", "amount the customer has overdue", unit="money"),
    _f("exposure_overdue_count", "int", "overdue invoices of the customer", unit="count"),
    _f(
        "exposure_oldest_overdue_days",
        "int",
        "days past due of the customer's oldest overdue invoice (0 = none overdue)",
        unit="days",
    ),
    _f(
        "exposure_credit_utilisation",
        "float",
        "amount owed as a share of the credit limit",
        nullable=True,
        unit="share",
    ),
    _f(
        "exposure_dispute_rate",
        "float",
        "share of the customer's invoices that were disputed",
        nullable=True,
        unit="share",
    ),
    _f(
        "exposure_days_since_last_payment",
        "float",
        "days since the customer last paid anything",
        nullable=True,
        unit="days",
    ),
    # Customer
    _f("customer_tenure_days", "int", "days since the customer relationship began", unit="days"),
    _f("customer_invoice_count", "int", "invoices issued to the customer so far", unit="count"),
    _f(
        "customer_median_invoice_amount",
        "float",
        "the customer's usual (median) invoice amount",
        nullable=True,
        unit="money",
    ),
    _f("customer_credit_limit", "float", "credit limit", nullable=True, unit="money"),
    _f(
        "customer_payment_terms_days",
        "float",
        "the customer's standard payment terms",
        nullable=True,
        unit="days",
    ),
    _f("customer_industry", "category", "industry", nullable=True),
    _f("customer_country", "category", "country", nullable=True),
    # Cold start
    _f(
        "customer_no_payment_history",
        "int",
        "no paid invoice yet: payment history unknown",
        unit="flag",
    ),
    _f(
        "customer_is_new",
        "int",
        f"new customer (less than {NEW_CUSTOMER_DAYS} days)",
        unit="flag",
    ),
)

FEATURE_COLUMNS: list[str] = [f.name for f in FEATURE_SPEC]
CATEGORICAL_COLUMNS: list[str] = [f.name for f in FEATURE_SPEC if f.dtype == "category"]
INVOICE_FEATURE_COLUMNS: list[str] = [f.name for f in FEATURE_SPEC if f.level == "invoice"]
CUSTOMER_FEATURE_COLUMNS: list[str] = [f.name for f in FEATURE_SPEC if f.level == "customer"]


def feature_by_name(name: str) -> FeatureSpec:
    """The spec of one feature.

    Raises:
        FeatureSpecError: if no feature has that name.
    """
    for spec in FEATURE_SPEC:
        if spec.name == name:
            return spec
    raise FeatureSpecError(f"unknown feature {name!r}; known features: {FEATURE_COLUMNS}")


def spec_as_records() -> list[dict]:
    """The spec as plain dicts (MLflow params / artifacts, the exported bundle)."""
    return [{**asdict(f), "feature_set_version": FEATURE_SET_VERSION} for f in FEATURE_SPEC]


def check_feature_frame(df: pd.DataFrame) -> None:
    """Check a frame holds every feature with its dtype, NaN only where allowed.

    Raises:
        FeatureSpecError: naming every problem found.
    """
    problems: list[str] = []
    missing = [c for c in FEATURE_COLUMNS if c not in df.columns]
    if missing:
        problems.append(f"missing feature columns {missing}")
    for spec in FEATURE_SPEC:
        if spec.name not in df.columns:
            continue
        col = df[spec.name]
        if not _dtype_ok(col, spec.dtype):
            problems.append(f"{spec.name}: dtype {col.dtype} is not {spec.dtype}")
            continue
        if not spec.nullable and col.isna().any():
            problems.append(
                f"{spec.name}: {int(col.isna().sum())} missing value(s) in a column that "
                "must always be known"
            )
        if spec.unit == "flag" and not col.dropna().isin([0, 1]).all():
            problems.append(f"{spec.name}: flag values other than 0/1")
    if problems:
        raise FeatureSpecError(
            f"feature frame does not match feature set {FEATURE_SET_VERSION}: "
            + "; ".join(problems)
        )


def _dtype_ok(col: pd.Series, dtype: str) -> bool:
    if dtype == "float":
        return pd.api.types.is_float_dtype(col.dtype)
    if dtype == "int":
        return pd.api.types.is_integer_dtype(col.dtype) and not isinstance(
            col.dtype, pd.api.extensions.ExtensionDtype
        )
    if dtype == "bool":
        return pd.api.types.is_bool_dtype(col.dtype)
    if dtype == "category":
        return isinstance(col.dtype, pd.CategoricalDtype)
    return False


def align_categories(df: pd.DataFrame, categories: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """A copy of `df` whose categorical columns use the given category lists.

    Values outside a list become NaN (unknown). Use the lists saved at training time so
    codes agree between training and serving for models other than LightGBM.
    """
    out = df.copy()
    for name, cats in categories.items():
        if name in out.columns:
            values = out[name].astype("object").where(out[name].notna(), None)
            out[name] = pd.Categorical(values, categories=list(cats))
    return out
