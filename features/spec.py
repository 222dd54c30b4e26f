"""The feature set: every model input with its dtype, a description a collector can read
and the wording of the reasons about it.

Each feature is defined once, in `features.spec_invoice` or `features.spec_customer`
(a `features.feature.FeatureSpec`); this module puts them in model order and is where
everything else imports them from. Training logs `spec_as_records()` with each run and
stores it in the bundle; serving checks its frames with `check_feature_frame` and turns
LightGBM `pred_contrib` into the spec's sentences (`FeatureSpec.sentence`). Every
feature of a row with snapshot date S uses only events dated strictly before S.

NaN means "unknown", never zero: only the features marked `nullable` may be NaN
(LightGBM handles NaN natively; other models must impute). Flags are 0/1 integers.
Categorical columns are pandas `category`; LightGBM stores the training categories in
the model and re-aligns them at prediction, other consumers use `align_categories`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from features.feature import (
    DEFAULT_AFTER_DAYS,
    EWM_ALPHA,
    FEATURE_SET_VERSION,
    HISTORY_CAP_DAYS,
    NEW_CUSTOMER_DAYS,
    TREND_RECENT,
    FeatureSpec,
    FeatureSpecError,
)
from features.spec_customer import CUSTOMER_SPEC
from features.spec_invoice import INVOICE_SPEC

__all__ = [
    "CATEGORICAL_COLUMNS",
    "CUSTOMER_FEATURE_COLUMNS",
    "DEFAULT_AFTER_DAYS",
    "EWM_ALPHA",
    "FEATURE_COLUMNS",
    "FEATURE_SET_VERSION",
    "FEATURE_SPEC",
    "HISTORY_CAP_DAYS",
    "INVOICE_FEATURE_COLUMNS",
    "NEW_CUSTOMER_DAYS",
    "TREND_RECENT",
    "FeatureSpec",
    "FeatureSpecError",
    "align_categories",
    "check_feature_frame",
    "feature_by_name",
    "monotone_constraints",
    "spec_as_records",
]

# Model order: the invoice's features, then the customer's.
FEATURE_SPEC: tuple[FeatureSpec, ...] = (*INVOICE_SPEC, *CUSTOMER_SPEC)
# The fields of a spec that training logs and bundles store (the wording is code).
_RECORD_FIELDS = ("name", "dtype", "description", "nullable", "unit", "level")

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


def monotone_constraints(columns: Sequence[str], *, sign: int = 1) -> list[int]:
    """Each column's declared direction (`FeatureSpec.direction`) times `sign`, 0 if unknown.

    The vector of LightGBM's `monotone_constraints` for a model whose output rises with
    risk (`sign=1`: P(default), days late) or falls with it (`sign=-1`: a payment hazard).
    """
    directions = {f.name: f.direction for f in FEATURE_SPEC}
    return [directions.get(c, 0) * sign for c in columns]


def spec_as_records() -> list[dict]:
    """The spec as plain dicts (MLflow params / artifacts, the exported bundle)."""
    return [
        {**{k: getattr(f, k) for k in _RECORD_FIELDS}, "feature_set_version": FEATURE_SET_VERSION}
        for f in FEATURE_SPEC
    ]


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
